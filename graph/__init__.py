"""The engine: node API, workflow formats, validation, planning, cached execution. No torch, no aiohttp.

Node API: `spec` (@node, NodeSpec, Outputs, Effects), `widgets` (Range, Text, Choices, Seed, ...), `sockets` (the
socket-type vocabulary), `registry` (NodeRegistry, its rules, guarded module and plugin loading), `schema`
(/object_info and our rich schema), `runtime` (report_progress, check_interrupt).

Engine: `workflow` (Workflow, WorkflowNode, Link, WorkflowFormatError) ← `formats` (load_workflow, detect_format,
to_api_prompt, to_native, parse_json), which reads ComfyUI UI files through `comfy_ui` and `subgraphs`, and
`comfy_export` (to_comfy_ui); `modes` (muted/bypassed nodes); `validate` (validate, analyse, check_value) over
`checks` (per-node rules) and `issues` (ValidationIssue, Limits), rendered by `comfy_errors`
(comfy_error_response); `cache` (cache keys, OutputCache) over `memory` (the memory governor: one budget per
device) and `fingerprint` (file_fingerprint); `events`; `executor` (Executor.run, InterruptFlag, HiddenValues,
JobResult). docs/architecture.md has the import graph and the life of a job.
"""
