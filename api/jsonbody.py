"""Strict JSON request bodies: size-capped, duplicate keys and NaN refused, deep nesting a 400 not a crash."""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from graph.comfy_errors import error_body
from graph.strict_json import JsonError, loads_strict
from graph.workflow import json_type


class BadRequest(Exception):
    """A request the server refuses; becomes a JSON error response with `status`."""

    def __init__(self, status: int, error_type: str, message: str, details: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        """ComfyUI's error shape (graph.comfy_errors.error_body)."""
        return error_body(self.error_type, self.message, self.details, code=True)


def non_finite_path(value: Any, path: str = "") -> str | None:
    """The location of the first NaN or ±Infinity in a decoded value (`a.b[2]`), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path or "(the value)"
    if isinstance(value, dict):
        for key, item in value.items():
            found = non_finite_path(item, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = non_finite_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def parse_json(raw: bytes, *, non_finite: bool = False) -> Any:
    """A request body through the one strict reader (graph/strict_json.py); raises BadRequest 400 `invalid_json`.

    NaN and ±Infinity are refused, unless `non_finite`: then they are decoded, for validation to refuse them
    where they are, naming the node and the input.
    """
    try:
        return loads_strict(raw, non_finite=non_finite)
    except JsonError as error:
        raise BadRequest(400, "invalid_json", error.message, error.detail) from None


async def read_json(request: web.Request, limit: int, *, non_finite: bool = False) -> Any:
    """Read at most `limit` bytes of body (413 beyond, before parsing) and decode it strictly."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BadRequest(413, "too_large", f"the body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, "too_large", f"the body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return None
    return parse_json(raw, non_finite=non_finite)


async def read_json_object(
    request: web.Request, limit: int, *, allow_empty: bool = True, non_finite: bool = False
) -> dict[str, Any]:
    """A JSON body that must be an object (an empty body counts as `{}` when `allow_empty`)."""
    data = await read_json(request, limit, non_finite=non_finite)
    if data is None and allow_empty:
        return {}
    if not isinstance(data, dict):
        raise BadRequest(
            400, "invalid_body", f"the body must be a JSON object, got {json_type_name(data)}"
        )
    return data


#: The JSON name of a decoded value's type, for error messages (one function: graph.workflow.json_type).
json_type_name = json_type


def error_response(error: BadRequest) -> web.Response:
    """The JSON response for a refused request."""
    return web.json_response(error.body(), status=error.status)


def json_error(
    status: int, error_type: str, message: str, details: str = "", headers: dict[str, str] | None = None
) -> web.Response:
    """A refusal from any route, in ComfyUI's error shape: the one way api/ builds an error response."""
    return web.json_response(error_body(error_type, message, details, code=True), status=status, headers=headers)
