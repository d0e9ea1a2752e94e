"""Read-only information routes: node schemas, system stats, features, shipped workflows, conversion."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import platform
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from api.engine import PromptRejected
from api.jsonbody import BadRequest, json_error, read_json
from api.state import state_of
from graph.schema import object_info

routes = web.RouteTableDef()
VERSION = "0.1.0"
WORKFLOWS_DIR = Path(__file__).resolve().parent.parent / "workflows"


@routes.get("/object_info")
async def get_object_info(request: web.Request) -> web.Response:
    registry = state_of(request).engine.registry
    info = await asyncio.to_thread(lambda: {spec.node_id: object_info(spec) for spec in registry})
    return web.json_response(info)


@routes.get("/object_info/{node_class}")
async def get_object_info_one(request: web.Request) -> web.Response:
    spec = state_of(request).engine.registry.get(request.match_info["node_class"])
    return web.json_response({} if spec is None else {spec.node_id: object_info(spec)})


@routes.get("/features")
async def get_features(request: web.Request) -> web.Response:
    config = state_of(request).config
    return web.json_response({"supports_preview_metadata": False, "max_upload_size": config.max_upload_bytes})


def _memory() -> tuple[int, int]:
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        return page * os.sysconf("SC_PHYS_PAGES"), page * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0, 0


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _devices(cpu_only: bool) -> list[dict[str, Any]]:
    torch = sys.modules.get("torch")  # reported only if already loaded: never import torch for a stats call
    if torch is not None and not cpu_only and torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info(0)
        name = torch.cuda.get_device_name(0)
        return [{"name": f"cuda:0 {name}", "type": "cuda", "index": 0, "vram_total": total, "vram_free": free,
                 "torch_vram_total": int(torch.cuda.memory_reserved(0)),
                 "torch_vram_free": int(torch.cuda.memory_reserved(0) - torch.cuda.memory_allocated(0))}]
    total, free = _memory()
    return [{"name": "cpu", "type": "cpu", "index": None, "vram_total": total, "vram_free": free,
             "torch_vram_total": total, "torch_vram_free": free}]


@routes.get("/system_stats")
async def get_system_stats(request: web.Request) -> web.Response:
    """ComfyUI's shape, minus what leaks: `argv` is always empty; no environment, paths or tokens."""
    state = state_of(request)
    total, free = _memory()
    system = {
        "os": os.name,
        "ram_total": total,
        "ram_free": free,
        "comfyui_version": VERSION,
        "latent_loom_version": VERSION,
        "python_version": platform.python_version(),
        "pytorch_version": _package_version("torch"),
        "embedded_python": False,
        # Never the real command line (it may hold paths and the token). ComfyUI's frontend reads one flag
        # from it: `--disable-api-nodes` stops it calling comfy.org (release checks, paid cloud nodes), which
        # is true of this server: it has no cloud nodes and makes no outside requests.
        "argv": ["--disable-api-nodes"],
    }
    return web.json_response({"system": system, "devices": _devices(state.config.cpu)})


# -- editor additions: shipped workflows and conversion -----------------------------------------------------


def _workflow_names() -> list[str]:
    if not WORKFLOWS_DIR.is_dir():
        return []
    return sorted(entry.name for entry in WORKFLOWS_DIR.iterdir() if entry.suffix == ".json" and entry.is_file())


@routes.get("/workflows")
async def list_workflows(request: web.Request) -> web.Response:
    return web.json_response({"workflows": _workflow_names()})


@routes.get("/workflows/{name}")
async def read_workflow(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in _workflow_names():  # only names from the listing: no path ever comes from the request
        return json_error(404, "not_found", f"no workflow {name!r}")
    return web.Response(body=(WORKFLOWS_DIR / name).read_bytes(), content_type="application/json")


@routes.post("/workflow/convert")
async def convert_workflow(request: web.Request) -> web.Response:
    """Any accepted workflow format (UI, API, ours) → `{"prompt": API prompt, "workflow": our format}`."""
    state = state_of(request)
    data = await read_json(request, state.config.max_json_bytes)
    if not isinstance(data, dict):
        raise BadRequest(400, "invalid_body", "the body must be a workflow (a JSON object)")
    try:
        converted = await asyncio.to_thread(state.engine.convert, data)
    except PromptRejected as rejected:
        return web.json_response(rejected.body, status=400)
    return web.json_response(converted)
