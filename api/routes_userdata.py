"""Per-user data for ComfyUI's frontend: /users, /settings, /userdata (workflows, templates, user.css).

One user, `default` (ComfyUI without --multi-user); its folder is `USER_DIRECTORY/default`. Every file name comes
from the URL (URL-encoded, e.g. `workflows%2Fa.json`) and is confined to that folder: no `..`, no absolute path,
no NUL or backslash, and no symlink leading out (checked after resolving). Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from api.jsonbody import BadRequest, read_json, read_json_object
from api.openapi import ERROR, OK_EMPTY, binary, describe, obj
from api.state import state_of

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
DEFAULT_USER = "default"
SETTINGS_FILE = "comfy.settings.json"
#: A user file above this size is refused on write (workflows are JSON; this is generous).
MAX_USERDATA_BYTES = 64 * 1024 * 1024
TAGS = ["userdata"]
#: Files ComfyUI's frontend reads at every start-up; when the user has none, they are empty (not a 404).
ABSENT_DEFAULTS = {"user.css": ("", "text/css"), "comfy.templates.json": ("[]", "application/json")}
FILE_QUERY = {"overwrite": "'false' refuses to replace an existing file (409)",
              "full_info": "'true' answers {path, size, modified, created} instead of the path"}


class UserPathError(Exception):
    """A user-data name that would leave the user's folder (a 400, or 403 for a symlink)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def user_root(request: web.Request) -> Path:
    """The default user's folder (not created here)."""
    return state_of(request).folders.user_directory / DEFAULT_USER


def confined(root: Path, name: str) -> Path:
    """`root / name` for a relative `name` that stays inside `root` (raises UserPathError otherwise)."""
    if "%" in name:
        name = unquote(name)  # the frontend encodes '/' as %2F; aiohttp may leave it encoded
    if not name or "\x00" in name or "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UserPathError(400, f"invalid user file name {name!r}: a relative path inside the user folder")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UserPathError(400, f"invalid user file name {name!r}: no empty, '.' or '..' segments")
    real_root = root.resolve()
    candidate = (real_root / Path(*parts)).resolve()
    if not candidate.is_relative_to(real_root) or candidate == real_root:
        raise UserPathError(403, f"user file {name!r} leads out of the user folder")
    return candidate


def _path_from(request: web.Request, key: str) -> Path:
    try:
        return confined(user_root(request), request.match_info[key])
    except UserPathError as error:
        raise BadRequest(error.status, "invalid_path", str(error)) from None


def file_info(path: Path, root: Path) -> dict[str, Any]:
    """ComfyUI's FileInfo: path relative to the user folder, size, modified/created in ms."""
    stat = path.stat()
    return {"path": path.relative_to(root.resolve()).as_posix(), "size": stat.st_size,
            "modified": int(stat.st_mtime * 1000), "created": int(stat.st_ctime * 1000)}


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# -- users and settings --------------------------------------------------------------------------------------


@routes.get("/users")
@describe("Users (single-user: storage on the server)", tags=TAGS,
          responses={200: obj("{storage: 'server', migrated: bool}")})
async def get_users(request: web.Request) -> web.Response:
    return web.json_response({"storage": "server", "migrated": user_root(request).is_dir()})


@routes.post("/users")
@describe("Create a user (refused: one user)", tags=TAGS, responses={400: obj("{error}")})
async def post_users(request: web.Request) -> web.Response:
    return web.json_response({"error": "this server has one user (ComfyUI's --multi-user is not supported)"},
                             status=400)


def _settings_path(request: web.Request) -> Path:
    return user_root(request) / SETTINGS_FILE


