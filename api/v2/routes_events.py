"""`GET /api/v2/jobs/{id}/events`: Server-Sent Events over the same job view that polling reads.

Each wake-up (a hub message for the job, or a queue change) re-reads the job and sends what changed: `status`
when it changes, each newly committed `output`, new `log` lines, and `progress` and `preview` at most every
PROGRESS_INTERVAL / PREVIEW_INTERVAL seconds (the latest one wins). The stream ends after the terminal
`status`. Every event id carries how many outputs and log lines the client has had ("outputs.logs.n"), so a
client reconnecting with Last-Event-ID is sent only the outputs and log lines it missed; status and progress
are snapshots and are simply sent again.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from api.openapi import describe
from api.v2 import docs
from api.v2.errors import V2Error, envelope
from api.v2.service import V2Service, base_url, service
from api.v2.views import TERMINAL

routes = web.RouteTableDef()
PROGRESS_INTERVAL = 0.25
PREVIEW_INTERVAL = 0.5
KEEPALIVE_SECONDS = 10.0
MAX_STREAMS = 64


@dataclass
class Cursor:
    """What this client has been sent."""

    outputs: int = 0
    logs: int = 0
    count: int = 0
    status: tuple[str, Any] | None = None
    progress: dict[str, Any] | None = None
    progress_at: float = 0.0
    preview_seq: int = 0
    preview_at: float = 0.0
    frames: list[bytes] = field(default_factory=list)

    @classmethod
    def resume(cls, last_event_id: str | None) -> Cursor:
        parts = (last_event_id or "").split(".")
        if len(parts) == 3 and all(part.isdigit() and len(part) < 10 for part in parts):
            return cls(outputs=int(parts[0]), logs=int(parts[1]), count=int(parts[2]))
        return cls()

    def add(self, event: str, data: dict[str, Any]) -> None:
        self.count += 1
        event_id = f"{self.outputs}.{self.logs}.{self.count}"
        self.frames.append(f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data)}\n\n".encode())


def _changes(cursor: Cursor, body: dict[str, Any], v2: V2Service, job_id: str) -> float | None:
    """Queue the frames `body` calls for; returns in how many seconds a held-back update is due (or None)."""
    now = time.monotonic()
    due: float | None = None
    status = body["status"]
    terminal = status in TERMINAL
    live_job = v2.live.jobs.get(job_id)
    if cursor.status != (status, body["queue_position"]) and not terminal:
        cursor.status = (status, body["queue_position"])
        cursor.add("status", {"status": status, "queue_position": body["queue_position"]})
    if live_job is not None:
        for level, message in live_job.logs[cursor.logs:]:
            cursor.logs += 1
            cursor.add("log", {"level": level, "message": message})
    progress = body["progress"]
    if progress is not None and progress != cursor.progress:
        wait = cursor.progress_at + PROGRESS_INTERVAL - now
        if wait <= 0 or terminal:
            cursor.progress, cursor.progress_at = progress, now
            cursor.add("progress", progress)
        else:
            due = wait
    preview = live_job.preview if live_job is not None and not terminal else None
    if preview is not None and preview.seq > cursor.preview_seq:
        wait = cursor.preview_at + PREVIEW_INTERVAL - now
        if wait <= 0:
            cursor.preview_seq, cursor.preview_at = preview.seq, now
            cursor.add("preview", {"node_id": preview.node_id, "content_type": preview.content_type,
                                   "data_base64": base64.b64encode(preview.data).decode()})
        else:
            due = wait if due is None else min(due, wait)
    for output in body["outputs"][cursor.outputs:]:
        cursor.outputs += 1
        cursor.add("output", output)
    if terminal:
        cursor.add("status", {"status": status, "queue_position": None})
    return due


@routes.get("/api/v2/jobs/{job_id}/events")
@describe("Live job events (SSE)", **docs.options(
    "Server-Sent Events until the terminal status; send Last-Event-ID to resume without missing outputs.",
    responses={200: docs.SSE, 404: docs.error("not_found"), 429: docs.error("too_many_streams")}))
@envelope
async def events(request: web.Request) -> web.StreamResponse:
    v2 = service(request)
    job = v2.job(request.match_info["job_id"])
    if v2.live.open_streams >= MAX_STREAMS:
        raise V2Error(429, "too_many_streams", "too many event streams are open; poll the job instead",
                      headers={"Retry-After": "5"})
    wake = v2.live.subscribe(job.id)
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    cursor = Cursor.resume(request.headers.get("Last-Event-ID"))
    root = base_url(request)
    try:
        await response.prepare(request)
        while True:
            wake.clear()
            current = v2.state.store.get(job.id)
            if current is None:  # deleted from the queue or the history meanwhile: nothing more will happen
                cursor.add("log", {"level": "warning", "message": "the job was deleted"})
                await response.write(cursor.frames.pop())
                break
            body = await asyncio.to_thread(v2.views.body, current, root, v2.live.view(job.id))
            due = _changes(cursor, body, v2, job.id)
            for frame in cursor.frames:
                await response.write(frame)
            cursor.frames.clear()
            if body["status"] in TERMINAL:
                break
            try:
                await asyncio.wait_for(wake.wait(), due if due is not None else KEEPALIVE_SECONDS)
            except TimeoutError:
                if due is None:
                    await response.write(b": keepalive\n\n")
    except ConnectionResetError:
        pass  # the client went away; it reconnects with Last-Event-ID or polls
    finally:
        v2.live.unsubscribe(job.id, wake)
    return response
