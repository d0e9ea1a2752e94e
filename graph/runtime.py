"""What a running node may ask of the executor: report progress, check for interrupt.

Nodes call the module functions; the executor installs a `NodeRuntime` for the duration of each node call
(a context variable, so nodes need no extra parameter and can be called outside the engine too).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class Interrupted(Exception):
    """The job was interrupted by the user; raised from `check_interrupt` inside a node."""


class NodeRuntime(Protocol):
    def progress(self, value: int, total: int, preview: Any | None = None) -> None: ...

    def check_interrupt(self) -> None: ...


class _Detached:
    """Used when a node runs outside the engine (library use, unit tests): nothing to report to."""

    def progress(self, value: int, total: int, preview: Any | None = None) -> None:
        return None

    def check_interrupt(self) -> None:
        return None


_DETACHED = _Detached()
_current: contextvars.ContextVar[NodeRuntime | None] = contextvars.ContextVar("node_runtime", default=None)


def _runtime() -> NodeRuntime:
    return _current.get() or _DETACHED


def report_progress(value: int, total: int, preview: Any | None = None) -> None:
    """Report `value` of `total` steps done, optionally with a preview image (PIL image)."""
    _runtime().progress(value, total, preview)


def check_interrupt() -> None:
    """Raise `Interrupted` if the job was asked to stop; call it once per step in long loops."""
    _runtime().check_interrupt()


def install(runtime: NodeRuntime) -> contextvars.Token[NodeRuntime | None]:
    """Make `runtime` the one nodes talk to until `uninstall(token)` (the executor's fast path)."""
    return _current.set(runtime)


def uninstall(token: contextvars.Token[NodeRuntime | None]) -> None:
    """Undo `install`."""
    _current.reset(token)


@contextmanager
def installed(runtime: NodeRuntime) -> Iterator[None]:
    """Make `runtime` the one nodes talk to inside this block."""
    token = _current.set(runtime)
    try:
        yield
    finally:
        _current.reset(token)
