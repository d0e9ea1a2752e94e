"""What every route handler shares: config, store, hub, worker, engine, and the jobs being waited on."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from api.config import ServerConfig
from api.hub import Hub
from api.store import JobStore
from folders import Folders

if TYPE_CHECKING:
    from api.engine import EngineAdapter
    from api.worker import Worker


@dataclass
class ServerState:
    """The server's shared parts; one per application."""

    config: ServerConfig
    store: JobStore
    hub: Hub
    engine: EngineAdapter
    folders: Folders
    worker: Worker | None = None
    #: Futures resolved when a job finishes (`POST /api/prompt?wait=true`).
    waiters: dict[str, list[asyncio.Future[None]]] = field(default_factory=dict)
    started_at: float = 0.0
    extras: dict[str, Any] = field(default_factory=dict)

    def job_finished(self, job_id: str) -> None:
        """Wake whoever waits on `job_id` (called on the loop by the worker)."""
        for future in self.waiters.pop(job_id, []):
            if not future.done():
                future.set_result(None)

    def queue_changed(self) -> None:
        """A job was added or removed: wake the worker and tell clients the new queue length."""
        if self.worker is not None:
            self.worker.wake()
        self.hub.send_status()


STATE: web.AppKey[ServerState] = web.AppKey("latent_loom_state", ServerState)


def state_of(request: web.Request) -> ServerState:
    """The ServerState of the application handling `request`."""
    return request.app[STATE]
