"""Writing ComfyUI's UI ("workflow", version 0.4) format, so images and files made here open in ComfyUI's editor.

    png_info["workflow"] = to_comfy_ui(workflow, REGISTRY)

Widget values go back to positional `widgets_values` (with the seed's control slot and LoadImage's upload slot),
links to LiteGraph's link table; positions, sizes, titles, colours, modes, groups and the view are kept. Node ids
that are not integers are renumbered (LiteGraph needs integer ids). Reroutes are written as direct links.
"""

from __future__ import annotations

from typing import Any

from graph.formats import widget_inputs
from graph.registry import NodeRegistry
from graph.spec import NodeSpec
from graph.workflow import Link, Workflow, WorkflowNode

_MODES = {"active": 0, "muted": 2, "bypassed": 4}
_DEFAULT_SIZE = [315, 100]


def to_comfy_ui(workflow: Workflow, registry: NodeRegistry) -> dict[str, Any]:
    """The workflow as a ComfyUI UI workflow (version 0.4): loads in ComfyUI and back here unchanged in meaning."""
    ids = _integer_ids(workflow)
    links: list[list[Any]] = []
    nodes: list[dict[str, Any]] = []
    outputs_by_node: dict[str, list[dict[str, Any]]] = {}
    for node_id, node in workflow.nodes.items():
        spec = registry.get(node.class_type)
        outputs_by_node[node_id] = [
            {"name": out.display_name, "type": out.type_name, "links": [], "slot_index": index}
            for index, out in enumerate(spec.outputs if spec else [])
        ]
    auto = _auto_positions(workflow) if any("pos" not in node.ui for node in workflow.nodes.values()) else {}
    for order, (node_id, node) in enumerate(workflow.nodes.items()):
        spec = registry.get(node.class_type)
        inputs = _input_slots(node, spec)
        for slot_index, (slot, link) in enumerate(inputs):
            if link is None:
                continue
            source_outputs = outputs_by_node.get(link.node_id)
            if source_outputs is None:
                slot["link"] = None  # a link to a node that is not there: validation reports it; the UI drops it
                continue
            while len(source_outputs) <= link.output:  # unknown source type: invent the slots it needs
                source_outputs.append({"name": "*", "type": "*", "links": [], "slot_index": len(source_outputs)})
            link_id = len(links) + 1
            kind = source_outputs[link.output]["type"]
            links.append([link_id, ids[link.node_id], link.output, ids[node_id], slot_index, kind])
            source_outputs[link.output]["links"].append(link_id)
            slot["link"] = link_id
        slots = [slot for slot, _ in inputs]
        nodes.append(_ui_node(node, spec, ids[node_id], order, slots, outputs_by_node[node_id], auto.get(node_id)))
    return {
        "last_node_id": max(ids.values(), default=0),
        "last_link_id": len(links),
        "nodes": nodes,
        "links": links,
        "groups": [_group(group, index) for index, group in enumerate(workflow.ui.get("groups") or [])],
        "config": {},
        "extra": {"ds": _ds(workflow.ui.get("view"))},
        "version": 0.4,
    }


def _auto_positions(workflow: Workflow) -> dict[str, list[float]]:
    """Columns by dependency depth for nodes without a position (API prompts), so they do not pile up at 0,0."""
    depth: dict[str, int] = {}
    for _ in range(len(workflow.nodes)):  # relax until stable; bounded so a cycle cannot loop forever
        changed = False
        for node_id, node in workflow.nodes.items():
            level = max((depth.get(link.node_id, 0) + 1 for _, link in node.links()), default=0)
            if depth.get(node_id) != level:
                depth[node_id], changed = level, True
        if not changed:
            break
    rows: dict[int, int] = {}
    positions: dict[str, list[float]] = {}
    for node_id in workflow.nodes:
        column = min(depth.get(node_id, 0), 1000)
        rows[column] = rows.get(column, -1) + 1
        positions[node_id] = [40 + column * 340, 40 + rows[column] * 280]
    return positions


def _integer_ids(workflow: Workflow) -> dict[str, int]:
    if all(node_id.isdigit() for node_id in workflow.nodes):
        return {node_id: int(node_id) for node_id in workflow.nodes}
    return {node_id: index for index, node_id in enumerate(workflow.nodes, start=1)}


def _input_slots(node: WorkflowNode, spec: NodeSpec | None) -> list[tuple[dict[str, Any], Link | None]]:
    """LiteGraph input slots: every socket, plus each widget that is fed by a link."""
    slots: list[tuple[dict[str, Any], Link | None]] = []
    if spec is None:
        for name, linked in node.links():
            slots.append(({"name": name, "type": "*", "link": None}, linked))
        return slots
    ordered = [item for item in spec.inputs if item.section == "required"]
    ordered += [item for item in spec.inputs if item.section == "optional"]
    for item in ordered:
        value = node.inputs.get(item.name)
        link = value if isinstance(value, Link) else None
        if item.is_socket or item.force_input:
            slots.append(({"name": item.name, "type": item.type_name, "link": None}, link))
        elif link is not None:
            slot = {"name": item.name, "type": item.type_name, "widget": {"name": item.name}, "link": None}
            slots.append((slot, link))
    return slots


def _widgets_values(node: WorkflowNode, spec: NodeSpec | None) -> list[Any] | None:
    if spec is None:
        stored = node.ui.get("widgets_values")
        return list(stored) if isinstance(stored, list) else None
    controls = node.ui.get("controls") or {}
    values: list[Any] = []
    for item in widget_inputs(spec):
        default = item.default if item.has_default else None
        value = node.inputs.get(item.name, default)
        values.append(default if isinstance(value, Link) else value)  # a linked widget still shows a value
        if item.seed is not None and item.seed.control_after_generate:
            values.append(controls.get(item.name, "fixed"))
        if item.image_upload:
            values.append("image")
    return values


def _ui_node(
    node: WorkflowNode,
    spec: NodeSpec | None,
    node_id: int,
    order: int,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    auto_position: list[float] | None,
) -> dict[str, Any]:
    ui = node.ui
    entry: dict[str, Any] = {
        "id": node_id,
        "type": node.class_type,
        "pos": list(ui.get("pos") or auto_position or [0, 0]),
        "size": list(ui.get("size") or _DEFAULT_SIZE),
        "flags": {"collapsed": True} if ui.get("collapsed") else {},
        "order": order,
        "mode": _MODES[node.mode],
        "inputs": inputs,
        "outputs": outputs,
        "properties": {"Node name for S&R": node.class_type},
    }
    values = _widgets_values(node, spec)
    if values:
        entry["widgets_values"] = values
    for key in ("title", "color", "bgcolor"):
        if isinstance(ui.get(key), str):
            entry[key] = ui[key]
    return entry


def _group(group: Any, index: int) -> dict[str, Any]:
    group = group if isinstance(group, dict) else {}
    return {
        "id": index + 1,
        "title": group.get("title", "Group"),
        "bounding": list(group.get("bounding") or [0, 0, 100, 100]),
        "color": group.get("color", "#3f789e"),
        "font_size": 24,
        "flags": {},
    }


def _ds(view: Any) -> dict[str, Any]:
    if not isinstance(view, dict) or not view.get("zoom"):
        return {"scale": 1, "offset": [0, 0]}
    zoom = view["zoom"]
    # The inverse of the conversion on load: LiteGraph offset = viewport translation / zoom.
    return {"scale": zoom, "offset": [view.get("x", 0) / zoom, view.get("y", 0) / zoom]}
