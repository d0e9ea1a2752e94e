"""Schema export: ComfyUI's `/object_info` shape, and a richer schema of our own for the editor."""

from __future__ import annotations

from typing import Any

from graph.spec import InputSpec, NodeSpec


def object_info(spec: NodeSpec) -> dict[str, Any]:
    """One node in ComfyUI's `/object_info` shape (field for field; see comfyui-compat.md §1.4)."""
    sections: dict[str, dict[str, Any]] = {"required": {}}
    order: dict[str, list[str]] = {"required": []}
    for item in spec.inputs:
        sections.setdefault(item.section, {})[item.name] = _comfy_input(item)
        order.setdefault(item.section, []).append(item.name)
    info: dict[str, Any] = {
        "input": sections,
        "input_order": order,
        "output": [output.type_name for output in spec.outputs],
        "output_is_list": [output.is_list for output in spec.outputs],
        "output_name": [output.display_name for output in spec.outputs],
        "name": spec.node_id,
        "display_name": spec.display_name,
        "description": spec.description,
        "python_module": spec.module,
        "category": spec.category,
        "output_node": spec.output_node,
    }
    tooltips = [output.tooltip or "" for output in spec.outputs]
    if any(tooltips):
        info["output_tooltips"] = tooltips
    if spec.deprecated:
        info["deprecated"] = True
    return info


def _comfy_input(item: InputSpec) -> Any:
    if item.section == "hidden":
        return item.type_name
    options: dict[str, Any] = {}
    if item.has_default and item.default is not None:
        options["default"] = item.default
    if item.range is not None:
        options["min"] = item.range.min
        options["max"] = item.range.max
        if item.range.step is not None:
            options["step"] = item.range.step
        if item.range.round is not None:
            options["round"] = item.range.round
        if item.range.display != "number":
            options["display"] = item.range.display
    if item.text is not None:
        if item.text.multiline:
            options["multiline"] = True
        if item.text.dynamic_prompts:
            options["dynamicPrompts"] = True
        if item.text.placeholder:
            options["placeholder"] = item.text.placeholder
    if item.seed is not None and item.seed.control_after_generate:
        options["control_after_generate"] = True
    if item.toggle is not None:
        options["label_on"] = item.toggle.label_on
        options["label_off"] = item.toggle.label_off
    if item.image_upload:
        options["image_upload"] = True
    if item.force_input:
        options["forceInput"] = True
    if item.tooltip:
        options["tooltip"] = item.tooltip
    if item.widget == "COMBO":
        return [item.combo_options(), options] if options else [item.combo_options()]
    return [item.type_name, options] if options else [item.type_name]


def rich_schema(spec: NodeSpec) -> dict[str, Any]:
    """Our editor's schema: every input with its kind and limits by name, outputs by name, effects and version."""
    inputs = []
    for item in spec.inputs:
        if item.section == "hidden":
            continue
        entry: dict[str, Any] = {
            "name": item.name,
            "type": item.type_name,
            "kind": "socket" if item.is_socket else "widget",
            "optional": item.section == "optional",
        }
        if item.has_default and item.default is not None:
            entry["default"] = item.default
        if item.range is not None:
            entry["range"] = {
                "min": item.range.min,
                "max": item.range.max,
                "step": item.range.step,
                "round": item.range.round,
                "display": item.range.display,
            }
        if item.widget == "COMBO":
            entry["options"] = item.combo_options()
            if item.choices is not None:
                entry["options_source"] = item.choices.source
        if item.text is not None:
            entry["text"] = {"multiline": item.text.multiline, "max_length": item.text.max_length}
        if item.seed is not None:
            entry["seed"] = {"control_after_generate": item.seed.control_after_generate}
        if item.image_upload:
            entry["image_upload"] = True
        if item.force_input:
            entry["force_input"] = True
        if item.tooltip:
            entry["tooltip"] = item.tooltip
        inputs.append(entry)
    return {
        "id": spec.node_id,
        "display_name": spec.display_name,
        "category": spec.category,
        "description": spec.description,
        "version": spec.version,
        "inputs": inputs,
        "outputs": [
            {"name": output.name, "label": output.display_name, "type": output.type_name}
            for output in spec.outputs
        ],
        "output_node": spec.output_node,
        "effects": sorted(flag.name or "" for flag in type(spec.effects) if flag in spec.effects),
        "deprecated": spec.deprecated,
    }
