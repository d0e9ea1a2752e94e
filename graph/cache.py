"""Cache keys and the output cache.

A node's key is a hash of its type, version, constant inputs and the keys of the nodes feeding it (a Merkle
hash over its ancestry), so it is independent of node ids, titles and positions: identical sub-graphs share
results across jobs and across workflows. Files a node reads join the key through its fingerprint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graph.memory import HOST, MemoryGovernor, pool_of
from graph.spec import Effects, NodeSpec
from graph.workflow import Link, WorkflowNode

DEFAULT_MAX_BYTES = 4 * 2**30
#: What an entry costs beyond its values (the record, the key): keeps tiny entries from being free.
ENTRY_OVERHEAD_BYTES = 256

# ---------------------------------------------------------------------------------------------------- keys


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """How a node type takes part in caching (derived once per spec)."""

    #: Output nodes, file writers, nondeterministic nodes and nodes reading the prompt: never served from cache.
    always_runs: bool
    #: Outputs may differ between runs: the key is unique per run, so descendants re-run too.
    fresh_each_run: bool
    #: The node sees its own id (hidden UNIQUE_ID): the id joins the key.
    keyed_by_id: bool
    #: FLOAT widgets, whose integer values are keyed as floats.
    float_inputs: frozenset[str]


_policies: dict[int, tuple[NodeSpec, CachePolicy]] = {}


def cache_policy(spec: NodeSpec) -> CachePolicy:
    """The caching policy of `spec`, memoised (the executor asks once per node per job)."""
    memo = _policies.get(id(spec))
    if memo is not None and memo[0] is spec:
        return memo[1]
    reads_job = any(item.hidden is not None and item.hidden.kind in ("PROMPT", "EXTRA_PNGINFO") for item in spec.inputs)
    policy = CachePolicy(
        always_runs=spec.output_node or not spec.cacheable or reads_job,
        fresh_each_run=bool(spec.effects & Effects.NONDETERMINISTIC) or reads_job,
        keyed_by_id=any(item.hidden is not None and item.hidden.kind == "UNIQUE_ID" for item in spec.inputs),
        float_inputs=frozenset(item.name for item in spec.inputs if item.widget == "FLOAT"),
    )
    _policies[id(spec)] = (spec, policy)
    return policy


def always_runs(spec: NodeSpec) -> bool:
    """Output nodes, file writers, nondeterministic nodes and nodes reading the prompt are never served from cache."""
    return cache_policy(spec).always_runs


def node_key(spec: NodeSpec, node: WorkflowNode, keys: Mapping[str, str]) -> str:
    """The cache key of `node` (a hex digest), given the keys of the nodes its links come from."""
    policy = cache_policy(spec)
    # One string, unambiguous: input names are identifiers and repr() escapes the separators in values.
    parts = [spec.node_id, str(spec.version)]
    inputs = node.inputs
    for name in sorted(inputs):
        value = inputs[name]
        if type(value) is Link:
            parts.append(f"{name}\x00L{keys.get(value.node_id, '')}:{value.output}")
            continue
        if type(value) is int and name in policy.float_inputs:
            value = float(value)  # cfg 8 and cfg 8.0 are the same run (the executor passes 8.0 either way)
        parts.append(f"{name}\x00C{_canonical(value)!r}")
    if policy.fresh_each_run:
        parts.append(os.urandom(16).hex())
    elif spec.fingerprint is not None:
        parts.append(repr(_fingerprint(spec, node)))
    if policy.keyed_by_id:
        parts.append(f"UNIQUE_ID\x00{node.node_id!r}")
    return hashlib.blake2b("\x1e".join(parts).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _canonical(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float):
        return value  # repr() keeps True, 1 and 1.0 apart
    return json.dumps(value, sort_keys=True, default=repr)


def _fingerprint(spec: NodeSpec, node: WorkflowNode) -> Any:
    assert spec.fingerprint is not None
    constants = {name: value for name, value in node.inputs.items() if not isinstance(value, Link)}
    try:
        return ("fingerprint", spec.fingerprint(constants))
    except Exception:  # cannot tell whether the file changed: run again (and report the error when it runs)
        return ("fingerprint-failed", os.urandom(16))


# ---------------------------------------------------------------------------------------------------- sizes


def measure_nbytes(value: Any) -> int:
    """Bytes held by `value` in every pool together (see `measure_pools`)."""
    return sum(measure_pools(value).values())


def measure_pools(value: Any, _limit_objects: int = 100_000) -> dict[str, int]:
    """Bytes held by `value` per memory pool ("cpu", "cuda:0"): tensors by storage on their device (shared storage
    counted once), arrays by nbytes, containers walked; everything that is not a tensor counts as host memory.

    Duck-typed so the engine never imports torch: `x.untyped_storage().nbytes()` and `x.device` for tensors,
    `x.nbytes` for numpy arrays, `x.cache_nbytes()` for objects that know their size (host memory),
    `parameters()`/`buffers()` for modules.
    """
    pools: dict[str, int] = {}
    host = 0
    seen: set[Any] = set()
    stack = [value]
    visited = 0
    while stack and visited < _limit_objects:
        item = stack.pop()
        if id(item) in seen or item is None:
            continue
        seen.add(id(item))
        visited += 1
        if isinstance(item, bool | int | float):
            host += 8
        elif isinstance(item, str | bytes | bytearray):
            host += len(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif hasattr(item, "cache_nbytes"):
            host += int(item.cache_nbytes())
        elif hasattr(item, "untyped_storage"):
            storage = item.untyped_storage()
            storage_key = ("storage", storage.data_ptr())
            if storage_key not in seen:
                seen.add(storage_key)
                pool = pool_of(getattr(item, "device", HOST))
                pools[pool] = pools.get(pool, 0) + int(storage.nbytes())
        elif hasattr(item, "nbytes") and not callable(item.nbytes):
            host += int(item.nbytes)
        elif callable(getattr(item, "parameters", None)) and callable(getattr(item, "buffers", None)):
            stack.extend(item.parameters())
            stack.extend(item.buffers())
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, f.name) for f in dataclasses.fields(item))
        elif hasattr(item, "__dict__") and not isinstance(item, type):
            stack.extend(vars(item).values())
        else:
            host += 16
    if host:
        pools[HOST] = pools.get(HOST, 0) + host
    return pools


def _scalar_size(values: tuple[Any, ...]) -> int | None:
    """The size of a tuple of plain numbers and strings (the common small case), or None to measure in full."""
    total = 0
    for value in values:
        kind = type(value)
        if kind is int or kind is float or kind is bool:
            total += 8
        elif kind is str:
            total += len(value)
        else:
            return None
    return total


# ---------------------------------------------------------------------------------------------------- the LRU


@dataclass(frozen=True, slots=True)
class CachedOutput:
    """A node's outputs in order, the UI dict it produced, and what they cost."""

    values: tuple[Any, ...]
    ui: dict[str, Any] | None
    nbytes: int


