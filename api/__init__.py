"""HTTP + websocket API: aiohttp routes, websocket hub, persistent job queue and history.

Every route is served under `/` and under `/api` (as ComfyUI does), so ComfyUI clients work unchanged:

    POST /prompt            queue a workflow (API prompt, UI workflow or ours); `front`, `number`, `prompt_id`,
                            `client_id`, `extra_data`, `partial_execution_targets`; 400 in ComfyUI's shape.
                            `?wait=true[&timeout=S]` answers when the job ends (200) or on timeout (202)
    GET  /prompt            {"exec_info": {"queue_remaining": N}}
    GET  /queue             {"queue_running": [...], "queue_pending": [...]};  POST {"clear"} / {"delete": [ids]}
    GET  /history[/{id}]    paging with max_items / offset;  POST {"clear"} / {"delete": [ids]}
    POST /interrupt         global, or {"prompt_id"} for that job only;  POST /free {"unload_models","free_memory"}
    GET  /view              filename, type (input|output|temp), subfolder, preview=webp;Q, channel=rgb|a
    POST /upload/image, /upload/mask   multipart `image`, `type`, `subfolder`, `overwrite`, `original_ref`
    GET  /object_info[/{class}], /models[/{folder}], /embeddings, /features, /system_stats, /extensions
    GET  /ws?clientId=      ComfyUI's messages and binary preview frames; `&resume=` takes over a live id
    GET  /api/jobs[/{id}]   status pending | running | succeeded | failed | interrupted (404 if unknown);
    POST /api/jobs/{id}/cancel         pending → interrupted, running → interrupt (202), ended → 409
    POST /api/workflow/convert         any accepted workflow format → {"prompt", "workflow"}
    GET  /api/workflows[/{name}]       the example workflows shipped in workflows/
    GET  /api/estimate/calibration     this machine's measured diffusion speed (ours; measured once, kept in user/)
    POST /api/estimate      {"prompt"} → seconds of sampling expected here, per sampler node, with assumptions
    GET/POST /users, /settings[/{id}]; GET /userdata, /v2/userdata; GET/POST/DELETE /userdata/{file};
    POST /userdata/{file}/move/{dest}  ComfyUI's per-user data (routes_userdata: confined to user/default/)
    GET  /i18n, /workflow_templates, /global_subgraphs, /experiment/models[/{folder}], /view_metadata/{folder},
         /internal/folder_paths, /internal/files/{type}, /user.css, /templates/{name}   (routes_frontend: what
         ComfyUI's frontend asks for; `server.py --front-end-root DIR` serves that frontend instead of ours)
    GET  /api/openapi.json  the OpenAPI 3 document of every route (built from the router; `api/openapi.py`)
    GET  /docs              that document rendered offline (api/static/docs.html)
    GET  /                  the editor (web/dist)

Modules: `config` (flags), `security` (guards), `jsonbody` (strict bodies), `store` (SQLite), `hub`
(websocket), `worker` (the job thread), `messages` (engine events → websocket messages), `engine` (the one
adapter to graph/), `routes_*` (handlers), `openapi` + `openapi_comfy` (route
descriptions: new routes carry `@describe(...)`), `app` (assembly). `server.py` is the entry point.
"""
