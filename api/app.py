"""Assembles the aiohttp application: guards, routes under `/` and `/api`, the editor, the worker's lifetime."""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import sys
import time
from pathlib import Path

from aiohttp import web

from api import (
    oplog,
    routes_docs,
    routes_estimate,
    routes_files,
    routes_frontend,
    routes_grid,
    routes_info,
    routes_jobs,
    routes_plugins,
    routes_schedule,
    routes_userdata,
    v2,
)
from api.config import ServerConfig
from api.engine import EngineAdapter, PromptRejected
from api.hub import Hub
from api.jsonbody import BadRequest, error_response, json_error
from api.security import Guards, Handler
from api.state import STATE, ServerState
from api.store import JobStore
from api.worker import Worker
from folders import Folders

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parent.parent
MISSING_EDITOR_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Latent Loom</title></head>
<body><h1>Latent Loom</h1><p>The editor has not been built. Run <code>make web</code> (or <code>make run</code>)
and reload. The API is up: try <a href="/api/system_stats">/api/system_stats</a>.</p></body></html>"""
#: Static files of the editor that may be served, by extension (anything else in web/dist is a 404).
STATIC_TYPES = {
    ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
    ".json": "application/json", ".map": "application/json", ".svg": "image/svg+xml", ".png": "image/png",
    ".jpg": "image/jpeg", ".webp": "image/webp", ".ico": "image/x-icon", ".woff2": "font/woff2",
    ".woff": "font/woff", ".ttf": "font/ttf", ".txt": "text/plain", ".webm": "video/webm",
    ".eot": "application/vnd.ms-fontobject", ".wasm": "application/wasm", ".mp3": "audio/mpeg",
}


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refusals become JSON errors; anything unexpected is a 500 without a traceback (logged instead)."""
    try:
        return await handler(request)
    except BadRequest as error:
        return error_response(error)
    except PromptRejected as rejected:
        return web.json_response(rejected.body, status=400)
    except web.HTTPException:
        raise
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return json_error(500, "internal_error", "internal server error; see the server log")


def _relative(path: Path, base: Path) -> str:
    """`path` as the operator knows it: relative to the base directory when inside it."""
    return str(path.relative_to(base)) if path.is_relative_to(base) else str(path)


def _add_routes(app: web.Application, table: web.RouteTableDef) -> None:
    for route in table:
        assert isinstance(route, web.RouteDef)
        for prefix in ("", "/api"):
            app.router.add_route(route.method, prefix + route.path, route.handler)


class EditorFiles:
    """Serves web/dist: index.html at `/`, other files by exact relative path, confined after resolving."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def index(self, request: web.Request) -> web.StreamResponse:
        index = self.root / "index.html"
        if not index.is_file():
            return web.Response(text=MISSING_EDITOR_PAGE, content_type="text/html",
                                headers={"Cache-Control": "no-cache"})
        return web.FileResponse(index, headers={"Content-Type": "text/html; charset=utf-8",
                                                "Cache-Control": "no-cache"})

    async def file(self, request: web.Request) -> web.StreamResponse:
        relative = request.match_info["path"]
        if not self.root.is_dir() or "\\" in relative or "\x00" in relative:
            raise web.HTTPNotFound()
        root = self.root.resolve()
        candidate = (root / relative).resolve()
        if not candidate.is_relative_to(root) or not candidate.is_file():
            raise web.HTTPNotFound()
        content_type = STATIC_TYPES.get(candidate.suffix.lower())
        if content_type is None:
            raise web.HTTPNotFound()
        hashed = "/assets/" in f"/{relative}"  # Vite's content-hashed bundles never change under one name
        cache = "public, max-age=31536000, immutable" if hashed else "no-cache"
        return web.FileResponse(candidate, headers={"Content-Type": content_type, "Cache-Control": cache})


def create_app(config: ServerConfig, folders: Folders, engine: EngineAdapter, store: JobStore) -> web.Application:
    """The application; the worker starts with it and stops (interrupting its job) on shutdown."""
    mimetypes.add_type("image/webp", ".webp")
    guards = Guards(config)
    app = web.Application(
        middlewares=[errors_middleware, *guards.middlewares()],
        client_max_size=config.max_upload_bytes + 1024 * 1024,
    )
    app.on_response_prepare.append(guards.on_response_prepare)
    hub = Hub(config.ws_buffer, store.remaining)
    state = ServerState(config=config, store=store, hub=hub, engine=engine, folders=folders, started_at=time.time())
    app[STATE] = state
    for table in (routes_jobs.routes, routes_files.routes, routes_info.routes, routes_docs.routes,
                  routes_estimate.routes, routes_schedule.routes, routes_grid.routes, routes_userdata.routes,
                  routes_frontend.routes, routes_plugins.routes):
        _add_routes(app, table)
    v2.install(app, state)
    app.router.add_get("/ws", hub.handle)
    app.router.add_get("/api/ws", hub.handle)
    routes_docs.add_docs_page(app)
    routes_frontend.add_root_pages(app)
    # ComfyUI packs' custom routes and websocket messages (server.PromptServer), only when a pack used them.
    prompt_server = sys.modules.get("comfy_compat.prompt_server")
    if prompt_server is not None:
        prompt_server.install(app, hub)
    editor = EditorFiles(config.front_end_root or config.web_root or REPO_ROOT / "web" / "dist")
    app.router.add_get("/", editor.index)
    app.router.add_get("/{path:.+}", editor.file)

    async def start_worker(app: web.Application) -> None:
        worker = Worker(
            store, engine, hub, asyncio.get_running_loop(),
            preview_method=config.preview_method, preview_size=config.preview_size,
            on_finished=state.job_finished,
            on_step_times=lambda job, times: routes_estimate.observe(state, job.prompt, times),
        )
        state.worker = worker
        worker.start()

    async def stop(app: web.Application) -> None:
        """Graceful stop (SIGINT/SIGTERM): interrupt the running step, keep the queue on disk, say so."""
        worker = state.worker
        running = worker.running_job_id() if worker is not None else None
        pending = store.pending_count()
        oplog.log.info(
            "stopping: %s; %d pending jobs stay queued in %s and run after the next start",
            f"interrupting job {running} after its current step" if running else "no job running",
            pending, _relative(store.path, folders.base_directory),
            extra={"event": "stopping", "prompt_id": running, "pending": pending},
        )
        stopped = True
        if worker is not None:
            stopped = await asyncio.to_thread(worker.stop)
        if not stopped:
            oplog.log.warning(
                "job %s did not stop within the shutdown timeout; the next start marks it interrupted", running,
                extra={"event": "stopping", "prompt_id": running, "interrupted": False},
            )
        await hub.close_all()
        store.close()

    app.on_startup.append(start_worker)
    app.on_shutdown.append(stop)
    return app
