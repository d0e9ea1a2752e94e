"""The v2 parts one application shares: the live tracker, the asset index and the job views."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from api.state import ServerState
from api.store import Job
from api.v2.assets import Assets
from api.v2.errors import not_found
from api.v2.live import LiveJobs
from api.v2.records import AssetIndex
from api.v2.views import JobViews


@dataclass
class V2Service:
    state: ServerState
    live: LiveJobs
    assets: Assets
    views: JobViews

    @classmethod
    def create(cls, state: ServerState) -> V2Service:
        def prompt_of(job_id: str) -> dict[str, object] | None:
            job = state.store.get(job_id)
            return job.prompt if job is not None else None

        live = LiveJobs(prompt_of)
        assets = Assets(AssetIndex(state.store), state.folders)
        return cls(state, live, assets, JobViews(state.store, assets))

    def job(self, job_id: str) -> Job:
        job = self.state.store.get(job_id) if len(job_id) <= 128 else None
        if job is None:
            raise not_found("job")
        return job

    async def job_body(self, job: Job, request: web.Request) -> dict[str, Any]:
        return await asyncio.to_thread(self.views.body, job, base_url(request), self.live.view(job.id))


V2: web.AppKey[V2Service] = web.AppKey("comfy_api_v2", V2Service)


def service(request: web.Request) -> V2Service:
    return request.app[V2]


def base_url(request: web.Request) -> str:
    """This server as the client reached it (the Host header already passed the allow-list)."""
    return f"{request.scheme}://{request.host}"
