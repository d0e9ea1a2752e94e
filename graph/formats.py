"""Reading and writing workflow files: the native format, ComfyUI API prompts, ComfyUI UI workflows (0.4 and 1).

    workflow = load_workflow(parse_json(text), registry)   # any accepted format
    to_api_prompt(workflow)                                  # what ComfyUI's /prompt takes
    to_native(workflow)                                      # our file: the API format plus layout under "ui"

The native and API formats round-trip exactly. UI workflows are converted the way ComfyUI's frontend does before
it queues (widgets by name through `input_order`, reroutes and primitive nodes resolved), keeping positions,
titles, groups, the view, reroutes, and the muted/bypassed modes as layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graph.comfy_ui import load_ui, widget_inputs
from graph.registry import NodeRegistry
from graph.strict_json import MAX_JSON_DEPTH, JsonError, loads_strict
from graph.workflow import Link, NodeMode, Workflow, WorkflowFormatError, WorkflowNode, json_type, short_repr

NATIVE_FORMAT = "latent-loom/workflow"
NATIVE_VERSION = 1


# ---------------------------------------------------------------------------------------------------- parsing


def parse_json(text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A workflow document through the one strict reader (graph/strict_json.py); its errors are format errors.

    NaN and ±Infinity are decoded so that validation refuses them where they are, naming the node and input.
    """
    try:
        return loads_strict(text, max_depth=max_depth, non_finite=True)
    except JsonError as error:
        detail = f" ({error.detail})" if error.detail else ""
        raise WorkflowFormatError(f"invalid JSON: {error.message}{detail}") from None


# ---------------------------------------------------------------------------------------------------- detection


def detect_format(data: Any) -> str:
    """Name the format of parsed JSON: "native", "comfyui-api", "comfyui-ui-v0.4" or "comfyui-ui-v1"."""
    if not isinstance(data, dict):
        raise WorkflowFormatError(f"a workflow is a JSON object, got {json_type(data)}")
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
                f"but {node_id!r} holds {json_type(value)}",
                node_id=str(node_id),
            )
    return "comfyui-api"


# ---------------------------------------------------------------------------------------------------- loading


def load_workflow(data: Any, registry: NodeRegistry) -> Workflow:
    """Read any accepted format into a `Workflow`; raises WorkflowFormatError naming what is wrong and where."""
    kind = detect_format(data)
    if kind == "native":
        return _load_native(data, registry)
    if kind == "comfyui-api":
        return _load_api(data, registry)
    try:
        return load_ui(data, registry)
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
        raise WorkflowFormatError(f'"nodes" must be an object keyed by node id, got {json_type(nodes)}')
    ui = data.get("ui", {})
    if not isinstance(ui, dict):
        raise WorkflowFormatError(f'"ui" must be an object, got {json_type(ui)}')
    workflow = Workflow(ui=dict(ui))
    for node_id, raw in nodes.items():
        node = _api_node(str(node_id), raw, nodes, registry)
        node_ui = raw.get("ui", {})
        if not isinstance(node_ui, dict):
            raise WorkflowFormatError(
                f'node {node_id}: "ui" must be an object, got {json_type(node_ui)}', node_id=node_id
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
        raise WorkflowFormatError(f"node {node_id}: expected an object, got {json_type(raw)}", node_id=node_id)
    class_type = raw.get("class_type")
    if not isinstance(class_type, str) or not class_type:
        raise WorkflowFormatError(f"node {node_id}: missing class_type (the node type name)", node_id=node_id)
    inputs = raw.get("inputs", {})
    if not isinstance(inputs, dict):
        raise WorkflowFormatError(
            f"node {node_id} ({class_type}): inputs must be an object keyed by input name, got {json_type(inputs)}",
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
