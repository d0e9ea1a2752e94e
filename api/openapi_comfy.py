"""OpenAPI fragments of the ComfyUI-compatible routes (their handlers live in routes_jobs/files/info and hub).

Registered by `/api` path; `api/openapi.py` explains the mechanism. New routes should rather carry
`@describe(...)` next to their handler.
"""

from __future__ import annotations

from api.openapi import ERROR, OK_EMPTY, binary, fragment, obj, register

JOBS, FILES, INFO, OURS = ["jobs"], ["files"], ["info"], ["latent-loom"]
PROMPT_BODY = {
    "type": "object",
    "required": ["prompt"],
    "properties": {
        "prompt": {"type": "object", "description": "API prompt (node id → {class_type, inputs}); a UI "
                   "workflow or a Latent Loom workflow is accepted too"},
        "client_id": {"type": "string", "description": "websocket clientId that receives this job's messages"},
        "prompt_id": {"type": "string"},
        "number": {"type": "number", "description": "explicit priority; smaller runs first"},
        "front": {"type": "boolean", "description": "queue at the front"},
        "extra_data": {"type": "object", "description": "e.g. {extra_pnginfo: {workflow}} embedded in PNGs"},
        "partial_execution_targets": {"type": "array", "items": {"type": "string"}},
    },
}
SUBMITTED = {"type": "object", "properties": {
    "prompt_id": {"type": "string"}, "number": {"type": "number"}, "node_errors": {"type": "object"}}}
CLEAR_DELETE = {"type": "object", "properties": {
    "clear": {"type": "boolean"}, "delete": {"type": "array", "items": {"type": "string"}}}}
JOB_RECORD = {"type": "object", "properties": {
    "id": {"type": "string"},
    "status": {"enum": ["pending", "running", "succeeded", "failed", "interrupted"]},
    "number": {"type": "number"}, "client_id": {"type": ["string", "null"]},
    "created": {"type": "number"}, "started": {"type": ["number", "null"]},
    "finished": {"type": ["number", "null"]}, "queue_position": {"type": "integer"},
    "outputs": {"type": "object"}, "error": {"type": "object"}}}
UPLOAD_FIELDS = {
    "image": "the image file",
    "type": "input (default), temp or output",
    "subfolder": "a relative folder inside it",
    "overwrite": "'true' or '1' to replace an existing file",
}
UPLOADED = obj("where it was stored", {"type": "object", "properties": {
    "name": {"type": "string"}, "subfolder": {"type": "string"}, "type": {"type": "string"}}})