def read_settings(path: Path) -> dict[str, Any]:
    """The settings file, or {} when absent or unreadable (a corrupt file is logged, not served)."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        log.error("the user settings file %s is unreadable (%s); serving defaults", path, error)
        return {}
    return data if isinstance(data, dict) else {}


def _save_settings(path: Path, settings: dict[str, Any]) -> None:
    _write_atomic(path, json.dumps(settings, indent=4).encode("utf-8"))


@routes.get("/settings")
@describe("All settings of the user", tags=TAGS, responses={200: obj("setting id → value")})
async def get_settings(request: web.Request) -> web.Response:
    return web.json_response(await asyncio.to_thread(read_settings, _settings_path(request)))


@routes.get("/settings/{id}")
@describe("One setting (null when unset)", tags=TAGS, responses={200: obj("the value")})
async def get_setting(request: web.Request) -> web.Response:
    settings = await asyncio.to_thread(read_settings, _settings_path(request))
    return web.json_response(settings.get(request.match_info["id"]))


@routes.post("/settings")
@describe("Merge settings into the user's", tags=TAGS, body={"type": "object"},
          responses={200: OK_EMPTY, 400: ERROR})
async def post_settings(request: web.Request) -> web.Response:
    state = state_of(request)
    update = await read_json_object(request, state.config.max_json_bytes, allow_empty=False)
    path = _settings_path(request)

    def merge() -> None:
        _save_settings(path, {**read_settings(path), **update})

    await asyncio.to_thread(merge)
    return web.json_response(None)


@routes.post("/settings/{id}")
@describe("Set one setting", tags=TAGS, body={}, body_description="any JSON value",
          responses={200: OK_EMPTY, 400: ERROR})
async def post_setting(request: web.Request) -> web.Response:
    state = state_of(request)
    value = await read_json(request, state.config.max_json_bytes)
    path = _settings_path(request)
    key = request.match_info["id"]

    def store() -> None:
        _save_settings(path, {**read_settings(path), key: value})

    await asyncio.to_thread(store)
    return web.json_response(None)


# -- user files ----------------------------------------------------------------------------------------------


def _listing(root: Path, directory: Path, recurse: bool, full_info: bool, split: bool) -> list[Any]:
    real_root = root.resolve()
    found = directory.rglob("*") if recurse else directory.glob("*")
    rows: list[Any] = []
    for path in sorted(found):
        real = path.resolve()
        if not path.is_file() or not real.is_relative_to(real_root) or path.name.startswith(".upload-"):
            continue
        relative = path.relative_to(directory).as_posix()
        if full_info:
            rows.append({**file_info(path, directory), "path": relative})
        elif split:
            rows.append([relative, *relative.split("/")])
        else:
            rows.append(relative)
    return rows


@routes.get("/userdata")
@describe("List files in a folder of the user's data", tags=TAGS,
          query={"dir": "the folder (e.g. workflows)", "recurse": "'true' lists subfolders too",
                 "full_info": "'true': {path, size, modified, created}", "split": "'true': [path, *parts]"},
          responses={200: obj("the files", {"type": "array"}), 400: ERROR, 403: ERROR, 404: ERROR})
async def list_userdata(request: web.Request) -> web.Response:
    query = request.query
    directory = query.get("dir", "")
    if not directory:
        raise BadRequest(400, "invalid_query", "'dir' is required")
    root = user_root(request)
    try:
        folder = confined(root, directory.strip("/"))
    except UserPathError as error:
        raise BadRequest(error.status, "invalid_path", str(error)) from None
    if not folder.is_dir():
        return web.json_response([])  # ComfyUI answers 404; an absent folder is simply empty
    rows = await asyncio.to_thread(_listing, root, folder, query.get("recurse", "").lower() == "true",
                                   query.get("full_info", "").lower() == "true",
                                   query.get("split", "").lower() == "true")
    return web.json_response(rows)


def _listing_v2(root: Path, folder: Path) -> list[dict[str, Any]]:
    real_root = root.resolve()
    rows: list[dict[str, Any]] = []
    for path in folder.rglob("*"):
        real = path.resolve()
        if not real.is_relative_to(real_root) or path.name.startswith(".upload-"):
            continue
        relative = path.relative_to(root).as_posix()
        if path.is_dir():
            rows.append({"name": path.name, "path": relative, "type": "directory"})
        elif path.is_file():
            stat = path.stat()
            rows.append({"name": path.name, "path": relative, "type": "file", "size": stat.st_size,
                         "modified": stat.st_mtime})
    rows.sort(key=lambda row: (row["type"] != "directory", row["name"].lower()))
    return rows


@routes.get("/v2/userdata")
@describe("List files and folders of the user's data (recursive)", tags=TAGS,
          query={"path": "a folder inside the user data (default: all)"},
          responses={200: obj("[{name, path, type, size?, modified?}]", {"type": "array"}), 400: ERROR,
                     404: ERROR})
async def list_userdata_v2(request: web.Request) -> web.Response:
    root = user_root(request)
    requested = request.query.get("path", "").strip("/")
    if not requested:
        if not root.is_dir():
            return web.json_response([])
        folder = root
    else:
        try:
            folder = confined(root, requested)
        except UserPathError as error:
            raise BadRequest(400, "invalid_path", str(error)) from None
        if not folder.exists():
            raise BadRequest(404, "not_found", f"no {requested!r} in the user data")
        if not folder.is_dir():
            raise BadRequest(400, "invalid_path", f"{requested!r} is not a folder")
    return web.json_response(await asyncio.to_thread(_listing_v2, root, folder))


@routes.get("/userdata/{file}")
@describe("Read a user file", tags=TAGS,
          responses={200: binary("the file (user.css inline; anything else as an attachment)"), 400: ERROR,
                     403: ERROR, 404: ERROR})
async def get_userdata(request: web.Request) -> web.StreamResponse:
    path = _path_from(request, "file")
    is_user_css = path == user_root(request).resolve() / "user.css"
    if not path.is_file():
        relative = path.relative_to(user_root(request).resolve()).as_posix()
        if relative in ABSENT_DEFAULTS:  # asked for at every start-up: absent means empty, not an error
            text, content_type = ABSENT_DEFAULTS[relative]
            return web.Response(text=text, content_type=content_type)
        raise BadRequest(404, "not_found", "no such user file")
    if is_user_css:
        return web.FileResponse(path, headers={"Content-Type": "text/css", "X-Content-Type-Options": "nosniff"})
    # User files are user-supplied content: never rendered in this origin (a stored-XSS guard).
    content_type = "application/json" if path.suffix.lower() == ".json" else "application/octet-stream"
    return web.FileResponse(path, headers={"Content-Type": content_type, "X-Content-Type-Options": "nosniff",
                                           "Content-Disposition": "attachment"})


@routes.post("/userdata/{file}")
@describe("Write a user file (the raw body)", tags=TAGS, query=FILE_QUERY,
          responses={200: obj("the path, or its file info"), 400: ERROR, 403: ERROR, 409: ERROR, 413: ERROR})
async def post_userdata(request: web.Request) -> web.Response:
    path = _path_from(request, "file")
    overwrite = request.query.get("overwrite", "true") != "false"
    full_info = request.query.get("full_info", "false").lower() == "true"
    if not overwrite and path.exists():
        raise BadRequest(409, "conflict", "the file already exists")
    if path.is_dir():
        raise BadRequest(400, "invalid_path", "that name is a folder")
    body = await request.content.read(MAX_USERDATA_BYTES + 1)
    if len(body) > MAX_USERDATA_BYTES:
        raise BadRequest(413, "too_large", f"a user file may be at most {MAX_USERDATA_BYTES} bytes")
    await asyncio.to_thread(_write_atomic, path, body)
    root = user_root(request)
    return web.json_response(file_info(path, root) if full_info else path.relative_to(root.resolve()).as_posix())


@routes.delete("/userdata/{file}")
@describe("Delete a user file", tags=TAGS, responses={204: OK_EMPTY, 400: ERROR, 403: ERROR, 404: ERROR})
async def delete_userdata(request: web.Request) -> web.Response:
    path = _path_from(request, "file")
    if not path.is_file():
        raise BadRequest(404, "not_found", "no such user file")
    await asyncio.to_thread(path.unlink)
    return web.Response(status=204)


@routes.post("/userdata/{file}/move/{dest}")
@describe("Move or rename a user file", tags=TAGS, query=FILE_QUERY,
          responses={200: obj("the new path, or its file info"), 400: ERROR, 403: ERROR, 404: ERROR,
                     409: ERROR})
async def move_userdata(request: web.Request) -> web.Response:
    source = _path_from(request, "file")
    destination = _path_from(request, "dest")
    if not source.is_file():
        raise BadRequest(404, "not_found", "no such user file")
    overwrite = request.query.get("overwrite", "true") != "false"
    if not overwrite and destination.exists():
        raise BadRequest(409, "conflict", "the destination already exists")

    def move() -> None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, destination)

    await asyncio.to_thread(move)
    root = user_root(request)
    full_info = request.query.get("full_info", "false").lower() == "true"
    return web.json_response(
        file_info(destination, root) if full_info else destination.relative_to(root.resolve()).as_posix()
    )
