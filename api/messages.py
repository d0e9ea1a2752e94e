"""Engine events (graph.events) → ComfyUI websocket messages (comfyui-compat.md §1.3) and the job's record."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, assert_never

from api.redact import redact, redact_json
from api.store import JobStatus
from graph import events
from graph.events import Event

log = logging.getLogger(__name__)
#: Appended to a node's error message: where the full detail is.
SEE_LOG = " (details, with the prompt id, are in the server log)"

#: Messages recorded in the history entry's `status.messages` (as ComfyUI does).
HISTORY_TYPES = frozenset(
    {"execution_start", "execution_cached", "execution_success", "execution_error", "execution_interrupted"}
)
#: Messages held back until the history entry is written, so a client reacting to them finds it.
TERMINAL_TYPES = frozenset({"execution_success", "execution_error", "execution_interrupted"})


@dataclass(frozen=True)
class Message:
    """One websocket message, plus what it means for the job record."""

    type: str
    data: dict[str, Any]
    #: The job's final status, when this message ends it.
    outcome: JobStatus | None = None
    #: (node id, ui output) for the history's `outputs`.
    output: tuple[str, Any] | None = None


def now_ms() -> int:
    return int(time.time() * 1000)


class JobRecord:
    """One job's events → its websocket messages and its record (status, outputs, history messages, error).

    The one place a job's outcome is assembled: the worker feeds every event to `apply` and stores what this
    record holds when the job ends. Events are dispatched by type (`graph.events`), one handler per event type.
    """

    def __init__(self, prompt_id: str, node_type: Callable[[str], str]) -> None:
        self.prompt_id = prompt_id
        self.node_type = node_type
        #: Nodes that ran or came from the cache, in order (ComfyUI's `executed`).
        self.executed: list[str] = []
        #: Nodes that ran (for the job's log line), and how many came from the cache.
        self.ran: set[str] = set()
        self.cached = 0
        self.current: str | None = None
        self.status: JobStatus | None = None
        #: UI output per node (`{"images": [...]}`): the history's `outputs`.
        self.outputs: dict[str, Any] = {}
        #: [type, data] of the messages ComfyUI keeps in the history's `status.messages`.
        self.history: list[list[Any]] = []
        self.error: dict[str, Any] | None = None
        #: Terminal messages, sent only once the record is stored (a client reacting to them finds it).
        self.held: list[tuple[str, dict[str, Any]]] = []

    def apply(self, event: Event) -> list[Message]:
        """Fold `event` into the record; returns the messages to send now (terminal ones are held)."""
        messages = self._messages(event)
        sent: list[Message] = []
        for message in messages:
            if message.type in HISTORY_TYPES:
                self.history.append([message.type, message.data])
            if message.outcome is not None:
                self.status = message.outcome
                if message.outcome != "succeeded":
                    self.error = message.data
            if message.output is not None:
                self.outputs[message.output[0]] = message.output[1]
            if message.type in TERMINAL_TYPES:
                self.held.append((message.type, message.data))
            else:
                sent.append(message)
        return sent

    def fail_outside_nodes(self, error: Exception) -> None:
        """The engine itself raised (not a node): the job failed; the client is told without any detail."""
        failure: dict[str, Any] = {
            "prompt_id": self.prompt_id, "node_id": None, "node_type": None, "executed": list(self.executed),
            "exception_message": redact(f"{type(error).__name__}: {error}") + SEE_LOG,
            "exception_type": type(error).__name__,
            "traceback": [], "current_inputs": {}, "current_outputs": list(self.executed),
            "timestamp": now_ms(),
        }  # fmt: skip
        self.status = "failed"
        self.error = failure
        self.history.append(["execution_error", failure])
        self.held.append(("execution_error", failure))

    def final_status(self) -> JobStatus:
        """How the job ended; a job the engine left without a terminal event counts as failed."""
        if self.status is None:
            self.error = self.error or {"message": "the engine ended the job without an outcome"}
            return "failed"
        return self.status

    @staticmethod
    def preview(event: Event) -> Any | None:
        """The step preview image carried by a progress event, if any."""
        return event.preview if isinstance(event, events.Progress) else None

    def _messages(self, event: Event) -> list[Message]:
        match event:
            case events.JobStarted():
                return [Message("execution_start", {"prompt_id": self.prompt_id, "timestamp": now_ms()})]
            case events.NodesCached():
                return self._on_cached(event)
            case events.NodeStarted():
                self.current = event.node_id
                self.ran.add(event.node_id)
                return [self._node_message("executing", event.node_id)]
            case events.Progress():
                data = {"value": event.value, "max": event.total, "prompt_id": self.prompt_id, "node": event.node_id}
                return [Message("progress", data)]
            case events.NodeDone():
                return self._on_done(event)
            case events.NodeFailed():
                return self._on_failed(event)
            case events.JobInterrupted():
                return self._on_interrupted(event)
            case events.JobSucceeded():
                data = {"prompt_id": self.prompt_id, "timestamp": now_ms()}
                return [Message("execution_success", data, outcome="succeeded")]
        assert_never(event)  # a new event type in graph.events needs its message here: mypy reports the gap

    def _node_message(self, event_type: str, node: str | None, **extra: Any) -> Message:
        return Message(event_type, {"node": node, "display_node": node, "prompt_id": self.prompt_id, **extra})

    def _on_cached(self, event: events.NodesCached) -> list[Message]:
        nodes = list(event.node_ids)
        self.executed.extend(nodes)
        self.cached += len(nodes)
        return [Message("execution_cached", {"nodes": nodes, "prompt_id": self.prompt_id, "timestamp": now_ms()})]

    def _on_done(self, event: events.NodeDone) -> list[Message]:
        node = event.node_id
        self.executed.append(node)
        ui = event.ui_output
        if not ui:
            return []
        data = {"node": node, "display_node": node, "output": ui, "prompt_id": self.prompt_id}
        return [Message("executed", data, output=(node, ui))]

    def _on_failed(self, event: events.NodeFailed) -> list[Message]:
        node = event.node_id
        # The detail stays in the server log, with the prompt id; clients get no traceback and no server path.
        log.error("job %s: node %s (%s) raised %s: %s", self.prompt_id, node, self.node_type(node),
                  event.exception_type, event.message,
                  extra={"prompt_id": self.prompt_id, "traceback": "".join(event.traceback).rstrip()})  # fmt: skip
        data = {
            "prompt_id": self.prompt_id,
            "node_id": node,
            "node_type": self.node_type(node),
            "executed": list(self.executed),
            "exception_message": redact(event.message) + SEE_LOG,
            "exception_type": event.exception_type.rpartition(".")[2],
            "traceback": [],
            "current_inputs": redact_json(dict(event.inputs)),
            "current_outputs": list(self.executed),
            "timestamp": now_ms(),
        }
        return [Message("execution_error", data, outcome="failed")]

    def _on_interrupted(self, event: events.JobInterrupted) -> list[Message]:
        node = event.node_id or self.current
        data = {
            "prompt_id": self.prompt_id,
            "node_id": node,
            "node_type": self.node_type(node) if node else None,
            "executed": list(self.executed),
            "timestamp": now_ms(),
        }
        return [Message("execution_interrupted", data, outcome="interrupted")]
