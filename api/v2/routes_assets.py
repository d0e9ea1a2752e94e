"""v2 asset routes: upload, from-hash, by-hash probe, from-path, metadata and content (Range-capable)."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path

from aiohttp import BodyPartReader, web
from blake3 import blake3

from api.jsonbody import read_json_object
from api.openapi import describe
from api.routes_files import INLINE_TYPES, content_disposition, place_upload
from api.v2 import docs
from api.v2.assets import Assets
from api.v2.errors import V2Error, envelope, invalid_request, not_found
from api.v2.files import (
    HASH_PREFIX,
    MODEL_EXTENSION,
    MODEL_KINDS,
    check_safetensors,
    classify_upload,
    destination,
    link_no_clobber,
    normalize_hash,
)
from api.v2.records import AssetRow
from api.v2.service import base_url, service
from folders import Folders

routes = web.RouteTableDef()
MAX_FIELD_BYTES = 4096
STAGING = ".v2-uploads"


class Upload:
    """A multipart upload streamed to a staging file while its blake3 is computed."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.staged: Path | None = None
        self.part_type: str | None = None
        self.digest = ""
        self.size = 0

    async def read(self, request: web.Request, folders: Folders, limit: int) -> None:
        if not request.content_type.startswith("multipart/form-data"):
            raise invalid_request("an asset upload is multipart/form-data with a 'file' part and 'file_path'", 422)
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    raise invalid_request("nested multipart bodies are not accepted", 422)
                if part.name == "file":
                    if self.staged is not None:
                        raise invalid_request("send one 'file' part per upload", 422)
                    self.part_type = part.headers.get("Content-Type")
                    await self._save(part, folders, limit)
                elif part.name:
                    value = await part.read(decode=True)
                    if len(value) > MAX_FIELD_BYTES:
                        raise invalid_request(f"form field {part.name[:40]!r} is too large", 422)
                    self.fields[part.name] = value.decode("utf-8", errors="replace").strip()
        except (ValueError, AssertionError):  # aiohttp's words for a malformed multipart body
            self.discard()
            raise invalid_request("malformed multipart body", 422) from None
        except BaseException:
            self.discard()
            raise

    async def _save(self, part: BodyPartReader, folders: Folders, limit: int) -> None:
        folder = folders.temp_directory / STAGING
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        self.staged = folder / f"{uuid.uuid4().hex}.part"
        hasher = blake3()
        with self.staged.open("wb") as stream:
            while chunk := await part.read_chunk(256 * 1024):
                self.size += len(chunk)
                if self.size > limit:
                    raise V2Error(413, "payload_too_large", f"the upload is larger than the limit of {limit} bytes")
                hasher.update(chunk)
                stream.write(chunk)
        self.digest = HASH_PREFIX + hasher.hexdigest()

    def discard(self) -> None:
        if self.staged is not None:
            self.staged.unlink(missing_ok=True)


def _place(assets: Assets, upload: Upload, kind: str, name: str, content_type: str | None) -> tuple[AssetRow, bool]:
    """Check and publish a staged upload (on a worker thread); returns the asset and whether it is new."""
    assert upload.staged is not None
    for row in assets.index.by_hash(upload.digest):
        if row.kind == kind and assets.path_of(row) is not None:
            return row, False  # these bytes are already there, in this folder kind
    folders = assets.folders
    target = destination(folders, kind, name)
    if kind in MODEL_KINDS:
        try:
            check_safetensors(upload.staged)
        except ValueError as error:
            raise V2Error(422, "invalid_request", f"model uploads must be safetensors files: {error}") from None
        try:
            link_no_clobber(upload.staged, target)
        except FileExistsError:
            raise V2Error(409, "file_exists", f"{kind}/{name} already exists with different content; "
                          "choose another file_path") from None
        return assets.index_file(target, kind, name, content_type)
    beside = target.parent / f".v2-{uuid.uuid4().hex}.tmp"
    target.parent.mkdir(parents=True, exist_ok=True)
    if _same_device(upload.staged, target.parent):
        upload.staged.replace(beside)
    else:
        _copy(upload.staged, beside)
    placed = place_upload(beside, target, overwrite=False)  # an existing different file keeps its name
    final = "/".join([*name.split("/")[:-1], placed.name])
    return assets.index_file(placed, "input", final, content_type)


