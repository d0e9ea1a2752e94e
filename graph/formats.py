"""Reading and writing workflow files: the native format, ComfyUI API prompts, ComfyUI UI workflows (0.4 and 1).

    workflow = load_workflow(json.loads(text), REGISTRY)   # any accepted format
    to_api_prompt(workflow)                                  # what ComfyUI's /prompt takes
    to_native(workflow)                                      # our file: the API format plus layout under "ui"

The native and API formats round-trip exactly. UI workflows are converted the way ComfyUI's frontend does before
it queues (widgets by name through `input_order`, reroutes and primitive nodes resolved), keeping positions,
titles, groups, the view, reroutes, and the muted/bypassed modes as layout.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from graph.registry import NodeRegistry
from graph.spec import InputSpec, NodeSpec
from graph.subgraphs import Flattener, SubgraphError
from graph.workflow import Link, NodeMode, Workflow, WorkflowNode, short_repr

NATIVE_FORMAT = "latent-loom/workflow"
NATIVE_VERSION = 1
#: Values ComfyUI's frontend stores after a seed widget ("control after generate"); never sent to the backend.
CONTROL_AFTER_GENERATE = frozenset({"fixed", "increment", "decrement", "randomize"})
#: Frontend-only node types in UI workflows: never executed.
NOTE_TYPES = frozenset({"Note", "MarkdownNote"})
REROUTE = "Reroute"
PRIMITIVE = "PrimitiveNode"
#: JSON nesting allowed by `parse_json` (deeper input would hit Python's recursion limit in json.loads).
MAX_JSON_DEPTH = 64


class WorkflowFormatError(ValueError):
    """The data is not a workflow in any accepted format; the message says where and what was expected."""

    def __init__(self, message: str, *, node_id: str | None = None, input_name: str | None = None) -> None:
        super().__init__(message)
        self.node_id = node_id
        self.input_name = input_name


# ---------------------------------------------------------------------------------------------------- parsing


def parse_json(text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON strictly: duplicate object keys and nesting deeper than `max_depth` are format errors."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise WorkflowFormatError(f"the workflow is not UTF-8 text: {error}") from None
    if text.count("[") + text.count("{") > max_depth:
        _check_depth(text, max_depth)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as error:
        raise WorkflowFormatError(f"invalid JSON: {error}") from None
    except RecursionError:
        raise WorkflowFormatError(f"JSON nested deeper than {max_depth} levels") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise WorkflowFormatError(f"duplicate key {key!r} in a JSON object")
        result[key] = value
    return result


_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _check_depth(text: str, max_depth: int) -> None:
    depth = 0
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > max_depth:
                raise WorkflowFormatError(f"JSON nested deeper than {max_depth} levels")
        elif token in "]}":
            depth -= 1


# ---------------------------------------------------------------------------------------------------- detection


def detect_format(data: Any) -> str:
    """Name the format of parsed JSON: "native", "comfyui-api", "comfyui-ui-v0.4" or "comfyui-ui-v1"."""
    if not isinstance(data, dict):
        raise WorkflowFormatError(f"a workflow is a JSON object, got {_json_type(data)}")
    if "format" in data and not isinstance(data.get("format"), dict):
        if data["format"] != NATIVE_FORMAT:
            raise WorkflowFormatError(
                f"unknown workflow format {short_repr(data['format'])}; expected {NATIVE_FORMAT!r}"
            )
        return "native"
    if isinstance(data.get("nodes"), list):
        version = data.get("version", 0.4)
        if version == 1:
            return "comfyui-ui-v1"
        if isinstance(version, int | float) and not isinstance(version, bool) and version < 1:
            return "comfyui-ui-v0.4"
        raise WorkflowFormatError(f"unsupported ComfyUI UI workflow version {short_repr(version)} (0.4 and 1 are read)")
    for node_id, value in data.items():
        if not isinstance(value, dict):
            raise WorkflowFormatError(
                f"not a workflow: in a ComfyUI API prompt every value is a node object with class_type and inputs, "
                f"but {node_id!r} holds {_json_type(value)}",
                node_id=str(node_id),
            )
    return "comfyui-api"


def _json_type(value: Any) -> str:
    names = {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }
    return "null" if value is None else names.get(type(value), type(value).__name__)


# ---------------------------------------------------------------------------------------------------- loading


def load_workflow(data: Any, registry: NodeRegistry) -> Workflow:
    """Read any accepted format into a `Workflow`; raises WorkflowFormatError naming what is wrong and where."""
    kind = detect_format(data)
    if kind == "native":
        return _load_native(data, registry)
    if kind == "comfyui-api":
        return _load_api(data, registry)
    try:
        return _load_ui(data, registry)
    except WorkflowFormatError:
        raise
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as error:
        # LiteGraph files come from many frontend versions and plugins: a shape we did not foresee is a format
        # error for the client, never a server error.
        raise WorkflowFormatError(f"malformed ComfyUI UI workflow: {type(error).__name__}: {error}") from None


def _load_api(data: dict[str, Any], registry: NodeRegistry) -> Workflow:
    workflow = Workflow()
    for node_id, raw in data.items():
        node = _api_node(str(node_id), raw, data, registry)
        meta = raw.get("_meta")
        if isinstance(meta, dict) and isinstance(meta.get("title"), str):
            node.ui["title"] = meta["title"]
        workflow.nodes[node.node_id] = node
    return workflow


def _load_native(data: dict[str, Any], registry: NodeRegistry) -> Workflow:
    if data.get("version") != NATIVE_VERSION:
        raise WorkflowFormatError(f"unsupported {NATIVE_FORMAT} version {short_repr(data.get('version'))}; expected 1")
    nodes = data.get("nodes")
    if not isinstance(nodes, dict):
        raise WorkflowFormatError(f'"nodes" must be an object keyed by node id, got {_json_type(nodes)}')
    ui = data.get("ui", {})
    if not isinstance(ui, dict):
        raise WorkflowFormatError(f'"ui" must be an object, got {_json_type(ui)}')
    workflow = Workflow(ui=dict(ui))
    for node_id, raw in nodes.items():
        node = _api_node(str(node_id), raw, nodes, registry)
        node_ui = raw.get("ui", {})
        if not isinstance(node_ui, dict):
            raise WorkflowFormatError(
                f'node {node_id}: "ui" must be an object, got {_json_type(node_ui)}', node_id=node_id
            )
        node.ui = dict(node_ui)
        mode = node.ui.pop("mode", "active")
        if mode not in ("active", "muted", "bypassed"):
            raise WorkflowFormatError(
                f'node {node_id}: ui.mode must be "muted" or "bypassed", got {short_repr(mode)}', node_id=node_id
            )
        node.mode = mode
        workflow.nodes[node.node_id] = node
    return workflow


def _api_node(node_id: str, raw: Any, all_nodes: Mapping[str, Any], registry: NodeRegistry) -> WorkflowNode:
    if not isinstance(raw, dict):
        raise WorkflowFormatError(f"node {node_id}: expected an object, got {_json_type(raw)}", node_id=node_id)
    class_type = raw.get("class_type")
    if not isinstance(class_type, str) or not class_type:
        raise WorkflowFormatError(f"node {node_id}: missing class_type (the node type name)", node_id=node_id)
    inputs = raw.get("inputs", {})
    if not isinstance(inputs, dict):
        raise WorkflowFormatError(
            f"node {node_id} ({class_type}): inputs must be an object keyed by input name, got {_json_type(inputs)}",
            node_id=node_id,
        )
    decoded: dict[str, Any] = {}
    for name, value in inputs.items():
        kind = type(value)
        if kind is list and len(value) == 2 and type(value[0]) is str and type(value[1]) is int:
            decoded[name] = Link(value[0], value[1])  # the common case, kept fast for 10,000-node graphs
        elif kind is str or kind is int or kind is float or kind is bool:
            decoded[name] = value
        else:
            decoded[name] = _decode_value(node_id, name, value, all_nodes, registry)
    return WorkflowNode(node_id, class_type, decoded)


def _decode_value(node_id: str, name: str, value: Any, all_nodes: Mapping[str, Any], registry: NodeRegistry) -> Any:
    """A constant, or a `Link` for `["<node id>", <output index or name>]`; lists must be wrapped in __value__."""
    if isinstance(value, list):
        if len(value) == 2 and isinstance(value[0], str):
            return Link(value[0], _output_index(node_id, name, value, all_nodes, registry))
        raise WorkflowFormatError(
            f'node {node_id} input {name!r}: an array is a link ["<node id>", <output index>]; a list value is '
            f'written {{"__value__": [...]}}; got {short_repr(value)}',
            node_id=node_id,
            input_name=name,
        )
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("__value__"), list):
        return list(value["__value__"])
    return value


def _output_index(
    node_id: str, name: str, link: list[Any], all_nodes: Mapping[str, Any], registry: NodeRegistry
) -> int:
    source_id, output = link
    if isinstance(output, int) and not isinstance(output, bool):
        return output
    if isinstance(output, float) and output.is_integer():  # ComfyUI accepts float indices; 0.0 means 0
        return int(output)
    if isinstance(output, str):
        source = all_nodes.get(source_id)
        spec = registry.get(source.get("class_type", "")) if isinstance(source, dict) else None
        if spec is not None:
            for index, out in enumerate(spec.outputs):
                if output in (out.name, out.display_name):
                    return index
            raise WorkflowFormatError(
                f"node {node_id} input {name!r}: node {source_id} ({spec.node_id}) has no output {output!r}; "
                f"its outputs are {[out.name for out in spec.outputs]}",
                node_id=node_id,
                input_name=name,
            )
        raise WorkflowFormatError(
            f"node {node_id} input {name!r}: cannot resolve output {output!r} of node {source_id!r} "
            "(missing node or unknown type); use an output index",
            node_id=node_id,
            input_name=name,
        )
    raise WorkflowFormatError(
        f"node {node_id} input {name!r}: a link's output is an index or a name, got {short_repr(output)}",
        node_id=node_id,
        input_name=name,
    )


# ---------------------------------------------------------------------------------------------------- ComfyUI UI


def widget_inputs(spec: NodeSpec) -> list[InputSpec]:
    """The inputs that have a widget, in ComfyUI's widget order (required section, then optional)."""
    widgets = [item for item in spec.inputs if not item.is_socket and item.section != "hidden" and not item.force_input]
    return [item for item in widgets if item.section == "required"] + [
        item for item in widgets if item.section == "optional"
    ]


