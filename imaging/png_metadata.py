"""PNG text chunks exactly as ComfyUI writes them, and reading workflows back out of PNG files.

ComfyUI (`SaveImage.save_images`) adds a tEXt chunk `prompt` = json.dumps(API graph) and, for every key of
`extra_pnginfo` (the frontend sends `workflow`), a tEXt chunk `key` = json.dumps(value). `json.dumps` escapes
non-ASCII, so the chunks are always Latin-1 tEXt, never iTXt.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image, PngImagePlugin

#: zlib level ComfyUI uses for saved images and for previews.
SAVE_COMPRESS_LEVEL = 4
PREVIEW_COMPRESS_LEVEL = 1
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class PngMetadataError(ValueError):
    """A file is not a PNG, or holds no readable workflow; the message names the file and the reason."""


def png_info(prompt: Mapping[str, Any] | None, extra_pnginfo: Mapping[str, Any] | None) -> PngImagePlugin.PngInfo:
    """The text chunks ComfyUI writes: `prompt` first, then one per extra_pnginfo key (e.g. `workflow`)."""
    info = PngImagePlugin.PngInfo()
    if prompt is not None:
        info.add_text("prompt", json.dumps(prompt))
    for key, value in (extra_pnginfo or {}).items():
        info.add_text(key, json.dumps(value))
    return info


def save_png(
    image: Image.Image,
    path: Path | BinaryIO,
    *,
    prompt: Mapping[str, Any] | None = None,
    extra_pnginfo: Mapping[str, Any] | None = None,
    compress_level: int = SAVE_COMPRESS_LEVEL,
) -> None:
    """Write `image` as a PNG (path or binary stream) with ComfyUI's metadata chunks (none when both are None)."""
    metadata = png_info(prompt, extra_pnginfo) if (prompt is not None or extra_pnginfo) else None
    image.save(path, format="PNG", pnginfo=metadata, compress_level=compress_level)


def read_png_text(source: Path | bytes) -> dict[str, str]:
    """The tEXt/zTXt/iTXt chunks of a PNG file or PNG bytes, as a dict; raises PngMetadataError if not a PNG."""
    data = source if isinstance(source, bytes) else _read_bytes(source)
    name = "PNG data" if isinstance(source, bytes) else str(source)
    if not data.startswith(PNG_SIGNATURE):
        raise PngMetadataError(f"{name} is not a PNG file")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # text chunks after the image data are read only by load()
            text = getattr(image, "text", {})
            return {str(key): str(value) for key, value in text.items()}
    except (OSError, SyntaxError, ValueError) as error:
        raise PngMetadataError(f"{name}: cannot read PNG chunks: {error}") from error


def workflow_from_png(source: Path | bytes, prefer: str = "prompt") -> dict[str, Any]:
    """The graph stored in a PNG by this tool or ComfyUI: the `prompt` chunk (API format) or `workflow` (UI).

    `prefer` picks which chunk is tried first; the other is the fallback (the editor prefers "workflow",
    a headless run prefers "prompt", the graph that actually ran).
    """
    chunks = read_png_text(source)
    name = "PNG data" if isinstance(source, bytes) else str(source)
    order = [prefer, "workflow" if prefer == "prompt" else "prompt"]
    for key in order:
        if key in chunks:
            try:
                value = json.loads(chunks[key])
            except json.JSONDecodeError as error:
                raise PngMetadataError(f"{name}: the {key!r} chunk is not valid JSON: {error}") from error
            if not isinstance(value, dict):
                raise PngMetadataError(f"{name}: the {key!r} chunk holds {type(value).__name__}, not a workflow")
            return value
    raise PngMetadataError(f"{name} carries no workflow (no 'prompt' or 'workflow' text chunk)")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise PngMetadataError(f"cannot read {path}: {error}") from error