class OutputCache:
    """Node outputs by cache key, charged to a memory governor that evicts by cost (see graph/memory.py).

    The server and the CLI pass the process-wide `GOVERNOR`, so outputs and loaded models share one budget per
    device. Without one, the cache gets a governor of its own whose host budget is `max_bytes`. Thread-safe.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, *, governor: MemoryGovernor | None = None) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        if governor is None:
            governor = MemoryGovernor({HOST: max_bytes})
        self.governor = governor
        self._entries: OrderedDict[str, CachedOutput] = OrderedDict()
        self._bytes = 0

    @property
    def max_bytes(self) -> int | None:
        """The host budget this cache draws from (shared with the governor's other tenants)."""
        return self.governor.budget(HOST)

    def get(self, key: str) -> CachedOutput | None:
        """The entry for `key`, marked as used; None when absent."""
        with self.governor.lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.governor.touch(self, key)
            return entry

    def put(
        self, key: str, values: tuple[Any, ...], ui: dict[str, Any] | None = None, *, cost_seconds: float = 0.0
    ) -> bool:
        """Store outputs under `key` (`cost_seconds`: what computing them took); False when they do not fit."""
        scalar = _scalar_size(values) if ui is None else None
        sizes = {HOST: scalar} if scalar is not None else measure_pools((values, ui))
        sizes[HOST] = sizes.get(HOST, 0) + ENTRY_OVERHEAD_BYTES
        entry = CachedOutput(values, ui, sum(sizes.values()))
        with self.governor.lock:
            self._drop(key)
            if not self.governor.admit(self, key, sizes, cost_seconds):
                return False
            self._entries[key] = entry
            self._bytes += entry.nbytes
            return True

    def evict(self, key: Hashable) -> None:
        """Called by the governor (under its lock) to make room."""
        entry = self._entries.pop(str(key), None)
        if entry is not None:
            self._bytes -= entry.nbytes

    def _drop(self, key: str) -> None:
        if key in self._entries:
            self.governor.release(self, key)
            self.evict(key)

    def __contains__(self, key: object) -> bool:
        with self.governor.lock:
            return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> Iterator[str]:
        """Keys from least to most recently used (a snapshot)."""
        with self.governor.lock:
            return iter(list(self._entries))

    @property
    def total_bytes(self) -> int:
        """Bytes held by this cache's entries (as measured when stored)."""
        return self._bytes

    def clear(self) -> None:
        """Drop every entry (ComfyUI's /free with free_memory)."""
        with self.governor.lock:
            self.governor.release_all(self)
            self._entries.clear()
            self._bytes = 0
