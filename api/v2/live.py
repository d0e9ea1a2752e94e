"""What v2 knows about running jobs that the store does not hold yet: progress, committed outputs, the
latest preview, log lines and pending cancels. Fed by the websocket hub (it sees every job's messages, whoever
submitted the job), read by the job view and the SSE streams, which it wakes on every change.
"""

from __future__ import annotations

import asyncio
import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from api.hub import IMAGE_TYPE_JPEG, IMAGE_TYPE_PNG

#: Finished jobs whose live record (log lines) is kept for late or reconnecting streams.
KEEP_FINISHED = 64
MAX_LOG_LINES = 200
TERMINAL_MESSAGES = frozenset({"execution_success", "execution_error", "execution_interrupted"})


@dataclass
class Preview:
    seq: int
    node_id: str
    content_type: str
    data: bytes


@dataclass
class LiveJob:
    """One job as the hub's messages describe it."""

    job_id: str
    nodes_total: int
    classes: dict[str, str]
    cached: set[str] = field(default_factory=set)
    started: list[str] = field(default_factory=list)
    current: str | None = None
    step: int | None = None
    steps: int | None = None
    outputs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    preview: Preview | None = None
    logs: list[tuple[str, str]] = field(default_factory=list)
    ended: bool = False

    def log(self, level: str, message: str) -> None:
        if len(self.logs) < MAX_LOG_LINES:
            self.logs.append((level, message))

    def progress(self) -> dict[str, Any]:
        """The snapshot: each node counts one unit and the running node its sampler-step fraction."""
        done = len(self.cached | {node for node in self.started if node != self.current})
        total = max(self.nodes_total, done + (1 if self.current else 0), 1)
        fraction = self.step / self.steps if self.step is not None and self.steps else 0.0
        value = min(1.0, (done + fraction) / total)
        snapshot: dict[str, Any] = {
            "value": round(value, 4), "nodes_done": done, "nodes_total": total,
            "current_node": self.current,
            "current_node_class": self.classes.get(self.current) if self.current else None,
            "step": self.step, "steps": self.steps,
        }
        if self.current is not None:
            label = snapshot["current_node_class"] or self.current
            snapshot["message"] = f"{label} {self.step}/{self.steps}" if self.steps else str(label)
        return snapshot


@dataclass(frozen=True)
class LiveView:
    """A copy of what the live state says about one job, taken on the loop for a worker thread to read."""

    canceling: bool = False
    progress: dict[str, Any] | None = None
    outputs: tuple[tuple[str, dict[str, Any]], ...] = ()


class LiveJobs:
    """The hub listener (all on the event loop)."""

    def __init__(self, prompt_of: Callable[[str], dict[str, Any] | None]) -> None:
        self.prompt_of = prompt_of
        self.jobs: OrderedDict[str, LiveJob] = OrderedDict()
        self.canceling: set[str] = set()
        self.streams: dict[str, set[asyncio.Event]] = {}
        self.open_streams = 0
        self._preview_seq = 0
        self._running: str | None = None

    def view(self, job_id: str) -> LiveView:
        """Call on the loop: the state below changes there, so threads read this copy instead."""
        job = self.jobs.get(job_id)
        if job is None:
            return LiveView(job_id in self.canceling)
        return LiveView(job_id in self.canceling, job.progress(), tuple(job.outputs))

    # -- subscriptions ----------------------------------------------------------------------------------

    def subscribe(self, job_id: str) -> asyncio.Event:
        event = asyncio.Event()
        self.streams.setdefault(job_id, set()).add(event)
        self.open_streams += 1
        return event

    def unsubscribe(self, job_id: str, event: asyncio.Event) -> None:
        waiting = self.streams.get(job_id)
        if waiting is not None:
            waiting.discard(event)
            if not waiting:
                del self.streams[job_id]
        self.open_streams -= 1

    def _wake(self, job_id: str | None) -> None:
        targets = self.streams.values() if job_id is None else [self.streams.get(job_id, set())]
        for events in list(targets):
            for event in events:
                event.set()

    # -- HubListener ------------------------------------------------------------------------------------

    def wants_previews(self) -> bool:
        return self.open_streams > 0

    def preview(self, frame: bytes) -> None:
        job = self.jobs.get(self._running or "")
        if job is None or len(frame) < 8:
            return
        _, image_type = struct.unpack(">II", frame[:8])
        content_type = {IMAGE_TYPE_JPEG: "image/jpeg", IMAGE_TYPE_PNG: "image/png"}.get(image_type)
        if content_type is None:
            return
        self._preview_seq += 1
        job.preview = Preview(self._preview_seq, job.current or "", content_type, frame[8:])
        self._wake(job.job_id)

    def message(self, event: str, data: dict[str, Any]) -> None:
        if event == "status":  # the queue changed: queued jobs' positions may have moved
            self._wake(None)
            return
        job_id = data.get("prompt_id")
        if not isinstance(job_id, str):
            return
        if event == "execution_start":
            self._start(job_id)
        job = self.jobs.get(job_id)
        if job is None:
            return
        handler = getattr(self, f"_on_{event}", None)
        if handler is not None:
            handler(job, data)
        if event in TERMINAL_MESSAGES:
            job.ended = True
            self.canceling.discard(job_id)
            if self._running == job_id:
                self._running = None
        self._wake(job_id)

    def _start(self, job_id: str) -> None:
        prompt = self.prompt_of(job_id) or {}
        classes = {
            str(node): str(spec.get("class_type", "")) for node, spec in prompt.items() if isinstance(spec, dict)
        }
        self.jobs[job_id] = LiveJob(job_id, len(classes), classes)
        self._running = job_id
        while len(self.jobs) > KEEP_FINISHED:
            oldest = next(iter(self.jobs))
            if oldest == job_id:
                break
            del self.jobs[oldest]
        self.jobs[job_id].log("info", "job started")

    def _on_execution_cached(self, job: LiveJob, data: dict[str, Any]) -> None:
        nodes = [str(node) for node in data.get("nodes", [])]
        job.cached.update(nodes)
        if nodes:
            job.log("info", f"{len(nodes)} node(s) reused from cache: {', '.join(nodes)}")

    def _on_executing(self, job: LiveJob, data: dict[str, Any]) -> None:
        node = data.get("node")
        if node is None:
            job.current = None
            return
        node = str(node)
        if node not in job.started:
            job.started.append(node)
        job.current, job.step, job.steps = node, None, None

    def _on_progress(self, job: LiveJob, data: dict[str, Any]) -> None:
        value, maximum = data.get("value"), data.get("max")
        if isinstance(value, int) and isinstance(maximum, int):
            job.current = str(data.get("node", job.current))
            job.step, job.steps = value, maximum

    def _on_executed(self, job: LiveJob, data: dict[str, Any]) -> None:
        output = data.get("output")
        if isinstance(output, dict):
            job.outputs.append((str(data.get("node")), output))

    def _on_execution_error(self, job: LiveJob, data: dict[str, Any]) -> None:
        node = data.get("node_id")
        job.log("error", f"node {node} ({data.get('node_type')}) failed: {data.get('exception_message', '')}")

    def _on_execution_interrupted(self, job: LiveJob, data: dict[str, Any]) -> None:
        job.log("warning", "the job was interrupted")

    def _on_execution_success(self, job: LiveJob, data: dict[str, Any]) -> None:
        job.current = None
        job.log("info", "job succeeded")
