"""Workflow formats: native, ComfyUI API prompts, ComfyUI UI workflows 0.4 and 1; round trips; format errors."""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from graph_stubs import STUBS

from graph.formats import (
    WorkflowFormatError,
    detect_format,
    load_workflow,
    parse_json,
    to_api_prompt,
    to_native,
)
from graph.validate import validate
from graph.workflow import Link, Workflow

DATA = Path(__file__).parent / "data"


def read(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def without_meta(prompt: dict[str, Any]) -> dict[str, Any]:
    return {node_id: {k: v for k, v in node.items() if k != "_meta"} for node_id, node in prompt.items()}


def test_detects_every_format() -> None:
    assert detect_format(read("default_api.json")) == "comfyui-api"
    assert detect_format(read("default_ui_v04.json")) == "comfyui-ui-v0.4"
    assert detect_format(read("features_ui_v1.json")) == "comfyui-ui-v1"
    assert detect_format({"format": "latent-loom/workflow", "version": 1, "nodes": {}}) == "native"


@pytest.mark.parametrize("data", [[1, 2], "text", 5, None])
def test_top_level_must_be_an_object(data: Any) -> None:
    with pytest.raises(WorkflowFormatError, match="JSON object"):
        detect_format(data)


def test_api_prompt_round_trips_exactly() -> None:
    prompt = read("default_api.json")
    workflow = load_workflow(copy.deepcopy(prompt), STUBS)
    assert workflow["3"].inputs["model"] == Link("4", 0)
    assert workflow["3"].ui == {"title": "KSampler"}
    assert to_api_prompt(workflow) == prompt


def test_native_round_trips_exactly() -> None:
    native = {
        "format": "latent-loom/workflow",
        "version": 1,
        "nodes": {
            "1": {"class_type": "Const", "inputs": {"value": 2}, "ui": {"pos": [10, 20], "title": "two"}},
            "2": {
                "class_type": "Inc",
                "inputs": {"x": ["1", 0], "by": 3},
                "ui": {"pos": [300, 20], "mode": "bypassed"},
            },
            "3": {"class_type": "Show", "inputs": {"x": ["2", 0], "label": "x"}},
            "4": {"class_type": "Scale", "inputs": {"x": ["1", 0], "note": {"__value__": ["a", 1]}}},
        },
        "ui": {"groups": [{"id": "g1", "title": "G", "bounding": [0, 0, 10, 10]}], "view": {"x": 1, "y": 2, "zoom": 1}},
    }
    workflow = load_workflow(copy.deepcopy(native), STUBS)
    assert workflow["2"].mode == "bypassed"
    assert workflow["4"].inputs["note"] == ["a", 1]  # __value__ unwrapped in memory
    assert to_native(workflow) == native
    assert to_native(load_workflow(to_native(workflow), STUBS)) == native


def test_native_links_may_name_the_output() -> None:
    native: dict[str, Any] = {
        "format": "latent-loom/workflow",
        "version": 1,
        "nodes": {
            "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
            "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "x", "clip": ["4", "clip"]}},
            "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "x", "clip": ["4", "CLIP"]}},
        },
    }
    workflow = load_workflow(native, STUBS)
    assert workflow["6"].inputs["clip"] == Link("4", 1) == workflow["7"].inputs["clip"]
    native["nodes"]["7"]["inputs"]["clip"] = ["4", "nope"]
    with pytest.raises(WorkflowFormatError, match=r"node 7 input 'clip'.*no output 'nope'"):
        load_workflow(native, STUBS)


def test_default_ui_v04_converts_like_the_frontend() -> None:
    workflow = load_workflow(read("default_ui_v04.json"), STUBS)
    assert without_meta(to_api_prompt(workflow)) == without_meta(read("default_api.json"))
    assert workflow["3"].ui["controls"] == {"seed": "randomize"}  # the control_after_generate slot was skipped
    assert workflow["3"].ui["pos"] == [863, 186]
    assert workflow.ui["view"] == {"x": 0, "y": 0, "zoom": 1}
    assert validate(workflow, STUBS) == []


def test_ui_v1_with_reroute_primitive_mute_bypass_note_groups() -> None:
    workflow = load_workflow(read("features_ui_v1.json"), STUBS)
    assert to_api_prompt(workflow, STUBS) == read("features_expected_api.json")
    # layout survives: titles, positions, colours, groups, view, reroutes, modes, seed controls
    assert workflow["5"].ui["title"] == "Main sampler"
    assert workflow["2"].ui["color"] == "#232"
    assert workflow["3"].ui["collapsed"] is True
    assert workflow["10"].mode == "muted"
    assert workflow["15"].mode == "bypassed"
    assert workflow["15"].inputs == {"by": 5, "x": Link("14", 0)}
    assert workflow["8"].ui["via"] == {"vae": "7"}
    assert workflow.ui["reroutes"] == {"7": {"pos": [1000, 450], "input": ["1", 2]}}
    assert workflow.ui["groups"] == [
        {"id": "g1", "title": "Prompt", "bounding": [380, 40, 460, 460], "color": "#3f789e"}
    ]
    assert workflow.ui["view"] == {"x": 50.0, "y": -25.0, "zoom": 0.5}
    assert "11" not in workflow and "6" not in workflow and "7" not in workflow
    assert validate(workflow, STUBS) == []
    # native keeps everything, including muted and bypassed nodes, and is stable
    native = to_native(workflow)
    assert native["nodes"]["10"]["ui"]["mode"] == "muted"
    again = to_native(load_workflow(json.loads(json.dumps(native)), STUBS))
    assert again == native
    assert to_api_prompt(load_workflow(native, STUBS), STUBS) == read("features_expected_api.json")


def test_ui_links_as_arrays_and_objects_agree() -> None:
    data = read("features_ui_v1.json")
    as_arrays = copy.deepcopy(data)
    as_arrays["links"] = [
        [lk["id"], lk["origin_id"], lk["origin_slot"], lk["target_id"], lk["target_slot"], lk["type"]]
        for lk in data["links"]
    ]
    as_arrays["version"] = 0.4
    assert to_api_prompt(load_workflow(as_arrays, STUBS), STUBS) == to_api_prompt(load_workflow(data, STUBS), STUBS)


def test_ui_short_widgets_values_take_defaults_and_dict_widgets_values_work() -> None:
    data = read("default_ui_v04.json")
    sampler = next(n for n in data["nodes"] if n["id"] == 3)
    sampler["widgets_values"] = [5, "fixed", 20]
    latent = next(n for n in data["nodes"] if n["id"] == 5)
    latent["widgets_values"] = {"width": 640, "height": 384, "batch_size": 1}
    workflow = load_workflow(data, STUBS)
    assert workflow["3"].inputs["seed"] == 5
    assert workflow["3"].inputs["cfg"] == 8.0 and workflow["3"].inputs["denoise"] == 1.0
    assert workflow["5"].inputs == {"width": 640, "height": 384, "batch_size": 1}


def test_ui_bypass_of_a_chain_and_of_a_node_without_matching_input() -> None:
    data = read("features_ui_v1.json")
    show = next(n for n in data["nodes"] if n["id"] == 16)
    assert show["inputs"][0]["link"] == 15
    # bypassing the source itself (Const has no input) leaves the consumer without its required input
    const = next(n for n in data["nodes"] if n["id"] == 14)
    const["mode"] = 4
    workflow = load_workflow(data, STUBS)
    assert "x" not in to_api_prompt(workflow, STUBS)["16"]["inputs"]
    issues = validate(workflow, STUBS)
    assert [(i.node_id, i.type, i.input_name) for i in issues] == [("16", "required_input_missing", "x")]


def test_ui_unknown_type_is_kept_for_validation_to_report() -> None:
    data = read("default_ui_v04.json")
    data["nodes"][0]["type"] = "FancyCustomNode"
    workflow = load_workflow(data, STUBS)
    assert workflow["7"].class_type == "FancyCustomNode"
    assert workflow["7"].ui["widgets_values"] == ["text, watermark"]
    issues = validate(workflow, STUBS)
    assert issues[0].type == "unknown_node_type" and issues[0].node_id == "7"


def test_ui_subgraphs_are_flattened_with_comfyui_ids() -> None:
    workflow = load_workflow(read("subgraph_ui_v1.json"), STUBS)
    prompt = to_api_prompt(workflow, STUBS)
    assert sorted(prompt) == sorted(["1", "10:1", "10:2:1", "4", "5", "8", "9"])
    assert prompt["10:1"]["inputs"] == {"text": "a castle on a hill", "clip": ["1", 1]}
    assert prompt["10:2:1"]["inputs"] == {"text": "blurry, watermark", "clip": ["1", 1]}
    assert prompt["5"]["inputs"]["positive"] == ["10:1", 0]
    assert prompt["5"]["inputs"]["negative"] == ["10:2:1", 0]
    assert validate(workflow, STUBS) == []


@pytest.mark.parametrize(("mode", "state"), [(2, "muted"), (4, "bypassed")])
def test_a_muted_or_bypassed_subgraph_feeds_nothing_here(mode: int, state: str) -> None:
    data = read("subgraph_ui_v1.json")
    next(n for n in data["nodes"] if n["id"] == 10)["mode"] = mode  # no CLIP → CONDITIONING pass-through
    workflow = load_workflow(data, STUBS)
    assert workflow["10:1"].mode == "muted" and workflow["10:2:1"].mode == "muted"
    issues = validate(workflow, STUBS)
    assert sorted((i.node_id, i.type, i.input_name) for i in issues) == [
        ("5", "required_input_missing", "negative"),
        ("5", "required_input_missing", "positive"),
    ]


def test_a_subgraph_that_contains_itself_is_a_format_error() -> None:
    data = read("subgraph_ui_v1.json")
    inner = data["definitions"]["subgraphs"][1]
    inner["nodes"][0]["type"] = inner["id"]
    with pytest.raises(WorkflowFormatError, match="nest deeper than"):
        load_workflow(data, STUBS)


@pytest.mark.parametrize(
    ("prompt", "match"),
    [
        ({"3": {"inputs": {}}}, "node 3: missing class_type"),
        ({"3": {"class_type": "Const", "inputs": []}}, "inputs must be an object"),
        ({"3": {"class_type": "Show", "inputs": {"x": [4, 0]}}}, r"node 3 input 'x': an array is a link"),
        ({"3": {"class_type": "Show", "inputs": {"x": ["4", True]}}}, "a link's output is an index or a name"),
        ({"3": "KSampler"}, "holds a string"),
        ({"format": "other/thing"}, "unknown workflow format"),
        ({"format": "latent-loom/workflow", "version": 7, "nodes": {}}, "version 7"),
        ({"nodes": [{"id": 1}], "links": []}, "needs an id and a type"),
        ({"nodes": [], "links": [[1, 2]]}, "a link is"),
        ({"nodes": [], "links": [], "version": 2}, "unsupported ComfyUI UI workflow version 2"),
    ],
)
def test_format_errors_name_the_problem(prompt: Any, match: str) -> None:
    with pytest.raises(WorkflowFormatError, match=match):
        load_workflow(prompt, STUBS)


def test_api_float_link_index_and_value_wrapping() -> None:
    workflow = load_workflow(
        {"1": {"class_type": "Const", "inputs": {}}, "2": {"class_type": "Show", "inputs": {"x": ["1", 0.0]}}}, STUBS
    )
    assert workflow["2"].inputs["x"] == Link("1", 0)
    wrapped = {"1": {"class_type": "Scale", "inputs": {"note": {"__value__": [1, 2, 3]}, "extra": {"a": 1}}}}
    assert to_api_prompt(load_workflow(copy.deepcopy(wrapped), STUBS)) == wrapped


def test_parse_json_rejects_duplicates_depth_and_garbage() -> None:
    assert parse_json('{"a": [1, 2]}') == {"a": [1, 2]}
    with pytest.raises(WorkflowFormatError, match="duplicate key '3'"):
        parse_json('{"3": {}, "3": {}}')
    with pytest.raises(WorkflowFormatError, match="nested deeper"):
        parse_json("[" * 10_000 + "]" * 10_000)
    with pytest.raises(WorkflowFormatError, match="invalid JSON"):
        parse_json("{not json")
    with pytest.raises(WorkflowFormatError, match="UTF-8"):
        parse_json(b"\xff\xfe")
    # brackets inside strings do not count as nesting
    assert parse_json(json.dumps({"text": "[" * 500})) == {"text": "[" * 500}


def test_workflow_model_basics() -> None:
    workflow = Workflow()
    workflow.add(load_workflow({"1": {"class_type": "Const", "inputs": {}}}, STUBS)["1"])
    with pytest.raises(ValueError, match="already"):
        workflow.add(workflow["1"])
    clone = workflow.copy()
    clone["1"].inputs["value"] = 5
    assert workflow["1"].inputs == {}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["nodes"][0].__setitem__("inputs", "clip"),
        lambda d: d["nodes"][0].__setitem__("inputs", [{"name": "clip", "link": [5]}]),
        lambda d: d["nodes"][0].__setitem__("widgets_values", 7),
        lambda d: d.__setitem__("definitions", ["x"]),
        lambda d: d.__setitem__("groups", "none"),
        lambda d: d.__setitem__("extra", []),
        lambda d: d["nodes"][0].__setitem__("pos", None),
        lambda d: d.__setitem__("links", {"1": 2}),
    ],
)
def test_malformed_ui_workflows_are_format_errors_or_load(mutate: Any) -> None:
    data = read("default_ui_v04.json")
    mutate(data)
    with contextlib.suppress(WorkflowFormatError):  # a clear 400, never a TypeError/AttributeError 500
        load_workflow(data, STUBS)


