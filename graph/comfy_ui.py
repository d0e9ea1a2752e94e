"""Reading ComfyUI's UI ("workflow") files, versions 0.4 and 1, the way its frontend turns them into a prompt.

Widget values are positional there: they are matched to inputs through the schema's input order (required, then
optional), skipping the frontend-only "control after generate" slot after seeds and LoadImage's upload slot.
Reroutes and primitive nodes are resolved, notes dropped, subgraphs flattened; positions, sizes, titles, colours,
groups, the view, reroutes and muted/bypassed modes are kept as layout.
"""

from __future__ import annotations

from typing import Any

from graph.registry import NodeRegistry
from graph.spec import InputSpec, NodeSpec
from graph.subgraphs import Flattener, SubgraphError, link_fields
from graph.workflow import Link, Workflow, WorkflowFormatError, WorkflowNode, json_type, short_repr

#: Values ComfyUI's frontend stores after a seed widget ("control after generate"); never sent to the backend.
CONTROL_AFTER_GENERATE = frozenset({"fixed", "increment", "decrement", "randomize"})
#: Frontend-only node types in UI workflows: never executed.
NOTE_TYPES = frozenset({"Note", "MarkdownNote"})
REROUTE = "Reroute"
PRIMITIVE = "PrimitiveNode"


def widget_inputs(spec: NodeSpec) -> list[InputSpec]:
    """The inputs that have a widget, in ComfyUI's widget order (required section, then optional)."""
    widgets = [item for item in spec.inputs if not item.is_socket and item.section != "hidden" and not item.force_input]
    return [item for item in widgets if item.section == "required"] + [
        item for item in widgets if item.section == "optional"
    ]


def load_ui(data: dict[str, Any], registry: NodeRegistry) -> Workflow:
    """Convert a ComfyUI UI workflow (already recognised by `detect_format`) into a Workflow."""
    ui_nodes: dict[str, dict[str, Any]] = {}
    for raw in data["nodes"]:
        if not isinstance(raw, dict) or "id" not in raw or not isinstance(raw.get("type"), str):
            raise WorkflowFormatError(f"UI workflow: every node needs an id and a type, got {short_repr(raw)}")
        node_id = str(raw["id"])
        if node_id in ui_nodes:
            raise WorkflowFormatError(f"UI workflow: node id {node_id} appears twice", node_id=node_id)
        ui_nodes[node_id] = raw
    links: dict[Any, tuple[str, int, str, int]] = dict(_ui_links(data.get("links") or []))
    definitions = _subgraph_definitions(data)
    if definitions:
        flattener = Flattener(definitions)
        try:
            flattener.flatten(data["nodes"], data.get("links") or [])
        except SubgraphError as error:
            raise WorkflowFormatError(f"UI workflow subgraphs: {error}") from None
        ui_nodes, links = flattener.nodes, flattener.links
    converter = _UiConverter(ui_nodes, links, registry)
    workflow = Workflow()
    reroutes: dict[str, Any] = {}
    for node_id, raw in ui_nodes.items():
        kind = raw["type"]
        if kind == REROUTE and kind not in registry:
            origin = converter.input_link(raw, 0)
            reroutes[node_id] = {"pos": _position(raw.get("pos")), "input": origin}
        elif (kind in NOTE_TYPES or kind == PRIMITIVE) and kind not in registry:
            continue
        else:
            workflow.nodes[node_id] = converter.node(node_id, raw)
    workflow.ui = _ui_layout(data, reroutes)
    return workflow


