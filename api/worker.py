"""The one worker thread: takes jobs from the store in priority order, runs them, records the outcome.

Nodes run on this thread, so the event loop stays free to answer requests. Events reach websocket clients
through `loop.call_soon_threadsafe`; nothing a client does (or fails to do) can block or fail a job.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from PIL import Image, ImageOps

from api import oplog
from api.hub import IMAGE_TYPE_JPEG, Hub, RunningState, preview_frame
from api.messages import JobRecord
from api.store import Job, JobStore
from graph.events import Event

log = logging.getLogger(__name__)


class InterruptSignal(Protocol):
    def set(self) -> None: ...


class JobEngine(Protocol):
    """What the worker needs from the engine (api/engine.py adapts graph.executor to this)."""

    def new_interrupt(self) -> InterruptSignal: ...

    def run(self, job: Job, emit: Callable[[Event], None], interrupt: Any) -> None: ...

    def free(self, unload_models: bool, free_memory: bool) -> None: ...

    def node_type(self, job: Job, node_id: str) -> str: ...


@dataclass
class _Running:
    job: Job
    interrupt: InterruptSignal
    #: Everything the job's events said: its messages, status, outputs and history (api/messages.py).
    record: JobRecord
    started: float = field(default_factory=time.monotonic)
    #: When each node's progress messages arrived: the measured step times of its sampler (api/routes_estimate.py).
    progress_at: dict[str, list[float]] = field(default_factory=dict)


def step_seconds(progress_at: dict[str, list[float]]) -> dict[str, float]:
    """Seconds per step of each node that reported at least three steps (the first one includes its set-up)."""
    return {node: (stamps[-1] - stamps[1]) / (len(stamps) - 2)
            for node, stamps in progress_at.items() if len(stamps) >= 3}


class Worker:
    """Runs one job at a time on a daemon thread."""

    def __init__(
        self,
        store: JobStore,
        engine: JobEngine,
        hub: Hub,
        loop: asyncio.AbstractEventLoop,
        *,
        preview_method: str,
        preview_size: int,
        on_finished: Callable[[str], None],
        on_step_times: Callable[[Job, dict[str, float]], None] | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.hub = hub
        self.loop = loop
        self.preview_method = preview_method
        self.preview_size = preview_size
        self.on_finished = on_finished
        self.on_step_times = on_step_times
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._current: _Running | None = None
        self._free_request: tuple[bool, bool] | None = None
        self._thread = threading.Thread(target=self._loop, name="job-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask the thread to finish (interrupting the running job) and wait for it; False if it is still busy."""
        self._stop.set()
        self.interrupt(None)
        self._wake.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def wake(self) -> None:
        """A job was queued."""
        self._wake.set()

    def running_job_id(self) -> str | None:
        with self._lock:
            return self._current.job.id if self._current else None

    def interrupt(self, prompt_id: str | None) -> bool:
        """Interrupt the running job (only if it is `prompt_id`, when given); returns whether one was."""
        with self._lock:
            current = self._current
            if current is None or (prompt_id is not None and current.job.id != prompt_id):
                return False
            current.interrupt.set()
            return True

    def request_free(self, unload_models: bool, free_memory: bool) -> None:
        """Free memory after the current job (ComfyUI's /free only sets flags too)."""
        with self._lock:
            previous = self._free_request or (False, False)
            self._free_request = (previous[0] or unload_models, previous[1] or free_memory)
        self._wake.set()

    # -- the thread ---------------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            try:
                self._drain()
            except Exception:  # a store failure must not end the worker: log, pause, try again
                log.exception("the job worker hit an error; retrying")
                self._stop.wait(1.0)

    def _drain(self) -> None:
        """Run pending jobs until the queue is empty (or the server stops)."""
        while not self._stop.is_set():
            self._apply_free()
            job = self.store.claim_next()
            if job is None:
                return
            self._run(job)

    def _apply_free(self) -> None:
        with self._lock:
            request, self._free_request = self._free_request, None
        if request is not None:
            try:
                self.engine.free(*request)
            except Exception:
                log.exception("freeing memory failed")

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server is shutting down
            self.loop.call_soon_threadsafe(callback, *args)

    def _run(self, job: Job) -> None:
        record = JobRecord(job.id, lambda node: self.engine.node_type(job, node))
        running = _Running(job, self.engine.new_interrupt(), record)
        with self._lock:
            self._current = running
        self._post(self._set_running, RunningState(job.id, job.client_id))
        self._post(self.hub.send_status)
        try:
            self.engine.run(job, lambda event: self._on_event(running, event), running.interrupt)
        except Exception as error:  # an engine bug must fail this job, not the worker
            log.exception("job %s failed outside any node", job.id)
            record.fail_outside_nodes(error)
        status = record.final_status()
        try:
            self.store.finish(job.id, status, record.outputs, record.history, record.error)
        finally:
            # Even if recording failed (the next start marks the job interrupted), the worker moves on.
            with self._lock:
                self._current = None
        # Before the job is announced finished, so whoever waits on it sees the refined estimate.
        measured = step_seconds(running.progress_at)
        if measured and status == "succeeded" and self.on_step_times is not None:
            try:
                self.on_step_times(job, measured)
            except Exception:  # a calibration update must never stop the worker
                log.exception("could not record the step times of job %s", job.id)
        for event, data in record.held:
            self._post(self.hub.send, event, data, job.client_id)
        self._post(self._finish_messages, job)
        oplog.job_line(
            job.id, job.client_id, status, time.monotonic() - running.started, len(record.ran),
            record.cached, oplog.output_names(record.outputs), oplog.error_summary(record.error),
        )

    def _set_running(self, state: RunningState | None) -> None:
        self.hub.running = state

    def _finish_messages(self, job: Job) -> None:
        self.hub.running = None
        # ComfyUI's "finished" signal, sent after the history entry is written.
        self.hub.send("executing", {"node": None, "display_node": None, "prompt_id": job.id}, job.client_id)
        self.hub.send_status()
        self.on_finished(job.id)

    def _on_event(self, running: _Running, event: Event) -> None:
        """Called by the engine on this thread for every event of the running job."""
        try:
            self._report(running, event)
        except Exception:  # reporting must never break the job
            log.exception("could not report event %r", event)

    def _report(self, running: _Running, event: Event) -> None:
        job = running.job
        for message in running.record.apply(event):
            if message.type == "executing":
                self._post(self._set_node, job.id, message.data.get("node"))
            elif message.type == "progress":
                running.progress_at.setdefault(str(message.data.get("node")), []).append(time.perf_counter())
            self._post(self.hub.send, message.type, message.data, job.client_id)
        preview = JobRecord.preview(event)
        everyone = self.preview_method != "none"
        # Encoding previews for nobody wastes the worker's time, so ask the hub first (a stale answer costs one).
        if preview is not None and self.hub.preview_audience(job.client_id, everyone):
            self._post(self.hub.send_preview, self._encode_preview(preview), job.client_id, everyone)

    def _set_node(self, prompt_id: str, node: str | None) -> None:
        if self.hub.running is not None and self.hub.running.prompt_id == prompt_id:
            self.hub.running.node = node

    def _encode_preview(self, image: Image.Image) -> bytes:
        small = ImageOps.contain(image.convert("RGB"), (self.preview_size, self.preview_size))
        buffer = io.BytesIO()
        small.save(buffer, format="JPEG", quality=95)
        return preview_frame(buffer.getvalue(), IMAGE_TYPE_JPEG)
