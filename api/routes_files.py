"""File routes: /view, /upload/image, /upload/mask, /models, /embeddings.

Every outside name goes through `folders.resolve_path` (symlinks resolved, must stay in its folder).
Files are served inline only for an allow-list of image/video/audio types; everything else (HTML, SVG, JS,
XHTML, ...) goes out as an `application/octet-stream` attachment, with `nosniff` on every response.
"""

from __future__ import annotations

import asyncio
import io
import mimetypes
import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, web
from PIL import Image, ImageOps, PngImagePlugin

from api.jsonbody import BadRequest, json_error, parse_json
from api.redact import redact
from api.state import ServerState, state_of
from folders import IMAGE_EXTENSIONS, LEGACY_KIND_NAMES, FileNotFoundInFolderError, FolderError, PathOutsideFolderError

routes = web.RouteTableDef()
IO_TYPES = ("input", "output", "temp")
#: Types a browser may render inline from our origin; nothing here can run script.
INLINE_TYPES = frozenset({
    "image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/avif",
    "video/mp4", "video/webm", "audio/mpeg", "audio/wav", "audio/x-wav", "audio/ogg", "audio/flac",
})
#: Image formats an upload may be (checked by decoding, not by name).
UPLOAD_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "MPO"})


def content_disposition(disposition: str, name: str) -> str:
    """An RFC 6266 header: an ASCII fallback with unsafe characters replaced, and the exact name UTF-8 encoded."""
    fallback = "".join(char if 32 <= ord(char) < 127 and char not in '"\\;' else "_" for char in name) or "file"
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _error(status: int, error_type: str, message: str) -> web.Response:
    return json_error(status, error_type, redact(message))


def _resolve_view(state: ServerState, request: web.Request) -> Path | web.Response:
    query = request.query
    filename = query.get("filename", "")
    if not filename:
        return _error(400, "invalid_query", "'filename' is required")
    kind = query.get("type", "output") or "output"
    if kind not in IO_TYPES:
        return _error(400, "invalid_query", f"'type' must be one of {', '.join(IO_TYPES)}, got {kind!r}")
    if filename.endswith((" [input]", " [output]", " [temp]")):
        kind, filename = filename.rsplit(" [", 1)[1][:-1], filename.rsplit(" [", 1)[0]
    subfolder = query.get("subfolder", "")
    folders = state.folders
    if subfolder:
        try:
            folders.resolve_path(kind, "x", subfolder=subfolder, must_exist=False)
        except FolderError as error:
            return _error(403, "forbidden", str(error))
    try:
        return folders.resolve_path(kind, filename, subfolder=subfolder)
    except FileNotFoundInFolderError:
        return _error(404, "not_found", "no such file")
    except PathOutsideFolderError as error:
        # A symlink leading out is reported as absent: its target is none of the client's business.
        status = 404 if "symlink" in str(error) else 400
        return _error(status, "invalid_filename" if status == 400 else "not_found", str(error))


@routes.get("/view")
async def view(request: web.Request) -> web.StreamResponse:
    """Serve a file of input/, output/ or temp/ (optionally re-encoded: `preview=webp;90`, `channel=rgb|a`)."""
    state = state_of(request)
    resolved = _resolve_view(state, request)
    if isinstance(resolved, web.Response):
        return resolved
    path = resolved
    preview = request.query.get("preview")
    channel = request.query.get("channel", "rgba")
    if channel not in ("rgba", "rgb", "a"):
        return _error(400, "invalid_query", f"'channel' must be rgba, rgb or a, got {channel!r}")
    if preview or channel != "rgba":
        try:
            data, content_type = await asyncio.to_thread(_reencode, path, preview, channel)
        except (OSError, ValueError) as error:
            return _error(400, "invalid_image", f"cannot re-encode this file: {error}")
        return web.Response(body=data, content_type=content_type,
                            headers={"Content-Disposition": content_disposition("inline", path.name)})
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if content_type in INLINE_TYPES:
        disposition = "inline"
    else:
        content_type, disposition = "application/octet-stream", "attachment"
    return web.FileResponse(path, headers={
        "Content-Type": content_type,
        "Content-Disposition": content_disposition(disposition, path.name),
        "Cache-Control": "no-cache",
    })


def _reencode(path: Path, preview: str | None, channel: str) -> tuple[bytes, str]:
    with Image.open(path) as image:
        image.load()
        rgba = image.convert("RGBA")
    if channel == "rgb":
        result: Image.Image = rgba.convert("RGB")
    elif channel == "a":
        result = rgba.getchannel("A")
    else:
        result = rgba
    image_format, quality = "PNG", 90
    if preview:
        name, _, quality_text = preview.partition(";")
        if name not in ("webp", "jpeg"):
            raise ValueError(f"preview format must be webp or jpeg, got {name!r}")
        image_format = name.upper()
        if quality_text:
            if not quality_text.isdigit() or not 1 <= int(quality_text) <= 100:
                raise ValueError(f"preview quality must be 1..100, got {quality_text!r}")
            quality = int(quality_text)
        if image_format == "JPEG" and result.mode not in ("RGB", "L"):
            result = result.convert("RGB")
    buffer = io.BytesIO()
    result.save(buffer, format=image_format, quality=quality)
    return buffer.getvalue(), f"image/{image_format.lower()}"