def _register() -> None:
    register("POST", "/api/prompt", fragment(
        "Queue a workflow", tags=JOBS, body=PROMPT_BODY,
        description="Validates the whole workflow first: nothing runs unless every node validates. "
        "Refusals use ComfyUI's `node_errors` shape, each error naming the node and the input.",
        query={"wait": "true: answer when the job ends (Latent Loom addition)",
               "timeout": "seconds to wait with wait=true (default 300); 202 on timeout"},
        responses={200: obj("queued (or, with wait=true, ended)", SUBMITTED), 202: obj("wait timed out"),
                   400: ERROR, 409: ERROR, 413: ERROR}))
    register("GET", "/api/prompt", fragment(
        "Queue length", tags=JOBS, responses={200: obj("{exec_info: {queue_remaining}}")}))
    register("GET", "/api/queue", fragment(
        "Running and pending jobs", tags=JOBS,
        description="Items are `[number, prompt_id, prompt, extra_data, outputs_to_execute]`.",
        responses={200: obj("{queue_running, queue_pending}")}))
    register("POST", "/api/queue", fragment(
        "Clear the queue or delete pending jobs", tags=JOBS, body=CLEAR_DELETE,
        responses={200: OK_EMPTY, 400: ERROR}))
    register("GET", "/api/history", fragment(
        "Finished jobs, oldest first", tags=JOBS,
        query={"max_items": "only the last N", "offset": "skip this many"},
        responses={200: obj("prompt_id → {prompt, outputs, status, meta}")}))
    register("GET", "/api/history/{prompt_id}", fragment(
        "One finished job", tags=JOBS, responses={200: obj("{prompt_id: entry}, or {} while unfinished")}))
    register("POST", "/api/history", fragment(
        "Clear the history or delete entries", tags=JOBS, body=CLEAR_DELETE,
        responses={200: OK_EMPTY, 400: ERROR}))
    register("POST", "/api/interrupt", fragment(
        "Interrupt the running job", tags=JOBS,
        body={"type": "object", "properties": {"prompt_id": {"type": "string"}}},
        body_description="optional: only interrupt if this job is the one running",
        responses={200: OK_EMPTY, 400: ERROR}))
    register("POST", "/api/free", fragment(
        "Unload models / free memory after the current job", tags=JOBS,
        body={"type": "object", "properties": {"unload_models": {"type": "boolean"},
                                               "free_memory": {"type": "boolean"}}},
        responses={200: OK_EMPTY, 400: ERROR}))
    register("GET", "/api/jobs", fragment(
        "Recent jobs with their status", tags=OURS, query={"limit": "at most this many (default 100)"},
        responses={200: obj("{jobs: [job]}", {"type": "object", "properties": {
            "jobs": {"type": "array", "items": JOB_RECORD}}})}))
    register("GET", "/api/jobs/{job_id}", fragment(
        "One job's status", tags=OURS, responses={200: obj("the job", JOB_RECORD), 404: ERROR}))
    register("POST", "/api/jobs/{job_id}/cancel", fragment(
        "Cancel a job", tags=OURS,
        description="A pending job is removed (recorded as interrupted); a running one is interrupted.",
        responses={200: obj("cancelled"), 202: obj("interrupting"), 404: ERROR, 409: ERROR}))
    register("GET", "/api/ws", fragment(
        "Websocket: job messages and (opt-in) previews", tags=JOBS,
        description="Upgrade to a websocket. JSON messages `{type, data}`: status, execution_start, "
        "execution_cached, executing, progress, executed, execution_success, execution_error, "
        "execution_interrupted, feature_flags. Binary preview frames are sent only when the server runs with "
        "`--preview-method` other than none, or when the client sends "
        '`{"type": "feature_flags", "data": {"latent_loom_previews": true}}` after connecting.',
        query={"clientId": "the id to route this client's jobs to", "resume": "resume token of a live id"},
        responses={101: {"description": "switching protocols"}, 400: {"description": "bad clientId"},
                   409: {"description": "clientId in use"}}))
    register("GET", "/api/view", fragment(
        "Download an input, output or temp file", tags=FILES,
        query={"filename": "file name", "type": "output (default), input or temp",
               "subfolder": "relative folder", "preview": "e.g. webp;90 or jpeg;80", "channel": "rgba, rgb or a"},
        responses={200: binary("the file"), 400: ERROR, 403: ERROR, 404: ERROR}))
    register("POST", "/api/upload/image", fragment(
        "Upload an image", tags=FILES, multipart=UPLOAD_FIELDS,
        responses={200: UPLOADED, 400: ERROR, 413: ERROR}))
    register("POST", "/api/upload/mask", fragment(
        "Upload a mask onto an image", tags=FILES,
        multipart={**UPLOAD_FIELDS, "original_ref": "JSON {filename, subfolder, type} of the image"},
        responses={200: UPLOADED, 400: ERROR, 413: ERROR}))
    register("GET", "/api/models", fragment(
        "Model folder names", tags=FILES, responses={200: obj("[folder]", {"type": "array"})}))
    register("GET", "/api/models/{folder}", fragment(
        "Model files in a folder", tags=FILES,
        responses={200: obj("[relative file name]", {"type": "array"}), 404: ERROR}))
    register("GET", "/api/embeddings", fragment(
        "Textual-inversion embedding names", tags=FILES, responses={200: obj("[name]", {"type": "array"})}))
    register("GET", "/api/object_info", fragment(
        "Every node's schema (ComfyUI's shape)", tags=INFO, responses={200: obj("class → schema")}))
    register("GET", "/api/object_info/{node_class}", fragment(
        "One node's schema", tags=INFO, responses={200: obj("{class: schema}, or {} if unknown")}))
    register("GET", "/api/features", fragment(
        "Server feature flags", tags=INFO, responses={200: obj("{supports_preview_metadata, max_upload_size}")}))
    register("GET", "/api/extensions", fragment(
        "Frontend extension scripts of the plugins' WEB_DIRECTORY", tags=INFO,
        responses={200: obj("[url]", {"type": "array"})}))
    register("GET", "/api/extensions/{plugin}/{path}", fragment(
        "One file of a plugin's WEB_DIRECTORY", tags=INFO, responses={200: binary("the file"), 404: ERROR}))
    register("GET", "/api/loom/plugins", fragment(
        "Plugins (custom_nodes/) that loaded and those that failed, with the error", tags=OURS,
        responses={200: obj("{loaded: [name], failed: [{plugin, error}]}")}))
    register("GET", "/api/system_stats", fragment(
        "System, versions and devices", tags=INFO, responses={200: obj("{system, devices}")}))
    register("GET", "/api/workflows", fragment(
        "Shipped example workflows", tags=OURS, responses={200: obj("{workflows: [name]}")}))
    register("GET", "/api/workflows/{name}", fragment(
        "One shipped workflow", tags=OURS, responses={200: obj("the workflow"), 404: ERROR}))
    register("POST", "/api/workflow/convert", fragment(
        "Convert a workflow (UI, API or ours) to an API prompt", tags=OURS,
        body={"type": "object"}, body_description="the workflow",
        responses={200: obj("{prompt, workflow}"), 400: ERROR}))
    register("GET", "/", fragment("The editor (or the ComfyUI frontend with --front-end-root)", tags=INFO,
                                  responses={200: binary("index.html", "text/html")}))


_register()
