"""Files behind assets: blake3 hashing, the safetensors header check, and confined, no-clobber placement.

Upload names (`file_path`) are classified before anything is written: a bare name or `input/...` goes to the
input folder; `[models/]<kind>/...` goes to that model kind's primary folder, for the allow-listed kinds only
(`configs` holds YAML the loaders read and is excluded). Every name is then resolved by `folders`, which
resolves symlinks and refuses anything that would land outside its folder.
"""

from __future__ import annotations

import json
import mimetypes
import os
import re
import shutil
import struct
import uuid
from pathlib import Path

from blake3 import blake3

from api.redact import redact
from api.v2.errors import V2Error
from folders import DEFAULT_MODEL_FOLDERS, LEGACY_KIND_NAMES, FolderError, Folders

HASH_PREFIX = "blake3:"
_HASH_RE = re.compile(r"^blake3:[0-9a-f]{64}$")
#: Model kinds an upload may be placed into (the model loaders' folders; never configs or custom_nodes).
MODEL_KINDS = frozenset(DEFAULT_MODEL_FOLDERS) - {"configs"}
MODEL_EXTENSION = ".safetensors"
#: A safetensors header (JSON) above this is refused: real headers are kilobytes to a few megabytes.
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
_CONTENT_TYPE_RE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]{1,63}/[A-Za-z0-9!#$&^_.+-]{1,63}$")
_CHUNK = 1 << 20
_GENERIC = "application/octet-stream"


def blake3_file(path: Path) -> str:
    """`blake3:<hex>` of a file, streamed."""
    hasher = blake3()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            hasher.update(chunk)
    return HASH_PREFIX + hasher.hexdigest()


def valid_hash(text: str) -> bool:
    return bool(_HASH_RE.match(text))


def normalize_hash(text: str) -> str:
    """A `blake3:<64 hex>` string in lower case, or a 400 `invalid_request` naming what arrived."""
    lowered = text.strip().lower()
    if not valid_hash(lowered):
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise V2Error(400, "invalid_request", f"a hash must look like 'blake3:<64 hex digits>', got {shown!r}")
    return lowered


def content_type_for(declared: str | None, name: str) -> str:
    """The declared media type when well-formed and specific, else the one guessed from the name, else
    octet-stream (a client that declares only `application/octet-stream` has said nothing about the bytes)."""
    if declared and _CONTENT_TYPE_RE.match(declared.strip()) and declared.strip().lower() != _GENERIC:
        return declared.strip().lower()
    guessed = mimetypes.guess_type(name)[0]
    return guessed or "application/octet-stream"


def check_safetensors(path: Path) -> None:
    """Refuse a file that is not a well-formed safetensors file, reading only its header (never the tensors).

    Format: 8-byte little-endian header length N, N bytes of JSON mapping tensor names to
    {dtype, shape, data_offsets}, then the data; every offset pair must lie inside the data.
    """
    size = path.stat().st_size
    with path.open("rb") as stream:
        head = stream.read(8)
        if len(head) < 8:
            raise ValueError("the file is too short to be a safetensors file")
        (length,) = struct.unpack("<Q", head)
        if length < 2 or length > MAX_SAFETENSORS_HEADER or 8 + length > size:
            raise ValueError("the safetensors header length is not plausible (not a safetensors file)")
        raw = stream.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError("the safetensors header is not valid JSON (not a safetensors file)") from None
    if not isinstance(header, dict):
        raise ValueError("the safetensors header is not a JSON object")
    data_size = size - 8 - length
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
            raise ValueError(f"tensor {name!r} in the safetensors header lacks dtype, shape or data_offsets")
        offsets = entry["data_offsets"]
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(isinstance(o, int) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data_size):
            raise ValueError(f"tensor {name!r} has data_offsets outside the file")


def _name_problem(file_path: str) -> str | None:
    if not file_path:
        return "file_path is empty"
    if len(file_path.encode()) > 512:
        return "file_path is longer than 512 bytes"
    if file_path.startswith("/") or "\\" in file_path or re.match(r"^[A-Za-z]:", file_path):
        return "file_path must be a relative '/'-separated name"
    if any(ord(char) < 32 or ord(char) == 127 for char in file_path):
        return "file_path contains control characters"
    if any(part in ("", ".", "..") for part in file_path.split("/")):
        return "file_path must not contain empty, '.' or '..' segments"
    return None


def classify_upload(file_path: str) -> tuple[str, str]:
    """`file_path` → (folder kind, name inside it); 422 `invalid_request` for anything else."""
    problem = _name_problem(file_path)
    if problem is not None:
        raise V2Error(422, "invalid_request", f"{problem}: {file_path[:200]!r}")
    parts = file_path.split("/")
    if len(parts) == 1:
        return "input", file_path
    root = parts[1] if parts[0] == "models" and len(parts) > 2 else parts[0]
    rest = parts[2:] if parts[0] == "models" and len(parts) > 2 else parts[1:]
    if parts[0] == "input":
        return "input", "/".join(parts[1:])
    kind = LEGACY_KIND_NAMES.get(root, root)
    if kind not in MODEL_KINDS:
        allowed = ", ".join(["input", *sorted(MODEL_KINDS)])
        raise V2Error(422, "invalid_request", f"{root!r} is not a folder uploads may go to (allowed: {allowed})")
    name = "/".join(rest)
    if not name.lower().endswith(MODEL_EXTENSION):
        raise V2Error(422, "invalid_request",
                      f"model uploads must be .safetensors files (header-checked), got {parts[-1]!r}")
    return kind, name


def destination(folders: Folders, kind: str, name: str) -> Path:
    """Where a new file `name` of `kind` goes, confined to the kind's primary folder (symlinks resolved)."""
    try:
        return folders.resolve_path(kind, name, must_exist=False)
    except FolderError as error:
        raise V2Error(422, "invalid_request", f"file_path {name!r} is refused: {redact(str(error))}") from None


def locate(folders: Folders, kind: str, name: str) -> Path | None:
    """The existing file of an asset, or None when it is gone (or would now resolve outside its folder)."""
    try:
        return folders.resolve_path(kind, name)
    except FolderError:
        return None


def same_bytes(first: Path, second: Path) -> bool:
    if first.stat().st_size != second.stat().st_size:
        return False
    with first.open("rb") as a, second.open("rb") as b:
        while True:
            block_a, block_b = a.read(_CHUNK), b.read(_CHUNK)
            if block_a != block_b:
                return False
            if not block_a:
                return True


def link_no_clobber(staged: Path, target: Path) -> bool:
    """Publish `staged` at `target` atomically without ever replacing a file; consumes `staged`.

    Returns True when written, False when `target` already holds identical bytes (a dedup hit).
    Raises FileExistsError when `target` holds different bytes. The name appears complete or not at all:
    the bytes are first moved next to the target, then hard-linked under the final name (which fails if
    the name exists, so two uploads can never race into one file).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    beside = target.parent / f".v2-{uuid.uuid4().hex}.tmp"
    try:
        try:
            os.replace(staged, beside)
        except OSError:  # another filesystem: copy instead of rename
            shutil.copyfile(staged, beside)
        try:
            os.link(beside, target)
            return True
        except FileExistsError:
            if target.is_file() and same_bytes(target, beside):
                return False
            raise
    finally:
        beside.unlink(missing_ok=True)
        staged.unlink(missing_ok=True)