# -- uploads ----------------------------------------------------------------------------------------------


def clean_upload_name(raw: str) -> str:
    """An upload's file name reduced to a safe basename (control characters replaced); refuses empty names."""
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join("_" if ord(char) < 32 or ord(char) == 127 else char for char in base).strip()
    if base in ("", ".", "..") or base.startswith("."):
        raise BadRequest(400, "invalid_filename", f"the upload needs a file name, got {raw!r}")
    if len(base.encode()) > 200:
        raise BadRequest(400, "invalid_filename", "the file name is longer than 200 bytes")
    if os.path.splitext(base)[1].lower() not in IMAGE_EXTENSIONS:
        raise BadRequest(
            415, "unsupported_media_type",
            f"upload names must end with an image extension ({', '.join(sorted(IMAGE_EXTENSIONS))}), got {base!r}",
        )
    return base


async def _save_part(part: BodyPartReader, folder: Path, limit: int) -> Path:
    """Stream an uploaded file into a hidden temporary file in `folder`; removed again if over `limit`."""
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".upload-{uuid.uuid4().hex}.tmp"
    size = 0
    try:
        with temporary.open("wb") as stream:
            while chunk := await part.read_chunk(256 * 1024):
                size += len(chunk)
                if size > limit:
                    raise BadRequest(413, "too_large", f"the upload is larger than the limit of {limit} bytes")
                stream.write(chunk)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def check_image(path: Path, max_pixels: int) -> tuple[str, tuple[int, int]]:
    """Decode an upload fully; refuses non-images (415) and images above `max_pixels` (413) before decoding."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise BadRequest(413, "image_too_large",
                                 f"the image is {width}x{height} pixels; the limit is {max_pixels} pixels")
            if image.format not in UPLOAD_FORMATS:
                raise BadRequest(415, "unsupported_media_type", f"{image.format} images are not accepted")
            image.load()
            return str(image.format), (width, height)
    except BadRequest:
        raise
    except Image.DecompressionBombError as error:
        raise BadRequest(413, "image_too_large", str(error)) from None
    except (OSError, ValueError, SyntaxError) as error:  # PIL's ways of saying "not an image I can decode"
        raise BadRequest(415, "unsupported_media_type", f"the upload is not a readable image: {error}") from None


def _same_content(first: Path, second: Path) -> bool:
    if first.stat().st_size != second.stat().st_size:
        return False
    with first.open("rb") as a, second.open("rb") as b:
        while True:
            block_a, block_b = a.read(1 << 20), b.read(1 << 20)
            if block_a != block_b:
                return False
            if not block_a:
                return True


def place_upload(temporary: Path, target: Path, overwrite: bool) -> Path:
    """Move a checked upload to its name: overwrite atomically, or keep an identical file, or `name (N).ext`.

    Linking (not renaming) the new name fails if it exists, so concurrent uploads of one name never tear.
    """
    try:
        if overwrite:
            os.replace(temporary, target)
            return target
        stem, extension = os.path.splitext(target.name)
        for counter in range(10_000):
            candidate = target if counter == 0 else target.with_name(f"{stem} ({counter}){extension}")
            if candidate.exists() and _same_content(candidate, temporary):
                return candidate
            try:
                os.link(temporary, candidate)
                return candidate
            except FileExistsError:
                continue
        raise BadRequest(409, "conflict", f"too many files named like {target.name!r}")
    finally:
        temporary.unlink(missing_ok=True)


async def _read_upload_form(request: web.Request, state: ServerState) -> tuple[dict[str, str], Path | None, str]:
    """The form fields, and the image saved to a temporary file in the target folder."""
    limit = state.config.max_upload_bytes
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise BadRequest(413, "too_large", f"the upload is larger than the limit of {limit} bytes")
    if not request.content_type.startswith("multipart/"):
        raise BadRequest(415, "unsupported_media_type", "uploads are multipart/form-data")
    reader = await request.multipart()
    fields: dict[str, str] = {}
    temporary: Path | None = None
    filename = ""
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise BadRequest(400, "invalid_body", "nested multipart bodies are not accepted")
            if part.name == "image" and part.filename is not None:
                if temporary is not None:
                    raise BadRequest(400, "invalid_body", "send one 'image' per upload")
                filename = clean_upload_name(part.filename)
                folder = _upload_folder(state, fields)
                temporary = await _save_part(part, folder, limit)
            elif part.name:
                value = await part.read(decode=True)
                if len(value) > 64 * 1024:
                    raise BadRequest(413, "too_large", f"form field {part.name!r} is too large")
                fields[part.name] = value.decode("utf-8", errors="replace")
    except BaseException:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise
    return fields, temporary, filename


def _upload_folder(state: ServerState, fields: dict[str, str]) -> Path:
    kind = fields.get("type", "input") or "input"
    if kind not in IO_TYPES:
        raise BadRequest(400, "invalid_type", f"'type' must be one of {', '.join(IO_TYPES)}, got {kind!r}")
    subfolder = fields.get("subfolder", "")
    try:
        return state.folders.resolve_path(kind, "x", subfolder=subfolder, must_exist=False).parent
    except FolderError as error:
        raise BadRequest(400, "invalid_subfolder", str(error)) from None


async def _upload(request: web.Request, mask: bool) -> web.Response:
    state = state_of(request)
    fields, temporary, filename = await _read_upload_form(request, state)
    if temporary is None:
        raise BadRequest(400, "no_image", "the form needs a file field named 'image'")
    try:
        # Form fields may come after the file: place it where the complete form says.
        folder = _upload_folder(state, fields)
        if temporary.parent != folder:
            folder.mkdir(parents=True, exist_ok=True)
            moved = folder / temporary.name
            os.replace(temporary, moved)
            temporary = moved
        await asyncio.to_thread(check_image, temporary, state.config.max_upload_pixels)
        if mask:
            await asyncio.to_thread(_apply_mask, state, fields, temporary)
        overwrite = fields.get("overwrite", "").lower() in ("true", "1")
        target = folder / filename
        final = await asyncio.to_thread(place_upload, temporary, target, overwrite)
    finally:
        temporary.unlink(missing_ok=True)
    kind = fields.get("type", "input") or "input"
    return web.json_response({"name": final.name, "subfolder": fields.get("subfolder", ""), "type": kind})


def _apply_mask(state: ServerState, fields: dict[str, str], uploaded: Path) -> None:
    """ComfyUI's mask upload: the original image with the uploaded alpha, keeping the original's PNG text."""
    reference: Any = parse_json(fields.get("original_ref", "").encode()) if fields.get("original_ref") else None
    if not isinstance(reference, dict) or not isinstance(reference.get("filename"), str):
        raise BadRequest(400, "invalid_body", "'original_ref' must be JSON {filename, subfolder, type}")
    kind = reference.get("type") or "input"
    subfolder = reference.get("subfolder") or ""
    if kind not in IO_TYPES or not isinstance(subfolder, str):
        raise BadRequest(400, "invalid_body", "'original_ref' has a bad type or subfolder")
    try:
        original_path = state.folders.resolve_path(kind, reference["filename"], subfolder=subfolder)
    except FolderError as error:
        raise BadRequest(404 if isinstance(error, FileNotFoundInFolderError) else 400, "invalid_ref",
                         str(error)) from None
    check_image(original_path, state.config.max_upload_pixels)
    with Image.open(original_path) as original_file:
        text = {str(key): value for key, value in original_file.info.items() if isinstance(value, str)}
        original = ImageOps.exif_transpose(original_file).convert("RGBA")
    with Image.open(uploaded) as mask_file:
        alpha = mask_file.convert("RGBA").getchannel("A").resize(original.size)
    original.putalpha(alpha)
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    original.save(uploaded, format="PNG", pnginfo=info)


@routes.post("/upload/image")
async def upload_image(request: web.Request) -> web.Response:
    """Multipart `image` (+ `overwrite`, `type`, `subfolder`) → `{"name", "subfolder", "type"}`."""
    return await _upload(request, mask=False)


@routes.post("/upload/mask")
async def upload_mask(request: web.Request) -> web.Response:
    """Like /upload/image, plus `original_ref`: the alpha of the upload is painted onto the original."""
    return await _upload(request, mask=True)


# -- model listings ---------------------------------------------------------------------------------------


@routes.get("/models")
async def models(request: web.Request) -> web.Response:
    return web.json_response(sorted(state_of(request).folders.model_folders))


@routes.get("/models/{folder}")
async def models_in(request: web.Request) -> web.Response:
    state = state_of(request)
    kind = request.match_info["folder"]
    if kind not in state.folders.model_folders and kind not in LEGACY_KIND_NAMES:
        return _error(404, "not_found", f"unknown model folder {kind!r}")
    return web.json_response(await asyncio.to_thread(state.folders.list_model_files, kind))


@routes.get("/embeddings")
async def embeddings(request: web.Request) -> web.Response:
    state = state_of(request)
    names = await asyncio.to_thread(state.folders.list_model_files, "embeddings")
    return web.json_response([os.path.splitext(name)[0] for name in names])