def test_an_unreadable_workflow_becomes_comfyuis_error_shape_blaming_the_node_when_known() -> None:
    from graph.comfy_errors import error_body, format_error_response

    blamed = format_error_response(WorkflowFormatError("node 7: 'inputs' must be an object", node_id="7",
                                                       input_name="seed"))  # fmt: skip
    assert blamed["error"] == {
        "type": "invalid_prompt", "message": "node 7: 'inputs' must be an object", "details": "", "extra_info": {},
    }  # fmt: skip
    assert blamed["node_errors"] == {"7": {
        "errors": [{"type": "invalid_prompt", "message": "node 7: 'inputs' must be an object",
                    "details": "node 7: 'inputs' must be an object", "extra_info": {"input_name": "seed"}}],
        "dependent_outputs": [], "class_type": None,
    }}  # fmt: skip
    anonymous = format_error_response(WorkflowFormatError("a workflow is a JSON object, got an array"))
    assert anonymous["node_errors"] == {} and anonymous["error"]["type"] == "invalid_prompt"
    unnamed_input = format_error_response(WorkflowFormatError("bad", node_id="3"))
    assert unnamed_input["node_errors"]["3"]["errors"][0]["extra_info"] == {}
    assert error_body("t", "m", code=True)["error"] == {"type": "t", "message": "m", "extra_info": {}, "code": "t"}
    assert error_body("t", "m", "d", code=True)["error"]["details"] == "d"
    assert error_body("t", "m", "d", extra_info={"a": 1}, node_errors={"1": {}}) == {
        "error": {"type": "t", "message": "m", "details": "d", "extra_info": {"a": 1}}, "node_errors": {"1": {}},
    }  # fmt: skip


