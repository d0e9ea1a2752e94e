"""The in-memory workflow: nodes by string id, named inputs holding constants or links, layout kept aside.

The executor reads `class_type`, `inputs` and `mode`; everything under `ui` (positions, titles, groups, view,
reroutes) is layout that round-trips through the files and never changes what runs or what is cached.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

#: "active" runs; "muted" (ComfyUI mode 2) is left out; "bypassed" (mode 4) passes a matching input through.
NodeMode = Literal["active", "muted", "bypassed"]


@dataclass(frozen=True, slots=True)
class Link:
    """A connection from output number `output` of node `node_id`."""

    node_id: str
    output: int


@dataclass(slots=True)
class WorkflowNode:
    """One node: its type, its inputs by name (constant values or `Link`s), and its layout."""

    node_id: str
    class_type: str
    inputs: dict[str, Any]
    ui: dict[str, Any] = field(default_factory=dict)
    mode: NodeMode = "active"

    def links(self) -> Iterator[tuple[str, Link]]:
        """The (input name, link) pairs of this node."""
        for name, value in self.inputs.items():
            if isinstance(value, Link):
                yield name, value


@dataclass(slots=True)
class Workflow:
    """A graph of nodes keyed by id, plus workflow-level layout (`groups`, `view`, `reroutes`, ...)."""

    nodes: dict[str, WorkflowNode] = field(default_factory=dict)
    ui: dict[str, Any] = field(default_factory=dict)

    def add(self, node: WorkflowNode) -> WorkflowNode:
        """Add `node` (its id must be new) and return it."""
        if node.node_id in self.nodes:
            raise ValueError(f"node id {node.node_id!r} is already in the workflow")
        self.nodes[node.node_id] = node
        return node

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[WorkflowNode]:
        return iter(self.nodes.values())

    def __getitem__(self, node_id: str) -> WorkflowNode:
        return self.nodes[node_id]

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.nodes

    def copy(self) -> Workflow:
        """A copy whose nodes and input dicts may be changed without touching this one (values are shared)."""
        return Workflow(
            nodes={
                node_id: WorkflowNode(node.node_id, node.class_type, dict(node.inputs), dict(node.ui), node.mode)
                for node_id, node in self.nodes.items()
            },
            ui=dict(self.ui),
        )


def short_repr(value: Any, limit: int = 80) -> str:
    """`repr(value)` cut to `limit` characters, for error messages about possibly huge inputs."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + f"… ({len(value)} characters)"
    text = (
        repr(value)
        if not isinstance(value, list | dict) or len(value) < 64
        else f"<{type(value).__name__} of {len(value)} items>"
    )
    return text if len(text) <= limit else text[:limit] + "…"


class WorkflowFormatError(ValueError):
    """The data is not a workflow in any accepted format; the message says where and what was expected."""

    def __init__(self, message: str, *, node_id: str | None = None, input_name: str | None = None) -> None:
        super().__init__(message)
        self.node_id = node_id
        self.input_name = input_name


def json_type(value: Any) -> str:
    """How JSON names the type of a parsed value ("an object", "an array", ...), for error messages."""
    names = {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }
    return "null" if value is None else names.get(type(value), type(value).__name__)