def _load_ui(data: dict[str, Any], registry: NodeRegistry) -> Workflow:
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
        raise WorkflowFormatError(f"UI workflow: links must be an array, got {_json_type(raw_links)}")
    links: dict[int, tuple[str, int, str, int]] = {}
    for raw in raw_links:
        if isinstance(raw, list) and len(raw) >= 5:
            link_id, origin, origin_slot, target, target_slot = raw[:5]
        elif isinstance(raw, dict) and {"id", "origin_id", "origin_slot", "target_id", "target_slot"} <= raw.keys():
            link_id, origin, origin_slot = raw["id"], raw["origin_id"], raw["origin_slot"]
            target, target_slot = raw["target_id"], raw["target_slot"]
        else:
            raise WorkflowFormatError(
                "UI workflow: a link is [id, origin_id, origin_slot, target_id, target_slot, type] or an object "
                f"with those fields, got {short_repr(raw)}"
            )
        if not all(
            isinstance(item, int) and not isinstance(item, bool) for item in (link_id, origin_slot, target_slot)
        ):
            raise WorkflowFormatError(f"UI workflow: link ids and slots must be integers, got {short_repr(raw)}")
        links[link_id] = (str(origin), origin_slot, str(target), target_slot)
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


# ---------------------------------------------------------------------------------------------------- writing


