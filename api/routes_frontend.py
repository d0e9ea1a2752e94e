"""The rest of what ComfyUI's frontend asks at start-up and while editing: i18n, model library, templates,
internal folder/file listings, safetensors metadata.

Found by running the real frontend (comfyui-frontend-package) in Chromium against this server and logging every
request (tests/browser/test_comfyui_frontend.py keeps that honest: it fails on any failed request).
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
from pathlib import Path
from typing import Any

from aiohttp import web

from api.jsonbody import BadRequest
from api.openapi import ERROR, describe, obj
from api.redact import redact
from api.state import state_of
from folders import FolderError

routes = web.RouteTableDef()
#: Model folders the model library does not show (ComfyUI hides the same two).
HIDDEN_MODEL_FOLDERS = frozenset({"configs", "custom_nodes"})
#: The safetensors header is read up to this size for /view_metadata (ComfyUI caps it at 1 MB too).
MAX_HEADER_BYTES = 1024 * 1024
IO_KINDS = ("input", "output", "temp")
TAGS = ["frontend"]


@routes.get("/i18n")
@describe("Translations contributed by custom nodes (none)", tags=TAGS, responses={200: obj("locale → strings")})
async def get_i18n(request: web.Request) -> web.Response:
    return web.json_response({})


@routes.get("/workflow_templates")
@describe("Example workflows of custom nodes, by module (none)", tags=TAGS,
          responses={200: obj("module → [workflow name]")})
async def get_workflow_templates(request: web.Request) -> web.Response:
    return web.json_response({})


@routes.get("/global_subgraphs")
@describe("Subgraph blueprints contributed by custom nodes (none)", tags=TAGS,
          responses={200: obj("id → {name, info, data}")})
async def get_global_subgraphs(request: web.Request) -> web.Response:
    return web.json_response({})


@routes.get("/global_subgraphs/{id}")
@describe("One subgraph blueprint (none exist)", tags=TAGS, responses={404: ERROR})
async def get_global_subgraph(request: web.Request) -> web.Response:
    raise BadRequest(404, "not_found", "no such subgraph blueprint")


@routes.get("/experiment/models")
@describe("Model folders for the model library", tags=TAGS,
          responses={200: obj("[{name, folders, extensions}]", {"type": "array"})})
async def get_model_folders(request: web.Request) -> web.Response:
    folders = state_of(request).folders
    rows = [{"name": kind, "folders": [redact(str(path)) for path in folders.folders_for(kind)], "extensions": []}
            for kind in sorted(folders.model_folders) if kind not in HIDDEN_MODEL_FOLDERS]
    return web.json_response(rows)


def _model_files(folders: Any, kind: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    listed = set(folders.list_model_files(kind))
    for index, folder in enumerate(folders.folders_for(kind)):
        for name in sorted(listed):
            path = Path(folder) / name
            if path.is_file():
                stat = path.stat()
                rows.append({"name": name, "pathIndex": index, "modified": stat.st_mtime,
                             "created": stat.st_ctime, "size": stat.st_size})
                listed.discard(name)
    return rows


@routes.get("/experiment/models/{folder}")
@describe("Model files of one folder, with sizes and dates", tags=TAGS,
          responses={200: obj("[{name, pathIndex, modified, created, size}]", {"type": "array"}), 404: ERROR})
async def get_model_files(request: web.Request) -> web.Response:
    folders = state_of(request).folders
    kind = request.match_info["folder"]
    if kind not in folders.model_folders:
        raise BadRequest(404, "not_found", f"unknown model folder {kind!r}")
    return web.json_response(await asyncio.to_thread(_model_files, folders, kind))


@routes.get("/experiment/models/preview/{folder}/{path_index}/{filename:.*}")
@describe("A model's preview image (none are kept: always 404)", tags=TAGS, responses={404: ERROR})
async def get_model_preview(request: web.Request) -> web.Response:
    raise BadRequest(404, "not_found", "no preview image for this model")


def _safetensors_metadata(path: Path) -> dict[str, Any] | None:
    with path.open("rb") as stream:
        head = stream.read(8)
        if len(head) != 8:
            return None
        (length,) = struct.unpack("<Q", head)
        if length > MAX_HEADER_BYTES:
            return None
        header = json.loads(stream.read(length))
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    return metadata if isinstance(metadata, dict) else None


@routes.get("/view_metadata/{folder}")
@describe("The __metadata__ of a .safetensors model", tags=TAGS, query={"filename": "the model file"},
          responses={200: obj("the metadata"), 404: ERROR})
async def view_metadata(request: web.Request) -> web.Response:
    folders = state_of(request).folders
    kind = request.match_info["folder"]
    filename = request.query.get("filename", "")
    if kind not in folders.model_folders or not filename.endswith(".safetensors"):
        raise BadRequest(404, "not_found", "no such model")
    try:
        path = folders.model_path(kind, filename)
    except FolderError:
        raise BadRequest(404, "not_found", "no such model") from None
    try:
        metadata = await asyncio.to_thread(_safetensors_metadata, path)
    except (OSError, ValueError):
        metadata = None
    if metadata is None:
        raise BadRequest(404, "not_found", "the file has no metadata")
    return web.json_response(metadata)


@routes.get("/internal/folder_paths")
@describe("Model folders by kind (relative to the base directory)", tags=TAGS,
          responses={200: obj("kind → [folder]")})
async def internal_folder_paths(request: web.Request) -> web.Response:
    folders = state_of(request).folders
    return web.json_response({kind: [redact(str(path)) for path in folders.folders_for(kind)]
                              for kind in sorted(folders.model_folders)})


def _newest_first(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    entries = [entry for entry in os.scandir(folder) if entry.is_file() and not entry.name.startswith(".")]
    entries.sort(key=lambda entry: entry.stat().st_mtime, reverse=True)
    return [entry.name for entry in entries]


@routes.get("/internal/files/{directory_type}")
@describe("File names in input/, output/ or temp/, newest first", tags=TAGS,
          responses={200: obj("[name]", {"type": "array"}), 400: ERROR})
async def internal_files(request: web.Request) -> web.Response:
    kind = request.match_info["directory_type"]
    if kind not in IO_KINDS:
        raise BadRequest(400, "invalid_path", f"directory type must be one of {', '.join(IO_KINDS)}")
    folder = state_of(request).folders.io_directory(kind)
    return web.json_response(await asyncio.to_thread(_newest_first, folder))


@routes.get("/internal/logs")
@describe("Server log (not exposed: the log may name server paths)", tags=TAGS, responses={200: obj("text")})
async def internal_logs(request: web.Request) -> web.Response:
    return web.json_response("The server log is kept on the server (it may name server paths).")


@routes.get("/internal/logs/raw")
@describe("Server log entries (not exposed)", tags=TAGS, responses={200: obj("{entries, size}")})
async def internal_logs_raw(request: web.Request) -> web.Response:
    return web.json_response({"entries": [], "size": {"cols": 80, "rows": 24}})


@routes.patch("/internal/logs/subscribe")
@describe("Subscribe to log messages on the websocket (accepted; none are sent)", tags=TAGS,
          responses={200: obj("ok")})
async def internal_logs_subscribe(request: web.Request) -> web.Response:
    return web.Response(status=200)


@describe("The user's style sheet for the ComfyUI frontend (empty: Latent Loom keeps none at the root)",
          tags=TAGS, responses={200: {"description": "text/css"}})
async def root_user_css(request: web.Request) -> web.Response:
    return web.Response(text="", content_type="text/css")


def _templates_folder() -> Path | None:
    """The template index of an installed workflow-templates package (comfyui-workflow-templates-json), if any."""
    try:
        import comfyui_workflow_templates_json as package  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    folder = Path(package.__file__).resolve().parent / "templates"
    # The JSON-only package has no thumbnails: serving its index would make the template browser show a broken
    # image for every template, so it is used only when thumbnails are there too.
    has_thumbnails = next(folder.glob("*.webp"), None) is not None
    return folder if (folder / "index.json").is_file() and has_thumbnails else None


@describe("ComfyUI's workflow templates: index.json and the template files (an empty index when the templates "
          "package is not installed)", tags=TAGS, responses={200: obj("the file"), 404: ERROR})
async def root_templates(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    folder = _templates_folder()
    if folder is not None and "/" not in name and "\\" not in name and not name.startswith("."):
        path = folder / name
        if path.is_file() and path.suffix in (".json", ".webp"):
            content_type = "application/json" if path.suffix == ".json" else "image/webp"
            return web.FileResponse(path, headers={"Content-Type": content_type})
    if name == "index.json":
        return web.json_response([])
    if name == "index_logo.json":
        return web.json_response({})
    raise BadRequest(404, "not_found", "no such template")


def add_root_pages(app: web.Application) -> None:
    """Root-only files the ComfyUI frontend asks for (added before the static catch-all)."""
    app.router.add_get("/user.css", root_user_css)
    app.router.add_get("/templates/{name}", root_templates)
