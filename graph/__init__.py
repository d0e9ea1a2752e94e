"""The engine: node API, workflow formats, validation, planning, cached execution. No torch, no aiohttp.

Node API: `spec` (@node, NodeSpec, Outputs, Effects), `widgets` (Range, Text, Choices, Seed, ...), `sockets`,
`registry` (REGISTRY, checks, guarded module loading), `schema` (/object_info and our rich schema), `runtime`
(report_progress, check_interrupt).

Engine: `workflow` (Workflow, WorkflowNode, Link) ← `formats` (load_workflow, detect_format, to_api_prompt,
to_native, parse_json) and `comfy_export` (to_comfy_ui); `modes` (muted/bypassed nodes); `validate` (validate,
comfy_error_response, Limits); `cache` (cache keys, OutputCache, file_fingerprint); `events`; `executor`
(Executor.run, InterruptFlag, HiddenValues, JobResult).
"""
