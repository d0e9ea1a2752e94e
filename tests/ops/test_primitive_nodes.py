"""Primitives, StringConcatenate, ComfyUI's switch and PreviewAny; a real template's widget-to-input links
and frontend PrimitiveNodes converted and run."""

from __future__ import annotations

import json
from typing import Any

import pytest

from graph.executor import Executor, InterruptFlag
from graph.formats import load_workflow, to_api_prompt
from graph.registry import REGISTRY
from graph.workflow import Link
from nodes import load_catalog
from nodes.logic import preview_any, preview_text, switch_node
from nodes.primitives import (
    primitive_boolean,
    primitive_float,
    primitive_int,
    primitive_string,
    primitive_string_multiline,
    string_concatenate,
)

load_catalog()


def corpus_template(name: str) -> dict[str, Any]:
    templates = pytest.importorskip("bench.templates")
    pytest.importorskip(templates.CORPUS_PACKAGE)
    data: dict[str, Any] = json.loads((templates.corpus_dir() / f"{name}.json").read_text())
    return data


def test_primitives_pass_their_value() -> None:
    assert primitive_int(-7).int == -7
    assert primitive_float(2.5).float == 2.5 and type(primitive_float(3).float) is float
    assert primitive_string("a").string == "a" and primitive_string_multiline("a\nb").string == "a\nb"
    assert primitive_boolean(True).boolean is True
    assert string_concatenate("a", "b", ", ").string == "a, b" and string_concatenate("a", "b").string == "ab"


def test_switch_and_preview() -> None:
    assert switch_node(True, "off", "on").output == "on" and switch_node(False, "off", "on").output == "off"
    assert preview_any({"a": 1}).ui == {"text": [json.dumps({"a": 1}, indent=4)]}
    assert preview_text(3) == "3" and preview_text(None) == "None" and preview_text(object()) == "<object>"


def test_schemas_follow_comfyui() -> None:
    int_spec, float_spec = REGISTRY.get("PrimitiveInt"), REGISTRY.get("PrimitiveFloat")
    assert int_spec is not None and float_spec is not None
    value = int_spec.inputs[0]
    assert value.range is not None and value.seed is not None and value.range.max == 2**63 - 1
    assert float_spec.inputs[0].range is not None and float_spec.inputs[0].range.step == 0.1
    switch = REGISTRY.get("ComfySwitchNode")
    assert switch is not None
    assert [(i.name, i.type_name, i.section) for i in switch.inputs] == [
        ("switch", "BOOLEAN", "required"), ("on_false", "*", "required"), ("on_true", "*", "required")]
    assert [o.type_name for o in switch.outputs] == ["*"]
    concat = REGISTRY.get("StringConcatenate")
    assert concat is not None and [i.name for i in concat.inputs] == ["string_a", "string_b", "delimiter"]


def test_switch_template_converts_links_into_widgets_and_runs() -> None:
    """ComfyUI's basic_switch_node template: primitives feed widgets converted to inputs and switches."""
    workflow = load_workflow(corpus_template("basic_switch_node"), REGISTRY)
    assert workflow.nodes["65"].inputs["switch"] == Link("66", 0)  # PrimitiveBoolean -> widget input
    assert workflow.nodes["1"].inputs["switch"] is False  # the widget's own value
    assert workflow.nodes["1"].inputs["on_false"] == Link("3", 0)
    events: list[Any] = []
    result = Executor(REGISTRY).run(workflow, job_id="t", emit=events.append, interrupt=InterruptFlag(),
                                    targets=["4", "8"])
    assert result.status == "succeeded", (result.error, result.issues)
    # switch 1 is off: on_false (node 3, "false"); switch 5 is on: on_true (node 6, "true")
    assert result.outputs["4"] == {"text": ["false"]} and result.outputs["8"] == {"text": ["true"]}


def test_frontend_primitive_node_feeds_any_widget() -> None:
    """A frontend-only PrimitiveNode's value replaces the widget it is linked to; the node itself disappears."""
    ui = {
        "version": 0.4,
        "nodes": [
            {"id": 1, "type": "PrimitiveNode", "widgets_values": [3, "fixed"], "outputs": [{"links": [1]}]},
            {"id": 2, "type": "PrimitiveNode", "widgets_values": ["xor"], "outputs": [{"links": [2]}]},
            {"id": 3, "type": "MaskComposite", "widgets_values": [0, 0, "add"],
             "inputs": [{"name": "x", "type": "INT", "widget": {"name": "x"}, "link": 1},
                        {"name": "operation", "type": "COMBO", "widget": {"name": "operation"}, "link": 2}]},
        ],
        "links": [[1, 1, 0, 3, 0, "INT"], [2, 2, 0, 3, 1, "COMBO"]],
    }
    prompt = to_api_prompt(load_workflow(ui, REGISTRY))
    assert set(prompt) == {"3"}
    assert prompt["3"]["inputs"] == {"x": 3, "y": 0, "operation": "xor"}
