"""One memory governor: every cache in the process draws from one budget per device and one for host RAM.

The model cache (loaded checkpoints, VAEs, ControlNets) and the output cache (node outputs kept between jobs)
both hold tensors; with separate budgets they could together overrun a GPU. Here each cache is a *tenant*: before
it keeps something it asks the governor to `admit` the entry's bytes per memory pool ("cpu", "cuda:0", ...), and
the governor makes room by evicting entries of any tenant in that pool.

Eviction is by cost (GreedyDual-Size): an entry's priority is the clock plus what it cost to build per byte it
holds (seconds per GiB); the lowest priority goes first and the clock advances to it, so an entry that was
expensive to make (a checkpoint load) outlives cheap ones of the same size, yet ages out once everything newer
has been worth more. Entries of equal cost leave in least-recently-used order.

One lock guards the governor and every tenant's entries (`governor.lock`), so a tenant evicted while another
admits can never deadlock. Imports neither torch nor anything of the graph.
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Protocol

#: The pool of host RAM (tensors on the CPU and every Python object).
HOST = "cpu"
#: The share of physical RAM the caches may hold together when no budget is set.
DEFAULT_HOST_SHARE = 0.5


class Tenant(Protocol):
    """A cache whose entries the governor may evict."""

    def evict(self, key: Hashable) -> None:
        """Drop the entry `key` (called with `governor.lock` held; it must not call back into the governor)."""
        ...


@dataclass(slots=True)
class _Charge:
    #: Weak: a cache that is dropped without being cleared must not be kept alive by its charges.
    tenant: weakref.ref[Tenant]
    key: Hashable
    sizes: dict[str, int]
    cost_per_byte: float
    priority: float
    #: Insertion/use order: breaks ties so that equal priorities leave least recently used first.
    stamp: int


def pool_of(device: object) -> str:
    """The pool name of a device (`torch.device`, or its string): "cpu", "cuda:0", "mps:0"."""
    text = str(device)
    if text in ("cpu", "meta"):
        return HOST
    return text if ":" in text else f"{text}:0"


def host_memory_bytes() -> int | None:
    """Physical RAM, or None where the platform does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def _default_host_budget(pool: str) -> int | None:
    if pool != HOST:
        return None
    total = host_memory_bytes()
    return None if total is None else int(total * DEFAULT_HOST_SHARE)


