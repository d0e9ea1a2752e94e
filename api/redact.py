"""What a client may see of an error: no traceback, no server path, no home directory.

Paths inside the base directory (and the input/output/temp/user folders) are shown relative to it
(`models/checkpoints/x.safetensors`), so a local user can still find the folder a message names; any other
absolute path (the home directory, site-packages, the system) becomes `<path>`. The full detail stays in the
server log, with the prompt id (api/messages.py logs it before redacting).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import folders

#: An absolute POSIX path (at least one separator after the root) or a Windows drive path.
_SEGMENT = r"[^\s/'\"`<>|,;()\[\]{}]+"
_ABSOLUTE = re.compile(rf"(?<![\w/:.~>])(?:/(?:{_SEGMENT}/)*{_SEGMENT}|[A-Za-z]:\\[^\s'\"`<>|,;]+)")
_FILE_URL = re.compile(r"file://\S+")


def _prefixes() -> list[tuple[str, str]]:
    """(absolute prefix, shown as) pairs, longest first, so the most specific folder wins."""
    known: dict[str, str] = {}
    try:
        layout = folders.get_folders()
        base = layout.base_directory
        for path in (layout.base_directory, layout.input_directory, layout.output_directory,
                     layout.temp_directory, layout.user_directory):
            for form in {str(path), str(path.resolve())}:
                relative = _relative(path, base)
                known[form] = relative
    except Exception:
        pass
    return sorted(known.items(), key=lambda item: len(item[0]), reverse=True)


def _relative(path: Path, base: Path) -> str:
    try:
        relative = path.resolve().relative_to(base.resolve())
    except ValueError:
        return f"<{path.name} folder>"
    return str(relative) if str(relative) != "." else "."


def redact(text: str) -> str:
    """`text` with server paths made relative to the base directory or replaced by `<path>`."""
    if "/" not in text and "\\" not in text:
        return text
    for prefix, shown in _prefixes():
        if len(prefix) < 2:
            continue
        text = re.sub(re.escape(prefix) + r"(/|\\)?", _replacer(shown), text)
    text = _FILE_URL.sub("<path>", text)
    return _ABSOLUTE.sub("<path>", text)


def _replacer(shown: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        separator = bool(match.group(1))
        if shown == ".":
            return "" if separator else "the base directory"
        return shown + "/" if separator else shown

    return replace


def redact_json(value: Any) -> Any:
    """`redact` applied to every string (keys included) of a JSON-like value."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(key)): redact_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_json(item) for item in value]
    return value
