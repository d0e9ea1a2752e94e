"""Grid axes: one widget of one node and the values it takes, checked against the input's schema up front.

An axis is refused before anything runs when its node or input is unknown, the input is a socket, or a value
is of the wrong type, out of range or not among the choices; the message names the axis, the node and the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from commands.overrides import find_node
from graph.registry import NodeRegistry
from graph.validate import check_value
from graph.workflow import Workflow, WorkflowNode

AXIS_LABELS = ("x", "y", "z")
MAX_VALUES = 64  # per axis: a 64×64 grid is already 4096 jobs


class AxisError(ValueError):
    """An axis refused before anything runs."""


@dataclass(frozen=True)
class Axis:
    """``label`` is x, y or z; ``values`` are typed widget values (already checked)."""

    label: str
    node_id: str
    class_type: str
    input_name: str
    values: tuple[Any, ...]

    @property
    def title(self) -> str:
        """``3.sampler_name`` as shown on the grid image."""
        return f"{self.node_id}.{self.input_name}"

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "node": self.node_id, "class_type": self.class_type,
                "input": self.input_name, "values": list(self.values)}


def _find_node(workflow: Workflow, node_ref: str, label: str) -> WorkflowNode:
    try:
        return find_node(workflow, node_ref)
    except LookupError as error:
        raise AxisError(f"axis {label}: {error.args[0]}") from None


def _text_value(widget: str | None, text: str) -> Any:
    """A command-line value as the widget's type; what does not parse stays text, for the check to refuse."""
    stripped = text.strip()
    try:
        if widget == "INT":
            return int(stripped)
        if widget == "FLOAT":
            return float(stripped)
    except ValueError:
        return stripped
    if widget == "BOOLEAN" and stripped.lower() in ("true", "false"):
        return stripped.lower() == "true"
    return stripped if widget != "STRING" else text


def make_axis(label: str, node_ref: str, input_name: str, values: list[Any], workflow: Workflow,
              registry: NodeRegistry, *, from_text: bool = False) -> Axis:
    """Check one axis against the workflow and the node's schema; raises AxisError naming what is wrong."""
    node = _find_node(workflow, node_ref, label)
    where = f"axis {label} ({node.node_id}.{input_name}, node {node.node_id} {node.class_type})"
    spec = registry.get(node.class_type)
    if spec is None:
        raise AxisError(f"{where}: unknown node type {node.class_type!r}")
    item = spec.inputs_by_name.get(input_name)
    widgets = [i.name for i in spec.inputs if not i.is_socket and i.section != "hidden"]
    if item is None or item.section == "hidden":
        raise AxisError(f"{where}: no input {input_name!r}; its widgets are: {', '.join(widgets) or 'none'}")
    if item.is_socket:
        raise AxisError(f"{where}: input {input_name!r} is a {item.type_name} socket, not a widget")
    if not values or len(values) > MAX_VALUES:
        raise AxisError(f"{where}: expected 1 to {MAX_VALUES} values, received {len(values)}")
    typed = [_text_value(item.widget, v) if from_text and isinstance(v, str) else v for v in values]
    for value in typed:
        issues = check_value(spec, input_name, value, node_id=node.node_id)
        if issues:
            raise AxisError(f"{where}: value {value!r} refused: {issues[0].message}")
    return Axis(label, node.node_id, node.class_type, input_name, tuple(typed))


def parse_axis_text(label: str, text: str, workflow: Workflow, registry: NodeRegistry) -> Axis:
    """``NODE.INPUT=v1,v2,...`` (NODE: an id or a unique title; values split on commas)."""
    target, equals, listed = text.partition("=")
    node_ref, dot, input_name = target.rpartition(".")
    if not equals or not dot or not node_ref or not input_name:
        raise AxisError(f"axis {label} {text!r}: expected NODE.INPUT=VALUE,VALUE,..., e.g. 3.cfg=4,7,10")
    return make_axis(label, node_ref, input_name, listed.split(","), workflow, registry, from_text=True)


def parse_axis_json(label: str, data: Any, workflow: Workflow, registry: NodeRegistry) -> Axis:
    """``{"node": id or title, "input": name, "values": [...]}`` (typed JSON values)."""
    if not isinstance(data, dict) or not isinstance(data.get("node"), str) or not isinstance(
            data.get("input"), str) or not isinstance(data.get("values"), list):
        raise AxisError(f'axis {label}: expected {{"node": str, "input": str, "values": [...]}}')
    unknown = sorted(set(data) - {"node", "input", "values"})
    if unknown:
        raise AxisError(f"axis {label}: unknown field {unknown[0]!r}")
    return make_axis(label, data["node"], data["input"], list(data["values"]), workflow, registry)