def _same_device(first: Path, folder: Path) -> bool:
    return first.stat().st_dev == folder.stat().st_dev


def _copy(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)


@routes.post("/api/v2/assets")
@describe("Upload an asset", **docs.options(
    "multipart/form-data; blake3-hashed and deduplicated. `file_path` `photo.png` or `input/...` goes to the input "
    "folder; `[models/]<kind>/x.safetensors` to an allow-listed model folder (safetensors only, header-checked, "
    "never overwriting).",
    multipart={"file": "the bytes", "file_path": "destination name", "content_type": "media type",
               "expected_hash": "blake3:<hex>, checked"},
    responses={201: docs.returns("new asset", "Asset"), 200: docs.returns("these bytes were already there", "Asset"),
               409: docs.error("hash_mismatch, file_exists"), 413: docs.error("payload_too_large"),
               422: docs.error("invalid_request")}))
@envelope
async def upload_asset(request: web.Request) -> web.Response:
    v2 = service(request)
    limit = v2.state.config.max_upload_bytes
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise V2Error(413, "payload_too_large", f"the upload is larger than the limit of {limit} bytes")
    upload = Upload()
    await upload.read(request, v2.state.folders, limit)
    try:
        if upload.staged is None:
            raise invalid_request("the upload has no 'file' part", 422)
        file_path = upload.fields.get("file_path", "")
        if not file_path:
            raise invalid_request("the upload needs a 'file_path' field (e.g. 'photo.png' or "
                                  "'checkpoints/model.safetensors')", 422)
        kind, name = classify_upload(file_path)
        expected = upload.fields.get("expected_hash")
        if expected and normalize_hash(expected) != upload.digest:
            raise V2Error(409, "hash_mismatch", "expected_hash does not match the blake3 of the received bytes",
                          {"expected": expected[:80], "received": upload.digest})
        content_type = upload.fields.get("content_type") or upload.part_type
        row, created = await asyncio.to_thread(_place, v2.assets, upload, kind, name, content_type)
    finally:
        upload.discard()
    return web.json_response(v2.assets.to_json(row, base_url(request), created), status=201 if created else 200)


@routes.post("/api/v2/assets/from-hash")
@describe("Reference known bytes by hash", **docs.options(
    "No upload: the asset with these bytes. `HEAD /api/v2/assets/by-hash/{hash}` probes first (200 or 404).",
    body=docs.HASH_BODY,
    responses={200: docs.returns("the asset", "Asset"), 404: docs.error("blob_not_found")}))
@envelope
async def from_hash(request: web.Request) -> web.Response:
    """A reference to bytes this server already has (no upload); 404 `blob_not_found` otherwise."""
    v2 = service(request)
    body = await read_json_object(request, 64 * 1024, allow_empty=False)
    raw = body.get("hash")
    if not isinstance(raw, str):
        raise invalid_request("the body needs 'hash' ('blake3:<hex>')", 422)
    row = await asyncio.to_thread(v2.assets.find_by_hash, normalize_hash(raw))
    if row is None:
        raise V2Error(404, "blob_not_found", "no file with these bytes is known; upload it")
    return web.json_response(v2.assets.to_json(row, base_url(request), False), status=200)


@routes.route("HEAD", "/api/v2/assets/by-hash/{hash}")
@envelope
async def by_hash(request: web.Request) -> web.Response:
    v2 = service(request)
    row = await asyncio.to_thread(v2.assets.find_by_hash, normalize_hash(request.match_info["hash"]))
    return web.Response(status=200 if row is not None else 404)


