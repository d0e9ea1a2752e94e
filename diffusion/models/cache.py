"""Loaded models, cached by file fingerprint, evicted by the memory governor (graph/memory.py) by cost.

A file replaced on disk gets a new fingerprint (inode, size, mtime), so the next request loads it
again and the stale entry ages out. A load that runs out of memory frees every other entry and is
retried once. ``free()`` is the ``/free`` route's unload.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

import torch

from diffusion import devices
from graph.fingerprint import file_fingerprint
from graph.memory import GOVERNOR, HOST, MemoryGovernor, host_memory_bytes, pool_of

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
    t5_module = getattr(getattr(value, "t5", None), "module", None)  # SD3/Flux CLIPs carry T5 beside CLIP
    if isinstance(t5_module, torch.nn.Module):
        found.append(t5_module)
    return found


def pool_sizes(value: Any) -> dict[str, int]:
    """Bytes held by the parameters and buffers of every module inside ``value``, per memory pool (device)."""
    sizes: dict[str, int] = {}
    for module in _modules(value):
        for tensor in (*module.parameters(), *module.buffers()):
            pool = pool_of(tensor.device)
            sizes[pool] = sizes.get(pool, 0) + tensor.numel() * tensor.element_size()
    return sizes


def size_in_bytes(value: Any) -> int:
    """Bytes held by the parameters and buffers of every module inside ``value``."""
    return sum(pool_sizes(value).values())


class ModelCache:
    """Loaded models keyed by (kind, file fingerprint, options), charged to the memory governor.

    The governor (``graph.memory.GOVERNOR`` by default, shared with the output cache of the server and the CLI)
    evicts by cost across both caches; a load's cost is the seconds it took. ``max_items`` caps the count.
    """

    def __init__(self, max_items: int = 6, *, governor: MemoryGovernor | None = None) -> None:
        self.max_items = max_items
        self.governor = GOVERNOR if governor is None else governor
        self._entries: OrderedDict[tuple[str, ...], tuple[Any, int]] = OrderedDict()

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
        with self.governor.lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.governor.touch(self, key)
                value: T = self._entries[key][0]
                return value
            started = time.perf_counter()
            value = devices.retry_after_oom(lambda: load(path), self.free)
            sizes = pool_sizes(value)
            while len(self._entries) >= self.max_items:
                oldest = next(iter(self._entries))
                self.governor.release(self, oldest)
                self.evict(oldest)
            if self.governor.admit(self, key, sizes, time.perf_counter() - started):
                self._entries[key] = (value, sum(sizes.values()))
            else:  # larger than the whole budget: used once, not kept
                log.warning("%s %s is larger than the memory budget; it is not cached", kind, path.name)
            return value

    def evict(self, key: Hashable) -> None:
        """Called by the governor (under its lock) to make room."""
        entry = self._entries.pop(key, None)  # type: ignore[call-overload]
        if entry is not None:
            log.info("unloading %s", key[1] if isinstance(key, tuple) else key)

    def free(self) -> None:
        """Drop every cached model (the references held elsewhere keep theirs alive) and empty the allocator."""
        with self.governor.lock:
            self.governor.release_all(self)
            self._entries.clear()
        devices.empty_cache()


def _device_budget(pool: str) -> int | None:
    """Half of the machine's RAM for host memory; 80% of a GPU's memory for its pool."""
    if pool == HOST:
        total = host_memory_bytes()
        return None if total is None else int(total * 0.5)
    if pool.startswith("cuda") and torch.cuda.is_available():
        return int(torch.cuda.get_device_properties(torch.device(pool)).total_memory * 0.8)
    return None


GOVERNOR.set_default_budget(_device_budget)

#: The process-wide cache the loader nodes use.
MODEL_CACHE = ModelCache()
