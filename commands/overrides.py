"""`--set NODE.INPUT=VALUE`: change a widget of a loaded workflow, the value read as the widget's type."""

from __future__ import annotations

import math
from typing import Any

from commands import CliError
from graph.registry import NodeRegistry
from graph.spec import InputSpec
from graph.workflow import Workflow, WorkflowNode


def apply_override(workflow: Workflow, override: str, registry: NodeRegistry) -> None:
    """Apply one `NODE.INPUT=VALUE`; the value is read as the input's widget type, never guessed."""
    target, equals, text = override.partition("=")
    node_ref, dot, input_name = target.rpartition(".")
    if not equals or not dot or not node_ref or not input_name:
        raise CliError(f"--set {override!r}: expected NODE.INPUT=VALUE, e.g. 3.seed=42")
    node = _find_node(workflow, node_ref, override)
    spec = registry.get(node.class_type)
    if spec is None:
        raise CliError(f"--set {override!r}: node {node.node_id} has unknown type {node.class_type!r}")
    item = spec.input(input_name)
    widgets = [i.name for i in spec.inputs if not i.is_socket and i.section != "hidden"]
    if item is None or item.section == "hidden":
        raise CliError(
            f"--set {override!r}: node {node.node_id} ({node.class_type}) has no input {input_name!r}; "
            f"its widgets are: {', '.join(widgets) or 'none'}"
        )
    if item.is_socket:
        raise CliError(
            f"--set {override!r}: input {input_name!r} of node {node.node_id} ({node.class_type}) is a "
            f"{item.type_name} socket; --set only sets widget values"
        )
    node.inputs[input_name] = parse_widget_value(item, text, override)


def _find_node(workflow: Workflow, node_ref: str, override: str) -> WorkflowNode:
    try:
        return find_node(workflow, node_ref)
    except LookupError as error:
        raise CliError(f"--set {override!r}: {error.args[0]}") from None


def find_node(workflow: Workflow, node_ref: str) -> WorkflowNode:
    """A node by id, or by a title only one node has; LookupError says why not (for --set and grid axes)."""
    if node_ref in workflow.nodes:
        return workflow.nodes[node_ref]
    titled = [node for node in workflow.nodes.values() if node.ui.get("title") == node_ref]
    if len(titled) == 1:
        return titled[0]
    if titled:
        ids = ", ".join(node.node_id for node in titled)
        raise LookupError(f"several nodes are titled {node_ref!r} (ids {ids}); use the node id")
    ids = ", ".join(sorted(workflow.nodes, key=lambda node_id: (len(node_id), node_id)))
    raise LookupError(f"no node with id or title {node_ref!r}; node ids: {ids}")


def parse_widget_value(item: InputSpec, text: str, override: str) -> Any:
    """`text` as a value of the widget `item` (INT, FLOAT, BOOLEAN, STRING or COMBO)."""
    widget = item.widget
    try:
        if widget == "INT":
            if not text.strip().lstrip("+-").isdigit():
                raise ValueError
            return int(text)
        if widget == "FLOAT":
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
    except ValueError:
        expected = "an integer" if widget == "INT" else "a finite number"
        raise CliError(f"--set {override!r}: {item.name} expects {expected}, got {text!r}") from None
    if widget == "BOOLEAN":
        if text.lower() not in ("true", "false"):
            raise CliError(f"--set {override!r}: {item.name} expects true or false, got {text!r}")
        return text.lower() == "true"
    if widget == "COMBO" and item.options and not all(isinstance(option, str) for option in item.options):
        for option in item.options:
            if str(option) == text:
                return option
    return text
