"""The typed event stream of a job, in the order the executor emits them; the server forwards them to clients.

JobStarted → NodesCached → (NodeStarted → Progress* → NodeDone)* → JobSucceeded, or a NodeFailed / JobInterrupted
that ends the job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class JobStarted:
    """The job began (before validation at run time)."""

    job_id: str


@dataclass(slots=True)
class NodesCached:
    """Nodes of this job whose outputs come from the cache; they will not run."""

    job_id: str
    node_ids: tuple[str, ...]


@dataclass(slots=True)
class NodeStarted:
    """A node is about to run."""

    job_id: str
    node_id: str


@dataclass(slots=True)
class Progress:
    """`value` of `total` steps of the running node done; `preview` is an optional image (a PIL image)."""

    job_id: str
    node_id: str
    value: int
    total: int
    preview: Any | None = None


@dataclass(slots=True)
class NodeDone:
    """A node finished; `ui_output` is what the editor shows for it (`{"images": [...]}`), or None."""

    job_id: str
    node_id: str
    ui_output: dict[str, Any] | None


@dataclass(slots=True)
class NodeFailed:
    """A node raised (or the job failed validation at run time): the job stops here."""

    job_id: str
    node_id: str
    class_type: str
    message: str
    exception_type: str
    traceback: tuple[str, ...] = ()
    #: The node's inputs, each shortened to a readable string (ComfyUI's `current_inputs`).
    inputs: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class JobInterrupted:
    """The job stopped on request; `node_id` is the node that was running or about to run (None before any)."""

    job_id: str
    node_id: str | None


@dataclass(slots=True)
class JobSucceeded:
    """Every planned node ran or came from the cache."""

    job_id: str


Event = JobStarted | NodesCached | NodeStarted | Progress | NodeDone | NodeFailed | JobInterrupted | JobSucceeded