def test_a_workflow_copy_is_equal_and_independent() -> None:
    from graph.workflow import Workflow, WorkflowNode

    original = Workflow(
        {"1": WorkflowNode("1", "Const", {"value": 3}, {"title": "three", "pos": [1, 2]}, "bypassed")},
        ui={"groups": [], "view": {"zoom": 2}},
    )
    duplicate = original.copy()
    assert duplicate == original and duplicate is not original
    node = duplicate.nodes["1"]
    assert (node.node_id, node.class_type, node.inputs, node.ui, node.mode) == (
        "1", "Const", {"value": 3}, {"title": "three", "pos": [1, 2]}, "bypassed",
    )  # fmt: skip
    node.inputs["value"] = 4
    node.ui["title"] = "four"
    duplicate.ui["view"] = {}
    duplicate.nodes["2"] = WorkflowNode("2", "Show", {})
    assert original.nodes["1"].inputs == {"value": 3} and original.nodes["1"].ui["title"] == "three"
    assert original.ui["view"] == {"zoom": 2} and list(original.nodes) == ["1"]


def test_comfyui_error_bodies_field_for_field() -> None:
    from graph.comfy_errors import comfy_error_response
    from graph.issues import ValidationIssue

    missing = ValidationIssue("required_input_missing", "node 3 (KSampler) input 'model': required input is missing",
                              "3", "KSampler", "model", "a link from a MODEL output", None, ("9",),
                              {"linked_node": ["4", 0], "ratio": float("nan")})  # fmt: skip
    odd = ValidationIssue("brand_new_check", "node 3 (KSampler): odd", "3", "KSampler", "seed", 1.5, (1, 2))
    body = comfy_error_response([missing, odd])
    assert body == {
        "error": {
            "type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
            "details": "Required input is missing: node 3 (KSampler) input 'model': required input is missing\n"
                       "brand_new_check: node 3 (KSampler): odd",
            "extra_info": {},
        },
        "node_errors": {"3": {
            "errors": [
                {"type": "required_input_missing", "message": "Required input is missing",
                 "details": "node 3 (KSampler) input 'model': required input is missing",
                 "extra_info": {"input_name": "model", "expected": "a link from a MODEL output", "received_value": None,
                                "linked_node": ["4", 0], "ratio": "nan", "input_config": None}},
                {"type": "brand_new_check", "message": "brand_new_check", "details": "node 3 (KSampler): odd",
                 "extra_info": {"input_name": "seed", "expected": 1.5, "received_value": [1, 2],
                                "input_config": None}},
            ],
            "dependent_outputs": ["9"], "class_type": "KSampler",
        }},
    }  # fmt: skip
    configured = ValidationIssue("value_not_in_list", "m", "5", "X", "a", extra={"input_config": ["COMBO", {}]})
    # Kept as given (made JSON-safe: objects that are not lists or scalars are shown short).
    assert comfy_error_response([configured])["node_errors"]["5"]["errors"][0]["extra_info"]["input_config"] == [
        "COMBO", "{}"]  # fmt: skip


