"""Schema export: ComfyUI's `/object_info` shape, field for field (what the editor and ComfyUI clients read)."""

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
        "output_is_list": [False] * len(spec.outputs),  # list outputs (OUTPUT_IS_LIST) are not supported
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