def _subgraph_definitions(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    definitions = data.get("definitions")
    listed = definitions.get("subgraphs") if isinstance(definitions, dict) else None
    return {
        str(item["id"]): item
        for item in (listed if isinstance(listed, list) else [])
        if isinstance(item, dict) and "id" in item
    }


def _ui_links(raw_links: Any) -> dict[int, tuple[str, int, str, int]]:
    """Link id → (origin id, origin slot, target id, target slot), from arrays (0.4) or objects (1)."""
    if not isinstance(raw_links, list):
        raise WorkflowFormatError(f"UI workflow: links must be an array, got {json_type(raw_links)}")
    links: dict[int, tuple[str, int, str, int]] = {}
    for raw in raw_links:
        try:
            link_id, fields = link_fields(raw)
        except SubgraphError as error:
            raise WorkflowFormatError(f"UI workflow: {error}, got {short_repr(raw)}") from error
        if not isinstance(link_id, int) or isinstance(link_id, bool):
            raise WorkflowFormatError(f"UI workflow: link ids must be integers, got {short_repr(raw)}")
        links[link_id] = fields
    return links


class _UiConverter:
    """Turns one LiteGraph node into a WorkflowNode: widgets by name, links resolved through reroutes/primitives."""

    def __init__(
        self, nodes: dict[str, dict[str, Any]], links: dict[Any, tuple[str, int, str, int]], registry: NodeRegistry
    ) -> None:
        self.nodes = nodes
        self.links = links
        self.registry = registry

    def input_link(self, raw: dict[str, Any], slot: int) -> list[Any] | None:
        """[origin id, origin slot] of what feeds input `slot` of `raw`, or None."""
        inputs = raw.get("inputs") or []
        if slot >= len(inputs) or not isinstance(inputs[slot], dict):
            return None
        link = self.links.get(inputs[slot].get("link"))
        return [link[0], link[1]] if link else None

    def node(self, node_id: str, raw: dict[str, Any]) -> WorkflowNode:
        """The WorkflowNode for LiteGraph node `raw`: widgets by name, links resolved, layout kept."""
        spec = self.registry.get(raw["type"])
        node = WorkflowNode(node_id, raw["type"], {}, _node_layout(raw, spec))
        mode = raw.get("mode", 0)
        node.mode = "muted" if mode == 2 else "bypassed" if mode == 4 else "active"
        values = raw.get("widgets_values")
        if spec is None:
            if values is not None:
                node.ui["widgets_values"] = values  # unknown type: keep them; validation reports the type
        elif isinstance(values, dict):
            for item in widget_inputs(spec):
                if item.name in values:
                    node.inputs[item.name] = values[item.name]
        elif isinstance(values, list):
            self._positional_widgets(node, spec, values)
        elif values is not None:
            raise WorkflowFormatError(
                f"node {node_id} ({raw['type']}): widgets_values must be an array or an object", node_id=node_id
            )
        for slot in raw.get("inputs") or []:
            if isinstance(slot, dict) and slot.get("link") is not None:
                self._link_input(node, slot)
        return node

    def _positional_widgets(self, node: WorkflowNode, spec: NodeSpec, values: list[Any]) -> None:
        position = 0
        controls: dict[str, str] = {}
        for item in widget_inputs(spec):
            if position >= len(values):
                if item.has_default:  # saved before this input existed: the frontend fills in the default
                    node.inputs[item.name] = item.default
                continue
            node.inputs[item.name] = values[position]
            position += 1
            is_seed = item.seed is not None or (item.widget == "INT" and item.name in ("seed", "noise_seed"))
            if is_seed and position < len(values) and values[position] in CONTROL_AFTER_GENERATE:
                controls[item.name] = values[position]
                position += 1
            elif item.image_upload and position < len(values) and values[position] in ("image", "upload", None):
                position += 1
        if controls:
            node.ui["controls"] = controls

    def _link_input(self, node: WorkflowNode, slot: dict[str, Any]) -> None:
        widget = slot.get("widget")
        name = widget["name"] if isinstance(widget, dict) and isinstance(widget.get("name"), str) else slot.get("name")
        link = self.links.get(slot["link"])
        if not isinstance(name, str) or link is None:
            return  # a dangling link id: the frontend drops it too
        origin_id, origin_slot = link[0], link[1]
        seen: set[str] = set()
        while True:
            origin = self.nodes.get(origin_id)
            if origin is None or origin_id in seen:
                return
            seen.add(origin_id)
            kind = origin["type"]
            if kind in self.registry:
                break
            if kind == REROUTE:
                node.ui.setdefault("via", {}).setdefault(name, origin_id)
                upstream = self.input_link(origin, 0)
                if upstream is None:
                    return
                origin_id, origin_slot = upstream
            elif kind == PRIMITIVE:
                primitive_values = origin.get("widgets_values")
                if isinstance(primitive_values, list) and primitive_values:
                    node.inputs[name] = primitive_values[0]
                return
            elif kind in NOTE_TYPES:
                return
            else:
                break  # an unknown type: keep the link, validation names the type
        node.inputs[name] = Link(origin_id, origin_slot)


def _position(pos: Any) -> list[float]:
    if isinstance(pos, list | tuple) and len(pos) >= 2:
        return [pos[0], pos[1]]
    if isinstance(pos, dict):
        return [pos.get("0", 0), pos.get("1", 0)]
    return [0, 0]


def _node_layout(raw: dict[str, Any], spec: NodeSpec | None) -> dict[str, Any]:
    layout: dict[str, Any] = {"pos": _position(raw.get("pos"))}
    size = raw.get("size")
    if isinstance(size, list | tuple) and len(size) >= 2:
        layout["size"] = [size[0], size[1]]
    elif isinstance(size, dict):
        layout["size"] = [size.get("0", 0), size.get("1", 0)]
    title = raw.get("title")
    if isinstance(title, str) and title not in (raw["type"], spec.display_name if spec else None):
        layout["title"] = title
    for key in ("color", "bgcolor"):
        if isinstance(raw.get(key), str):
            layout[key] = raw[key]
    flags = raw.get("flags")
    if isinstance(flags, dict) and flags.get("collapsed"):
        layout["collapsed"] = True
    return layout


def _ui_layout(data: dict[str, Any], reroutes: dict[str, Any]) -> dict[str, Any]:
    groups = []
    for index, group in enumerate(data.get("groups") or []):
        bounding = group.get("bounding") if isinstance(group, dict) else None
        if isinstance(bounding, list) and len(bounding) == 4:
            entry = {"id": f"g{index + 1}", "title": group.get("title", "Group"), "bounding": list(bounding)}
            if isinstance(group.get("color"), str):
                entry["color"] = group["color"]
            groups.append(entry)
    layout: dict[str, Any] = {"groups": groups, "reroutes": reroutes}
    ds = (data.get("extra") or {}).get("ds")
    if isinstance(ds, dict) and isinstance(ds.get("scale"), int | float):
        scale = ds["scale"]
        offset = _position(ds.get("offset"))
        # LiteGraph draws (world + offset) · scale; a viewport transform is world · zoom + (x, y).
        layout["view"] = {"x": offset[0] * scale, "y": offset[1] * scale, "zoom": scale}
    if isinstance(data.get("models"), list):
        layout["models"] = data["models"]
    return layout
