"""The one strict JSON reader, for request bodies, workflow files and PNG chunks alike.

Strict: UTF-8 only, a duplicate key in an object is an error (json.loads would keep the last one silently),
nesting is capped before json.loads could hit Python's recursion limit, and NaN/±Infinity (Python's extension,
which ComfyUI accepts) are refused unless the caller asks for them, to report them later where they are.
Callers turn `JsonError` into their own error (a 400 body, a WorkflowFormatError).
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Nesting allowed (deeper input would hit Python's recursion limit in json.loads).
MAX_JSON_DEPTH = 64
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


class JsonError(ValueError):
    """Why a document is not strict JSON: `message` for people, `detail` (the decoder's words) for logs."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


def loads_strict(data: str | bytes, *, max_depth: int = MAX_JSON_DEPTH, non_finite: bool = False) -> Any:
    """Decode `data` strictly (see the module docstring); raises JsonError."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise JsonError("the document is not UTF-8 text", str(error)) from None
    if data.count("[") + data.count("{") > max_depth:
        _check_depth(data, max_depth)
    try:
        return json.loads(data, object_pairs_hook=_unique_keys, parse_constant=float if non_finite else _refuse)
    except json.JSONDecodeError as error:
        raise JsonError("the document is not valid JSON", str(error)) from None
    except RecursionError:
        raise JsonError(f"JSON nested deeper than {max_depth} levels") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise JsonError(f"duplicate key {key!r} in a JSON object")
        result[key] = value
    return result


def _refuse(name: str) -> Any:
    raise JsonError(f"{name} is not valid JSON (numbers must be finite)")


def _check_depth(text: str, max_depth: int) -> None:
    depth = 0
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > max_depth:
                raise JsonError(f"JSON nested deeper than {max_depth} levels")
        elif token in "]}":
            depth -= 1
