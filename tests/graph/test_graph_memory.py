"""The memory governor: one budget per pool shared by every cache, eviction by cost, the budget always holds."""

from __future__ import annotations

import gc
from collections.abc import Hashable
from dataclasses import dataclass

import pytest

from graph.cache import OutputCache, measure_pools
from graph.memory import HOST, MemoryGovernor, pool_of


@dataclass
class Blob:
    """Stands for a tensor: `untyped_storage().nbytes()` and a `device`, as measure_pools reads them."""

    nbytes_: int
    device: str = "cpu"

    def untyped_storage(self) -> Storage:
        return Storage(self)


@dataclass
class Storage:
    blob: Blob

    def nbytes(self) -> int:
        return self.blob.nbytes_

    def data_ptr(self) -> int:
        return id(self.blob)


class Models:
    """A second tenant, like the model cache: entries charged with their load time."""

    def __init__(self, governor: MemoryGovernor) -> None:
        self.governor = governor
        self.entries: dict[Hashable, int] = {}

    def load(self, key: str, nbytes: int, seconds: float, pool: str = HOST) -> bool:
        with self.governor.lock:
            if self.governor.admit(self, key, {pool: nbytes}, seconds):
                self.entries[key] = nbytes
                return True
            return False

    def evict(self, key: Hashable) -> None:
        del self.entries[key]


def test_two_caches_loading_more_than_fits_stay_within_one_budget() -> None:
    budget = 10_000
    governor = MemoryGovernor({HOST: budget})
    outputs = OutputCache(governor=governor)
    models = Models(governor)
    loaded = 0
    for step in range(40):
        if step % 3 == 0:
            assert models.load(f"model{step}", 3_000, seconds=2.0)
            loaded += 3_000
        else:
            assert outputs.put(f"out{step}", (Blob(1_500),), cost_seconds=0.01)
            loaded += 1_500
        assert governor.used(HOST) <= budget, step
        assert governor.used(HOST) == outputs.total_bytes + sum(models.entries.values())
    assert models.entries and len(outputs) > 0  # both still hold something: neither starves the other
    assert loaded > 5 * budget  # far more was loaded than ever fitted


def test_eviction_is_by_cost_per_byte_then_least_recently_used() -> None:
    governor = MemoryGovernor({HOST: 3_000})
    models = Models(governor)
    models.load("expensive", 1_000, seconds=10.0)
    models.load("cheap-old", 1_000, seconds=0.1)
    models.load("cheap-new", 1_000, seconds=0.1)
    models.load("incoming", 1_000, seconds=0.1)
    assert set(models.entries) == {"expensive", "cheap-new", "incoming"}  # the cheap, older one went first
    for index in range(200):  # enough newer work ages the expensive entry out (GreedyDual: the clock rises)
        models.load(f"later{index}", 1_000, seconds=0.5)
    assert "expensive" not in models.entries
    assert governor.used(HOST) <= 3_000


def test_a_hit_protects_an_entry() -> None:
    governor = MemoryGovernor({HOST: 2 * (100 + 256) + 10})
    cache = OutputCache(governor=governor)
    cache.put("a", (Blob(100),))
    cache.put("b", (Blob(100),))
    assert cache.get("a") is not None
    cache.put("c", (Blob(100),))
    assert list(cache.keys()) == ["a", "c"]


def test_pools_are_budgeted_separately() -> None:
    governor = MemoryGovernor({HOST: 10_000, "cuda:0": 2_000})
    models = Models(governor)
    outputs = OutputCache(governor=governor)
    outputs.put("on-host", (Blob(4_000),))
    models.load("gpu-a", 1_500, seconds=1.0, pool="cuda:0")
    models.load("gpu-b", 1_500, seconds=1.0, pool="cuda:0")  # the GPU is full: gpu-a goes, host entries stay
    assert set(models.entries) == {"gpu-b"} and "on-host" in outputs
    outputs.put("latent-on-gpu", (Blob(1_000, device="cuda:0"),))
    assert governor.used("cuda:0") <= 2_000 and models.entries == {}  # an output displaced the model
    assert governor.used("cuda:0") == 1_000 and governor.used(HOST) == 4_000 + 2 * 256


def test_an_entry_larger_than_a_budget_is_refused_and_nothing_is_evicted() -> None:
    governor = MemoryGovernor({HOST: 1_000})
    models = Models(governor)
    assert models.load("small", 500, seconds=1.0)
    assert not models.load("huge", 5_000, seconds=1.0)
    assert set(models.entries) == {"small"} and governor.used(HOST) == 500


def test_lowering_a_budget_evicts_at_once_and_negative_budgets_are_refused() -> None:
    governor = MemoryGovernor({HOST: 10_000})
    models = Models(governor)
    for index in range(5):
        models.load(f"m{index}", 1_000, seconds=1.0)
    governor.set_budget(HOST, 2_500)
    assert len(models.entries) == 2 and governor.used(HOST) == 2_000
    with pytest.raises(ValueError, match="budget"):
        governor.set_budget(HOST, -1)


def test_a_dropped_cache_stops_counting() -> None:
    governor = MemoryGovernor({HOST: 10_000})
    cache = OutputCache(governor=governor)
    cache.put("x", (Blob(3_000),))
    assert governor.used(HOST) > 3_000
    del cache
    gc.collect()
    assert governor.used(HOST) == 0


def test_clear_releases_and_pools_are_named_by_device() -> None:
    governor = MemoryGovernor({HOST: 10_000})
    cache = OutputCache(governor=governor)
    cache.put("x", (Blob(3_000, device="cuda:1"),))
    assert governor.pools() == [HOST, "cuda:1"]
    cache.clear()
    assert governor.pools() == [] and len(cache) == 0
    assert pool_of("cuda") == "cuda:0" and pool_of("cpu") == HOST and pool_of("mps:0") == "mps:0"
    assert measure_pools([Blob(10, "cuda:0"), Blob(20)]) == {"cuda:0": 10, HOST: 20}
    assert OutputCache(max_bytes=123).max_bytes == 123


def test_a_zero_budget_holds_nothing_and_none_is_unbounded() -> None:
    governor = MemoryGovernor({HOST: 10_000})
    models = Models(governor)
    models.load("a", 4_000, seconds=1.0)
    governor.set_budget(HOST, 0)
    assert models.entries == {} and governor.used(HOST) == 0 and governor.budget(HOST) == 0
    assert not models.load("b", 1, seconds=1.0)
    governor.set_budget(HOST, None)
    assert models.load("c", 10**12, seconds=1.0) and governor.budget(HOST) is None
    assert MemoryGovernor(default_budget=lambda pool: 5 if pool == "cuda:0" else None).budget("cuda:0") == 5


def test_the_default_host_budget_is_half_the_machines_memory() -> None:
    import os

    from graph.memory import DEFAULT_HOST_SHARE, host_memory_bytes

    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert host_memory_bytes() == total and DEFAULT_HOST_SHARE == 0.5
    governor = MemoryGovernor()
    assert governor.budget(HOST) == total // 2 and governor.budget("cuda:0") is None
    models = Models(governor)
    assert models.load("on-gpu", 100, seconds=1.0, pool="cuda:1")  # unbounded so far, and now in use
    governor.set_default_budget(lambda pool: 123 if pool == "cuda:0" else 456)
    assert governor.budget("cuda:0") == 123 and governor.budget("mps:0") == 456
    assert governor.budget(HOST) == 456  # not in use: found again from the new default
    assert governor.budget("cuda:1") is None  # in use: keeps the budget it was admitted under