def _register_path(assets: Assets, raw: str, content_type: str | None) -> tuple[AssetRow, bool]:
    """Index a file already under the base directory's input/, output/, temp/ or model folders (no copy)."""
    folders = assets.folders
    base = folders.base_directory.resolve()
    candidate = Path(raw) if Path(raw).is_absolute() else base / raw
    outside = invalid_request("'path' must name a file under the server's base directory", 422)
    try:
        # Confinement first (whether a file exists outside the base directory is not the client's business).
        if not candidate.resolve(strict=False).is_relative_to(base):
            raise outside
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        raise V2Error(404, "blob_not_found", "no such file") from None
    if not resolved.is_relative_to(base) or not resolved.is_file():
        raise outside
    kinds = ["input", "output", "temp", *sorted(MODEL_KINDS)]
    for kind in kinds:
        for folder in folders.folders_for(kind):
            root = folder.resolve()
            if resolved.is_relative_to(root):
                name = resolved.relative_to(root).as_posix()
                if kind in MODEL_KINDS:
                    if not name.lower().endswith(MODEL_EXTENSION):
                        raise invalid_request("model files are registered only as .safetensors", 422)
                    try:
                        check_safetensors(resolved)
                    except ValueError as error:
                        raise invalid_request(f"not a safetensors file: {error}", 422) from None
                return assets.index_file(resolved, kind, name, content_type)
    raise invalid_request("'path' must be under input/, output/, temp/ or an allow-listed model folder", 422)


@routes.post("/api/v2/assets/from-path")
@describe("Register a file on the server", **docs.options(
    "A file already under the base directory's input/, output/, temp/ or model folders (no copy).",
    body=docs.PATH_BODY, responses={201: docs.returns("new asset", "Asset"), 200: docs.returns("known", "Asset"),
                                    404: docs.error("blob_not_found"), 422: docs.error("invalid_request")}))
@envelope
async def from_path(request: web.Request) -> web.Response:
    v2 = service(request)
    body = await read_json_object(request, 64 * 1024, allow_empty=False)
    raw = body.get("path")
    if not isinstance(raw, str) or not raw or "\x00" in raw or len(raw) > 4096:
        raise invalid_request("the body needs 'path': a file under the server's base directory", 422)
    content_type = body.get("content_type")
    row, created = await asyncio.to_thread(
        _register_path, v2.assets, raw, content_type if isinstance(content_type, str) else None)
    return web.json_response(v2.assets.to_json(row, base_url(request), created), status=201 if created else 200)


def _asset(request: web.Request) -> AssetRow:
    asset_id = request.match_info["asset_id"]
    row = service(request).assets.index.get(asset_id) if len(asset_id) <= 64 else None
    if row is None:
        raise not_found("asset")
    return row


@routes.get("/api/v2/assets/{asset_id}")
@describe("Asset metadata", **docs.options(
    "Hash, size, type, name and content URL.",
    responses={200: docs.returns("the asset", "Asset"), 404: docs.error("not_found")}))
@envelope
async def get_asset(request: web.Request) -> web.Response:
    return web.json_response(service(request).assets.to_json(_asset(request), base_url(request)))


@routes.get("/api/v2/assets/{asset_id}/content")
@describe("Asset bytes", **docs.options(
    "Range requests supported.", responses={200: docs.CONTENT, 206: docs.CONTENT, 404: docs.error(
        "not_found, output_unavailable (the file is gone)")}))
@envelope
async def get_content(request: web.Request) -> web.StreamResponse:
    """The bytes (Range requests answered with 206); inline only for media types that cannot run script."""
    row = _asset(request)
    path = await asyncio.to_thread(service(request).assets.path_of, row)
    if path is None:
        raise V2Error(404, "output_unavailable", "the file of this asset is no longer there")
    name = row.name.rsplit("/", 1)[-1]
    inline = row.content_type in INLINE_TYPES
    headers = {
        "Content-Type": row.content_type if inline else "application/octet-stream",
        "Content-Disposition": content_disposition("inline" if inline else "attachment", name),
        "Cache-Control": "private, max-age=3600",
    }
    return web.FileResponse(path, headers=headers)


fallback = web.RouteTableDef()


@fallback.delete("/api/v2/assets/{asset_id}")
@describe("Delete an asset (not supported)", **docs.options(
    "Not supported by this server: files stay where they are (remove them from the folder instead).",
    responses={501: docs.error("not_implemented")}))
@envelope
async def delete_asset(request: web.Request) -> web.Response:
    raise V2Error(501, "not_implemented", "deleting assets is not supported by this server; the file stays in "
                  "its folder")


@fallback.route("*", "/api/v2/{tail:.*}")
@envelope
async def unknown(request: web.Request) -> web.Response:
    raise V2Error(404, "not_found", "no such Comfy API v2 route")

