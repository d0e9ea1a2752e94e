"""The name checks every name from outside passes (widget values, uploads, /view, filename prefixes).

Names are '/'-separated and relative on every OS; `..`, absolute paths, drive letters, NUL and control characters,
backslashes, percent-encoded separators and Windows device names are refused from the text alone, and
`contained` refuses what a symlink would lead out of its folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from paths.errors import PathOutsideFolderError
from paths.kinds import label

_DRIVE = re.compile(r"^[A-Za-z]:")
#: Names Windows maps to devices whatever the extension ("nul.png" is the NUL device).
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
)
#: Percent-encoded dot, slash, backslash, NUL or percent (double encoding): meant to sneak past a check.
_ENCODED = re.compile(r"%(25|2e|2f|5c|00)", flags=re.IGNORECASE)


def checked_relative(kind: str, name: str, subfolder: str) -> Path:
    """Check the text of `subfolder/name` and return it as a relative Path; no file system access."""
    if not isinstance(name, str) or not isinstance(subfolder, str):
        raise PathOutsideFolderError(
            f"{label(kind)} name must be a string, got {type(name).__name__}", kind=kind, name=str(name)
        )
    if not name:
        raise PathOutsideFolderError(f"empty {label(kind)} name", kind=kind, name=name)
    parts: list[str] = []
    for role, text in (("subfolder", subfolder), ("name", name)):
        if not text:
            continue
        problem = name_problem(text)
        if problem:
            raise PathOutsideFolderError(
                f"{label(kind)} {role} {text!r} refused: {problem}", kind=kind, name=name
            )
        parts.extend(text.split("/"))
    return Path(*parts)


def name_problem(text: str, windows: bool = os.name == "nt") -> str | None:
    """Why `text` is not a safe relative name, or None. `windows` adds that OS's own traps."""
    if "\x00" in text:
        return "it contains a NUL byte"
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        return "it contains a control character"
    if "\\" in text:
        suggestion = text.replace("\\", "/")
        return f"'\\' is not a folder separator here; names use '/' (e.g. {suggestion!r})"
    if _DRIVE.match(text):
        return "it starts with a drive letter; names are relative to their folder"
    if text.startswith("/"):
        return "it is an absolute path; names are relative to their folder"
    if _ENCODED.search(text):
        return "it contains a percent-encoded '.', '/', '\\', '%' or NUL"
    for part in text.split("/"):
        if part == "..":
            return "'..' would leave the folder"
        if part in ("", "."):
            return "it has an empty or '.' path component"
        if windows and ":" in part:
            return "':' names an alternate data stream or a drive on Windows"
        if windows and (part.split(".")[0].upper() in _WINDOWS_DEVICES or part.endswith((" ", "."))):
            return f"{part!r} is a device name or ends in a space or dot, which Windows does not keep"
    return None


def contained(kind: str, name: str, folder: Path, relative: Path) -> Path:
    """`folder / relative` with symlinks resolved; refused unless it stays inside the resolved folder."""
    root = folder.resolve()
    candidate = (root / relative).resolve()
    if candidate != root and not candidate.is_relative_to(root):
        raise PathOutsideFolderError(
            f"{label(kind)} {name!r} refused: it resolves (through a symlink) to a place outside {root}",
            kind=kind,
            name=name,
        )
    return candidate


def walk_inside(folder: Path) -> Iterator[str]:
    """Relative names of the files under `folder` whose real path stays inside it (no symlink loops)."""
    if not folder.is_dir():
        return
    root = folder.resolve()
    seen: set[Path] = set()
    for directory, subdirectories, files in os.walk(root, followlinks=True):
        real = Path(directory).resolve()
        if real in seen or not (real == root or real.is_relative_to(root)):
            subdirectories[:] = []
            continue
        seen.add(real)
        subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
        relative_dir = Path(directory).relative_to(root)
        for file_name in files:
            if file_name.startswith("."):
                continue
            path = Path(directory) / file_name
            resolved = path.resolve()
            if resolved.is_file() and resolved.is_relative_to(root):
                yield (relative_dir / file_name).as_posix()
