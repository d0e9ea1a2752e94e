"""The one file fingerprint: a string that changes when a file does (cache keys, the model cache, IS_CHANGED).

Imports nothing of ours, so the model stack (diffusion/) and the engine share it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

_content_hashes: dict[tuple[str, int, int, int], str] = {}
_content_lock = threading.Lock()


def file_fingerprint(path: str | Path, *, content_hash: bool = False) -> str:
    """Cheap: the file's identity and version (device, inode, size, mtime in ns), which changes when it is replaced
    or rewritten. With `content_hash`: the SHA-256 of its bytes (ComfyUI's IS_CHANGED for inputs a user may
    re-save with the same size in the same second), memoised per identity and version."""
    stat = os.stat(path)
    identity = f"{stat.st_dev}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"
    if not content_hash:
        return identity
    memo_key = (os.fspath(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    with _content_lock:
        if memo_key in _content_hashes:
            return _content_hashes[memo_key]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    with _content_lock:
        _content_hashes[memo_key] = digest.hexdigest()
    return digest.hexdigest()