def test_comfyui_top_level_errors_for_whole_prompt_problems() -> None:
    from graph.comfy_errors import comfy_error_response
    from graph.issues import ValidationIssue

    unknown = ValidationIssue("unknown_node_type", "node 7: no such type", "7", "Nope")
    assert comfy_error_response([unknown])["error"] == {
        "type": "invalid_prompt", "message": "Cannot execute because node Nope does not exist.",
        "details": "Node ID '#7'", "extra_info": {},
    }  # fmt: skip
    for kind in ("too_many_nodes", "invalid_target"):
        node_id = "1" if kind == "invalid_target" else None
        body = comfy_error_response([ValidationIssue(kind, f"{kind} said so", node_id)])
        expected = {"type": "invalid_prompt", "message": f"{kind} said so", "details": "", "extra_info": {}}
        assert body["error"] == expected
    empty = comfy_error_response([ValidationIssue("prompt_no_outputs", "nothing to run", None)])
    assert empty == {"error": {"type": "prompt_no_outputs", "message": "Prompt has no outputs",
                               "details": "nothing to run", "extra_info": {}}, "node_errors": {}}  # fmt: skip
    with_node = comfy_error_response([ValidationIssue("prompt_no_outputs", "muted", "4", "SaveImage")])
    assert with_node["node_errors"] == {} and with_node["error"]["type"] == "prompt_no_outputs"
    many = comfy_error_response([ValidationIssue("too_many_nodes", "too many", "2", "X")])
    assert many["node_errors"] == {}