class MemoryGovernor:
    """Budgets per pool and the entries charged against them, across every tenant."""

    def __init__(
        self,
        budgets: Mapping[str, int | None] | None = None,
        *,
        default_budget: Callable[[str], int | None] = _default_host_budget,
    ) -> None:
        self.lock = threading.RLock()
        self._budgets: dict[str, int | None] = dict(budgets or {})
        self._default_budget = default_budget
        self._charges: dict[tuple[int, Hashable], _Charge] = {}
        self._used: dict[str, int] = {}
        self._clock = 0.0
        self._stamps = itertools.count()
        self._tenants: set[int] = set()

    # -- budgets ------------------------------------------------------------------------------------------

    def budget(self, pool: str) -> int | None:
        """The byte budget of `pool` (None: unbounded)."""
        with self.lock:
            if pool not in self._budgets:
                self._budgets[pool] = self._default_budget(pool)
            return self._budgets[pool]

    def set_budget(self, pool: str, nbytes: int | None) -> None:
        """Change a pool's budget; entries over the new one are evicted at once."""
        if nbytes is not None and nbytes < 0:
            raise ValueError(f"a budget is a number of bytes >= 0, got {nbytes}")
        with self.lock:
            self._budgets[pool] = nbytes
            self._make_room(pool, 0, exclude=None)

    def set_default_budget(self, default_budget: Callable[[str], int | None]) -> None:
        """How budgets of pools not set explicitly are found (diffusion/ sets a share of each GPU's memory)."""
        with self.lock:
            self._default_budget = default_budget
            self._budgets = {pool: nbytes for pool, nbytes in self._budgets.items() if pool in self._used}

    def used(self, pool: str) -> int:
        """Bytes charged against `pool` by all tenants."""
        with self.lock:
            return self._used.get(pool, 0)

    def pools(self) -> list[str]:
        """Pools with something charged, by name."""
        with self.lock:
            return sorted(pool for pool, used in self._used.items() if used)

    # -- entries ------------------------------------------------------------------------------------------

    def admit(self, tenant: Tenant, key: Hashable, sizes: Mapping[str, int], cost_seconds: float = 0.0) -> bool:
        """Charge an entry, evicting others (of any tenant) until every pool it touches fits its budget.

        Returns False, charging nothing, when the entry alone exceeds a budget. Admitting a key the tenant
        already holds replaces its charge.
        """
        sizes = {pool: int(nbytes) for pool, nbytes in sizes.items() if nbytes > 0}
        total = max(1, sum(sizes.values()))
        with self.lock:
            self.release(tenant, key)
            for pool, nbytes in sizes.items():
                budget = self.budget(pool)
                if budget is not None and nbytes > budget:
                    return False
            for pool, nbytes in sizes.items():
                self._make_room(pool, nbytes, exclude=(id(tenant), key))
            cost_per_byte = max(0.0, cost_seconds) / total * 2**30  # seconds per GiB: readable priorities
            if id(tenant) not in self._tenants:
                self._tenants.add(id(tenant))
                weakref.finalize(tenant, self._forget, id(tenant), True)
            priority = self._clock + cost_per_byte
            charge = _Charge(weakref.ref(tenant), key, sizes, cost_per_byte, priority, next(self._stamps))
            self._charges[(id(tenant), key)] = charge
            for pool, nbytes in sizes.items():
                self._used[pool] = self._used.get(pool, 0) + nbytes
            return True

    def touch(self, tenant: Tenant, key: Hashable) -> None:
        """The entry was used: its priority starts again from the current clock."""
        with self.lock:
            charge = self._charges.get((id(tenant), key))
            if charge is not None:
                charge.priority = self._clock + charge.cost_per_byte
                charge.stamp = next(self._stamps)

    def release(self, tenant: Tenant, key: Hashable) -> None:
        """The tenant dropped the entry itself: stop charging it."""
        with self.lock:
            self._uncharge((id(tenant), key))

    def release_all(self, tenant: Tenant) -> None:
        """The tenant dropped everything (a cache cleared)."""
        self._forget(id(tenant))

    def _forget(self, tenant_id: int, gone: bool = False) -> None:
        with self.lock:
            if gone:
                self._tenants.discard(tenant_id)
            for charge_key in [charge_key for charge_key in self._charges if charge_key[0] == tenant_id]:
                self._uncharge(charge_key)

    def _uncharge(self, charge_key: tuple[int, Hashable]) -> _Charge | None:
        charge = self._charges.pop(charge_key, None)
        if charge is not None:
            for pool, nbytes in charge.sizes.items():
                self._used[pool] -= nbytes
        return charge

    def _make_room(self, pool: str, nbytes: int, exclude: tuple[int, Hashable] | None) -> None:
        budget = self.budget(pool)
        if budget is None:
            return
        while self._used.get(pool, 0) + nbytes > budget:
            victims = [
                (charge_key, charge)
                for charge_key, charge in self._charges.items()
                if pool in charge.sizes and charge_key != exclude
            ]
            if not victims:
                return
            victim_key, victim = min(victims, key=lambda item: (item[1].priority, item[1].stamp))
            self._clock = max(self._clock, victim.priority)
            self._uncharge(victim_key)
            tenant = victim.tenant()
            if tenant is not None:
                tenant.evict(victim.key)


#: The process-wide governor the server and the CLI give their caches (the model cache always uses it).
GOVERNOR = MemoryGovernor()
