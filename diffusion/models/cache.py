"""Loaded models, cached by file fingerprint, least-recently-used first out.

A file replaced on disk gets a new fingerprint (inode, size, mtime), so the next request loads it
again and the stale entry ages out. A load that runs out of memory frees every other entry and is
retried once. ``free()`` is the ``/free`` route's unload.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from diffusion import devices
from diffusion.models.files import file_fingerprint

log = logging.getLogger(__name__)
T = TypeVar("T")


def _modules(value: Any) -> list[torch.nn.Module]:
    if isinstance(value, torch.nn.Module):
        return [value]
    if isinstance(value, tuple | list):
        return [m for item in value for m in _modules(item)]
    found = []
    for attr in ("unet", "module"):
        inner = getattr(value, attr, None)
        if isinstance(inner, torch.nn.Module):
            found.append(inner)
    for encoder in getattr(value, "encoders", ()):
        found.append(encoder.module)
    return found


def size_in_bytes(value: Any) -> int:
    """Bytes held by the parameters and buffers of every module inside ``value``."""
    total = 0
    for module in _modules(value):
        total += sum(t.numel() * t.element_size() for t in module.parameters())
        total += sum(t.numel() * t.element_size() for t in module.buffers())
    return total


class ModelCache:
    """An LRU of loaded models keyed by (kind, file fingerprint, options), bounded in bytes and count."""

    def __init__(self, max_bytes: int | None = None, max_items: int = 6) -> None:
        self.max_bytes = max_bytes
        self.max_items = max_items
        self._entries: OrderedDict[tuple[str, ...], tuple[Any, int]] = OrderedDict()
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes_used(self) -> int:
        """Total size of the cached models."""
        return sum(size for _, size in self._entries.values())

    def get(self, kind: str, path: str | Path, load: Callable[[Path], T], *options: str) -> T:
        """The cached value for this file's current content, loading (and evicting) as needed."""
        path = Path(path)
        key = (kind, file_fingerprint(path), *options)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                value: T = self._entries[key][0]
                return value
            value = devices.retry_after_oom(lambda: load(path), self.free)
            size = size_in_bytes(value)
            self._entries[key] = (value, size)
            self._shrink(keep=key)
            return value

    def _shrink(self, keep: tuple[str, ...]) -> None:
        while len(self._entries) > 1 and (
            len(self._entries) > self.max_items or (self.max_bytes is not None and self.bytes_used > self.max_bytes)
        ):
            oldest = next(iter(self._entries))
            if oldest == keep:
                break
            log.info("unloading %s %s", oldest[0], oldest[1])
            del self._entries[oldest]

    def free(self) -> None:
        """Drop every cached model (the references held elsewhere keep theirs alive) and empty the allocator."""
        with self._lock:
            self._entries.clear()
        devices.empty_cache()


def _default_budget() -> int | None:
    """80% of GPU memory, or half of the machine's RAM when models live on the CPU."""
    if devices.default_device().type == "cuda":
        return int(torch.cuda.get_device_properties(0).total_memory * 0.8)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.5)
    except (ValueError, OSError, AttributeError):
        return None


#: The process-wide cache the loader nodes use.
MODEL_CACHE = ModelCache(max_bytes=_default_budget())
