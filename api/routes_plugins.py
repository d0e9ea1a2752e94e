"""Plugins (custom_nodes/): which loaded, which failed and why, and their editor extensions under /extensions/.

ComfyUI's frontend asks `GET /extensions` for the script URLs of every pack's `WEB_DIRECTORY` and loads them from
`/extensions/<pack>/<file>`. Failures are listed without server paths (api/redact.py).
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from aiohttp import web

from api.redact import redact
from api.state import state_of

routes = web.RouteTableDef()


@routes.get("/extensions")
async def get_extensions(request: web.Request) -> web.Response:
    """The URLs of every .js file in the plugins' extension folders (ComfyUI's list)."""
    urls = []
    for name, folder in sorted(state_of(request).engine.registry.web_directories.items()):
        for script in sorted(folder.rglob("*.js")):
            relative = script.relative_to(folder).as_posix()
            urls.append(f"/extensions/{urllib.parse.quote(name)}/{urllib.parse.quote(relative)}")
    return web.json_response(urls)


@routes.get("/extensions/{plugin}/{path:.+}")
async def get_extension_file(request: web.Request) -> web.StreamResponse:
    """One file of a plugin's extension folder, confined to it after resolving links and `..`."""
    folder = state_of(request).engine.registry.web_directories.get(request.match_info["plugin"])
    if folder is None:
        raise web.HTTPNotFound(text="no such extension")
    target = (folder / request.match_info["path"]).resolve()
    if not target.is_relative_to(folder) or not target.is_file():
        raise web.HTTPNotFound(text="no such extension file")
    return web.FileResponse(target, headers={"Cache-Control": "no-cache"})


@routes.get("/loom/plugins")
async def get_plugins(request: web.Request) -> web.Response:
    """Which plugins loaded and which did not, with the error (shown in the start-up log too)."""
    registry = state_of(request).engine.registry
    failed = [
        {"plugin": Path(error.module).name if "/" in error.module else error.module, "error": redact(error.message)}
        for error in registry.load_errors
    ]
    return web.json_response({"loaded": list(registry.plugins), "failed": failed})
