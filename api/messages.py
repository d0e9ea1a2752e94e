"""Engine events (graph.events) → ComfyUI websocket messages (comfyui-compat.md §1.3)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from api.redact import redact, redact_json
from api.store import JobStatus

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


class Translator:
    """Turns one job's events into messages; remembers which nodes ran (for error reports)."""

    def __init__(self, prompt_id: str, node_type: Callable[[str], str]) -> None:
        self.prompt_id = prompt_id
        self.node_type = node_type
        self.executed: list[str] = []
        self.current: str | None = None

    def messages(self, event: object) -> list[Message]:
        """The messages an event becomes (possibly none)."""
        kind = type(event).__name__
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            return []
        result: list[Message] = handler(event)
        return result

    def preview(self, event: object) -> Any | None:
        """The step preview image carried by a progress event, if any."""
        if type(event).__name__ == "Progress":
            return getattr(event, "preview", None)
        return None

    def _node_message(self, event_type: str, node: str | None, **extra: Any) -> Message:
        return Message(event_type, {"node": node, "display_node": node, "prompt_id": self.prompt_id, **extra})

    def _on_JobStarted(self, event: object) -> list[Message]:
        return [Message("execution_start", {"prompt_id": self.prompt_id, "timestamp": now_ms()})]

    def _on_NodesCached(self, event: object) -> list[Message]:
        nodes = [str(node) for node in getattr(event, "node_ids", getattr(event, "nodes", ()))]
        self.executed.extend(nodes)
        return [Message("execution_cached", {"nodes": nodes, "prompt_id": self.prompt_id, "timestamp": now_ms()})]

    def _on_NodeStarted(self, event: object) -> list[Message]:
        node = str(getattr(event, "node_id"))  # noqa: B009 - events are duck-typed by class name
        self.current = node
        return [self._node_message("executing", node)]

    def _on_Progress(self, event: object) -> list[Message]:
        node = str(getattr(event, "node_id"))  # noqa: B009
        data = {
            "value": getattr(event, "value"),  # noqa: B009
            "max": getattr(event, "total"),  # noqa: B009
            "prompt_id": self.prompt_id,
            "node": node,
        }
        return [Message("progress", data)]

    def _on_NodeDone(self, event: object) -> list[Message]:
        node = str(getattr(event, "node_id"))  # noqa: B009
        self.executed.append(node)
        ui = getattr(event, "ui_output", None)
        if not ui:
            return []
        return [Message("executed", {"node": node, "display_node": node, "output": ui, "prompt_id": self.prompt_id},
                        output=(node, ui))]

    def _on_NodeFailed(self, event: object) -> list[Message]:
        node = str(getattr(event, "node_id"))  # noqa: B009
        message = str(getattr(event, "message", getattr(event, "exception_message", "")))
        exception_type = str(getattr(event, "exception_type", "Exception"))
        trace = list(getattr(event, "traceback", []) or [])
        # The detail stays in the server log, with the prompt id; clients get no traceback and no server path.
        log.error("job %s: node %s (%s) raised %s: %s\n%s", self.prompt_id, node, self.node_type(node),
                  exception_type, message, "".join(trace).rstrip())
        data = {
            "prompt_id": self.prompt_id,
            "node_id": node,
            "node_type": self.node_type(node),
            "executed": list(self.executed),
            "exception_message": redact(message) + SEE_LOG,
            "exception_type": exception_type.rpartition(".")[2],
            "traceback": [],
            "current_inputs": redact_json(dict(getattr(event, "inputs", getattr(event, "current_inputs", {})) or {})),
            "current_outputs": list(self.executed),
            "timestamp": now_ms(),
        }
        return [Message("execution_error", data, outcome="failed")]

    def _on_JobInterrupted(self, event: object) -> list[Message]:
        node = getattr(event, "node_id", None) or self.current
        data = {
            "prompt_id": self.prompt_id,
            "node_id": node,
            "node_type": self.node_type(node) if node else None,
            "executed": list(self.executed),
            "timestamp": now_ms(),
        }
        return [Message("execution_interrupted", data, outcome="interrupted")]

    def _on_JobSucceeded(self, event: object) -> list[Message]:
        return [Message("execution_success", {"prompt_id": self.prompt_id, "timestamp": now_ms()},
                        outcome="succeeded")]
