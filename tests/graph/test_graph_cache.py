"""The output cache (LRU bounded in bytes), size measurement without torch, cache keys, file fingerprints."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from graph_stubs import STUBS

from graph.cache import ENTRY_OVERHEAD_BYTES, OutputCache, measure_nbytes, node_key
from graph.fingerprint import file_fingerprint
from graph.workflow import Link, WorkflowNode


class FakeStorage:
    def __init__(self, nbytes: int, ptr: int) -> None:
        self._nbytes, self._ptr = nbytes, ptr

    def nbytes(self) -> int:
        return self._nbytes

    def data_ptr(self) -> int:
        return self._ptr


class FakeTensor:
    """Quacks like a torch tensor: a view onto a storage that may be shared."""

    def __init__(self, storage: FakeStorage, shape: tuple[int, ...] = (1,)) -> None:
        self._storage = storage
        self.shape = shape

    def untyped_storage(self) -> FakeStorage:
        return self._storage


class FakeArray:
    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes


@dataclass
class Latent:
    samples: Any
    noise_mask: Any = None


def tensor(nbytes: int, ptr: int) -> FakeTensor:
    return FakeTensor(FakeStorage(nbytes, ptr))


def test_measure_counts_storage_once_and_walks_containers() -> None:
    storage = FakeStorage(1000, ptr=1)
    a, view = FakeTensor(storage), FakeTensor(storage)
    assert measure_nbytes(a) == 1000
    assert measure_nbytes((a, view)) == 1000  # two views of one storage
    assert measure_nbytes({"samples": tensor(4096, 2), "batch_index": [0, 1]}) == 4096 + 16
    assert measure_nbytes(Latent(samples=tensor(100, 3), noise_mask=FakeArray(50))) == 150
    assert measure_nbytes("abcd") == 4 and measure_nbytes(b"xy") == 2

    class Sized:
        def cache_nbytes(self) -> int:
            return 12345

    class Module:
        def parameters(self) -> list[FakeTensor]:
            return [tensor(10, 10), tensor(20, 11)]

        def buffers(self) -> list[FakeTensor]:
            return [tensor(5, 12)]

    assert measure_nbytes([Sized(), Module()]) == 12345 + 35
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    assert measure_nbytes(cyclic) == 0


def test_lru_evicts_least_recently_used_by_bytes() -> None:
    entry = 1000 + ENTRY_OVERHEAD_BYTES
    cache = OutputCache(max_bytes=3 * entry)
    for name in ("a", "b", "c"):
        assert cache.put(name, (tensor(1000, ord(name)),))
    assert cache.total_bytes == 3 * entry
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("d", (tensor(1000, 100),))
    assert list(cache.keys()) == ["c", "a", "d"]  # b was least recently used
    cache.put("e", (tensor(2000, 101),))  # needs two slots: c and a go
    assert list(cache.keys()) == ["d", "e"]
    assert cache.total_bytes <= 3 * entry and cache.max_bytes == 3 * entry


def test_an_entry_larger_than_the_budget_is_not_kept_and_replacing_updates_size() -> None:
    cache = OutputCache(max_bytes=5000)
    assert not cache.put("huge", (tensor(10_000, 1),))
    assert "huge" not in cache and cache.total_bytes == 0
    cache.put("k", (tensor(100, 2),))
    cache.put("k", (tensor(300, 3),))
    assert len(cache) == 1 and cache.total_bytes == 300 + ENTRY_OVERHEAD_BYTES
    cache.clear()
    assert len(cache) == 0 and cache.total_bytes == 0
    with pytest.raises(ValueError):
        OutputCache(max_bytes=-1)


def test_node_keys_ignore_ids_layout_and_input_order_but_see_values_types_and_upstream() -> None:
    spec = STUBS.specs["Inc"]
    upstream = {"1": "k1", "9": "k1", "2": "k2"}
    base = node_key(spec, WorkflowNode("5", "Inc", {"x": Link("1", 0), "by": 2}), upstream)
    same = node_key(
        spec, WorkflowNode("77", "Inc", {"by": 2, "x": Link("9", 0)}, {"pos": [1, 2], "title": "t"}), upstream
    )
    assert base == same
    assert base != node_key(spec, WorkflowNode("5", "Inc", {"x": Link("1", 0), "by": 3}), upstream)
    assert base != node_key(spec, WorkflowNode("5", "Inc", {"x": Link("2", 0), "by": 2}), upstream)
    assert base != node_key(spec, WorkflowNode("5", "Inc", {"x": Link("1", 1), "by": 2}), upstream)
    const = STUBS.specs["Const"]
    assert node_key(const, WorkflowNode("1", "Const", {"value": 1}), {}) != node_key(
        const, WorkflowNode("1", "Const", {"value": True}), {}
    )
    sampler = STUBS.specs["KSampler"]  # JSON may write cfg 8.0 as 8: the same run, the same key
    assert node_key(sampler, WorkflowNode("3", "KSampler", {"cfg": 8}), {}) == node_key(
        sampler, WorkflowNode("3", "KSampler", {"cfg": 8.0}), {}
    )
    assert node_key(sampler, WorkflowNode("3", "KSampler", {"steps": 8}), {}) != node_key(
        sampler, WorkflowNode("3", "KSampler", {"steps": 9}), {}
    )
    scale = STUBS.specs["Scale"]  # has a hidden UNIQUE_ID: its id joins the key
    assert node_key(scale, WorkflowNode("1", "Scale", {}), {}) != node_key(scale, WorkflowNode("2", "Scale", {}), {})


def test_file_fingerprint_changes_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(b"one")
    quick, content = file_fingerprint(path), file_fingerprint(path, content_hash=True)
    path.write_bytes(b"two!")
    os.utime(path, ns=(1, 1))
    assert file_fingerprint(path) != quick
    assert file_fingerprint(path, content_hash=True) != content
    with pytest.raises(FileNotFoundError):
        file_fingerprint(tmp_path / "missing.png")
