"""Muted and bypassed nodes: what actually runs, the way ComfyUI's frontend builds the prompt it queues.

A muted node is left out and links from it are dropped (a required input then reports as missing). A bypassed
node is left out and each link from its output k is rewired to what feeds its first input of the same type
(the input at position k when that one matches), so the data passes through unchanged.
"""

from __future__ import annotations

from graph.registry import NodeRegistry
from graph.workflow import Link, Workflow, WorkflowNode

_MAX_BYPASS_CHAIN = 1024


def executable_view(workflow: Workflow, registry: NodeRegistry) -> Workflow:
    """The workflow without muted and bypassed nodes, links rewired; the same object when every node is active."""
    if all(node.mode == "active" for node in workflow.nodes.values()):
        return workflow
    result = Workflow(ui=workflow.ui)
    for node_id, node in workflow.nodes.items():
        if node.mode != "active":
            continue
        inputs = {}
        for name, value in node.inputs.items():
            if isinstance(value, Link):
                resolved = _resolve(workflow, registry, value)
                if resolved is not None:
                    inputs[name] = resolved
            else:
                inputs[name] = value
        result.nodes[node_id] = WorkflowNode(node_id, node.class_type, inputs, node.ui, "active")
    return result


def _resolve(workflow: Workflow, registry: NodeRegistry, link: Link) -> Link | None:
    """Follow `link` through bypassed nodes to a running source; None when it ends at a muted or unfed node."""
    for _ in range(_MAX_BYPASS_CHAIN):
        source = workflow.nodes.get(link.node_id)
        if source is None or source.mode == "active":
            return link  # a missing source is validation's to report
        if source.mode == "muted":
            return None
        passed = _pass_through(source, registry, link.output)
        if passed is None:
            return None
        link = passed
    return None


def _pass_through(node: WorkflowNode, registry: NodeRegistry, output: int) -> Link | None:
    spec = registry.get(node.class_type)
    if spec is None or not 0 <= output < len(spec.outputs):
        return None
    wanted = spec.outputs[output].type_name
    linked = [
        (item, node.inputs.get(item.name)) for item in spec.inputs if isinstance(node.inputs.get(item.name), Link)
    ]
    if output < len(spec.inputs):
        same_slot = spec.inputs[output]
        value = node.inputs.get(same_slot.name)
        if isinstance(value, Link) and same_slot.type_name == wanted:
            return value
    for item, value in linked:
        if isinstance(value, Link) and item.type_name == wanted:
            return value
    return None