def encode_value(value: Any) -> Any:
    """One input as ComfyUI's API format writes it: links as ["id", index], lists wrapped in __value__."""
    if isinstance(value, Link):
        return [value.node_id, value.output]
    if isinstance(value, list | tuple):
        return {"__value__": list(value)}
    return value


def to_api_prompt(workflow: Workflow, registry: NodeRegistry | None = None) -> dict[str, Any]:
    """ComfyUI's API prompt: muted nodes left out, bypassed ones resolved (needs `registry`, default REGISTRY)."""
    from graph.modes import executable_view

    if any(node.mode != "active" for node in workflow.nodes.values()):
        if registry is None:
            from graph.registry import REGISTRY

            registry = REGISTRY
        workflow = executable_view(workflow, registry)
    prompt: dict[str, Any] = {}
    for node_id, node in workflow.nodes.items():
        entry: dict[str, Any] = {
            "inputs": {name: encode_value(value) for name, value in node.inputs.items()},
            "class_type": node.class_type,
        }
        title = node.ui.get("title")
        if isinstance(title, str):
            entry["_meta"] = {"title": title}
        prompt[node_id] = entry
    return prompt


def to_native(workflow: Workflow) -> dict[str, Any]:
    """Our workflow file: API-format nodes with their layout under "ui" (mode included), and the workflow layout."""
    nodes: dict[str, Any] = {}
    for node_id, node in workflow.nodes.items():
        entry: dict[str, Any] = {
            "class_type": node.class_type,
            "inputs": {name: encode_value(value) for name, value in node.inputs.items()},
        }
        ui = dict(node.ui)
        if node.mode != "active":
            ui["mode"] = node.mode
        if ui:
            entry["ui"] = ui
        nodes[node_id] = entry
    native: dict[str, Any] = {"format": NATIVE_FORMAT, "version": NATIVE_VERSION, "nodes": nodes}
    if workflow.ui:
        native["ui"] = dict(workflow.ui)
    return native


__all__ = [
    "NATIVE_FORMAT",
    "NodeMode",
    "WorkflowFormatError",
    "detect_format",
    "encode_value",
    "load_workflow",
    "parse_json",
    "to_api_prompt",
    "to_native",
    "widget_inputs",
]
