"""Strict validation: every error names node, input, expected and received; ComfyUI's error shapes."""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path
from typing import Any

import graph_stubs
import pytest
from graph_stubs import STUBS

from graph.formats import load_workflow
from graph.validate import Limits, ValidationIssue, check_value, comfy_error_response, validate
from graph.workflow import Workflow

DEFAULT: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "default_api.json").read_text())


def prompt_with(node_id: str, **inputs: Any) -> dict[str, Any]:
    prompt: dict[str, Any] = copy.deepcopy(DEFAULT)
    for name, value in inputs.items():
        if value is ...:
            del prompt[node_id]["inputs"][name]
        else:
            prompt[node_id]["inputs"][name] = value
    return prompt


def check(prompt: dict[str, Any], **kwargs: Any) -> list[ValidationIssue]:
    return validate(load_workflow(prompt, STUBS), STUBS, **kwargs)


def only(issues: list[ValidationIssue]) -> ValidationIssue:
    assert len(issues) == 1, [i.message for i in issues]
    return issues[0]


def test_the_default_graph_is_valid() -> None:
    assert check(DEFAULT) == []


@pytest.mark.parametrize(
    ("node_id", "name", "value", "code", "fragment"),
    [
        ("3", "steps", 5.7, "invalid_input_type", "expected an integer, received a float 5.7"),
        ("3", "steps", "5", "invalid_input_type", "received a string '5'"),
        ("3", "steps", True, "invalid_input_type", "received a boolean True"),
        ("3", "steps", None, "invalid_input_type", "received null"),
        ("3", "cfg", "8", "invalid_input_type", "expected a number"),
        ("3", "cfg", False, "invalid_input_type", "received a boolean False"),
        ("3", "cfg", math.nan, "value_not_finite", "nan"),
        ("3", "cfg", math.inf, "value_not_finite", "inf"),
        ("3", "cfg", -math.inf, "value_not_finite", "-inf"),
        ("3", "steps", 0, "value_smaller_than_min", "smaller than the minimum 1"),
        ("3", "steps", 10001, "value_bigger_than_max", "bigger than the maximum 10000"),
        ("3", "denoise", 1.5, "value_bigger_than_max", "maximum 1"),
        ("3", "denoise", 0.555, "value_off_step_grid", "nearest valid values are 0.55 or 0.56"),
        ("5", "width", 513, "value_off_step_grid", "nearest valid values are 512 or 520"),
        ("3", "seed", -1, "value_smaller_than_min", "minimum 0"),
        ("3", "seed", 2**64, "value_bigger_than_max", "maximum 18446744073709551615"),
        ("3", "seed", 1.0, "invalid_input_type", "expected an integer"),
        ("3", "sampler_name", "euler2", "value_not_in_list", "valid values: 'euler', 'euler_ancestral'"),
        ("3", "sampler_name", 1, "value_not_in_list", "value 1 is not in the list"),
        ("4", "ckpt_name", "../../etc/passwd", "value_not_in_list", "may not leave its folder"),
        ("4", "ckpt_name", "/abs/path", "value_not_in_list", "among the checkpoints"),
        ("4", "ckpt_name", "C:\\x", "value_not_in_list", "may not leave its folder"),
        ("4", "ckpt_name", "%2e%2e/x", "value_not_in_list", "may not leave its folder"),
        ("6", "text", "x" * 1001, "value_too_long", "1001 characters is longer than the limit of 1000"),
        ("6", "text", "a\x00b", "invalid_text", "NUL"),
        ("6", "text", "a\ud800b", "invalid_text", "surrogate"),
        ("6", "text", 5, "invalid_input_type", "expected a string"),
        ("3", "steps", ..., "required_input_missing", "required input is missing: expected a value of type INT"),
        ("3", "model", ..., "required_input_missing", "expected a link from a MODEL output"),
        ("3", "model", "sd15", "invalid_input_type", "expected a link from a MODEL output, received the constant"),
        ("3", "model", ["99", 0], "bad_linked_input", "links to node '99', which is not in the workflow"),
        (
            "3",
            "model",
            ["4", 7],
            "bad_linked_input",
            "links to output 7 of node 4 (CheckpointLoaderSimple), which has 3",
        ),
        ("3", "model", ["4", -1], "bad_linked_input", "output -1"),
        ("3", "positive", ["5", 0], "return_type_mismatch", "expected CONDITIONING, received LATENT"),
        ("3", "steps", ["5", 0], "return_type_mismatch", "expected INT, received LATENT"),
        ("3", "colour", 5, "unknown_input", "is not an input of KSampler"),
        ("9", "prompt", {}, "unknown_input", "is filled in by the engine"),
    ],
)
def test_each_bad_input_is_refused_with_a_precise_issue(
    node_id: str, name: str, value: Any, code: str, fragment: str
) -> None:
    issue = only(check(prompt_with(node_id, **{name: value})))
    assert issue.type == code
    assert issue.node_id == node_id
    assert issue.class_type == DEFAULT[node_id]["class_type"]
    assert issue.input_name == name
    assert fragment in issue.message, issue.message
    assert issue.message.startswith(f"node {node_id} ({issue.class_type}) input {name!r}: ")
    assert issue.dependent_outputs == ("9",)


def test_boundaries_and_exact_types_are_accepted() -> None:
    prompt = prompt_with("3", steps=1, seed=2**64 - 1, cfg=100, denoise=0.0)
    prompt = prompt_with("5", width=16384, height=16, batch_size=1) | {k: v for k, v in prompt.items() if k != "5"}
    assert check(prompt) == []
    assert check(prompt_with("3", steps=10000, cfg=7.25, denoise=0.37)) == []


def test_long_choice_lists_are_shortened(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_stubs, "CHECKPOINTS", [f"model{i:02}.safetensors" for i in range(50)])
    issue = only(check(prompt_with("4", ckpt_name="missing.safetensors")))
    assert "model19.safetensors" in issue.message and "model20.safetensors" not in issue.message
    assert "30 more, 50 in all" in issue.message
    assert issue.extra["option_count"] == 50 and issue.extra["options"] is None


def test_dynamic_choices_follow_the_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    assert check(DEFAULT) == []
    monkeypatch.setattr(graph_stubs, "CHECKPOINTS", [])  # the file was deleted since the editor listed it
    issue = only(check(DEFAULT))
    assert issue.type == "value_not_in_list" and "the list is empty" in issue.message


def test_a_failing_choices_provider_is_an_issue_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_stubs, "CHECKPOINTS", None)  # list(None) raises inside the provider call
    issue = only(check(DEFAULT))
    assert issue.type == "exception_during_validation" and "listing the choices failed: TypeError" in issue.message
    assert issue.input_name == "ckpt_name"


def test_unknown_node_type_and_comfy_invalid_prompt_shape() -> None:
    prompt = copy.deepcopy(DEFAULT)
    prompt["7"]["class_type"] = "NoSuchNode"
    issue = only(check(prompt))
    assert issue.type == "unknown_node_type" and "unknown node type 'NoSuchNode' at node 7" in issue.message
    body = comfy_error_response([issue])
    assert body["error"]["type"] == "invalid_prompt"
    assert body["error"]["message"] == "Cannot execute because node NoSuchNode does not exist."
    assert body["node_errors"]["7"]["class_type"] == "NoSuchNode"


def test_no_outputs() -> None:
    prompt = {k: v for k, v in DEFAULT.items() if k != "9"}
    issue = only(check(prompt))
    assert issue.type == "prompt_no_outputs"
    body = comfy_error_response([issue])
    assert body["error"]["type"] == "prompt_no_outputs" and body["node_errors"] == {}
    assert check({}) and check({})[0].type == "prompt_no_outputs"


def test_comfy_node_errors_shape() -> None:
    issues = check(prompt_with("4", ckpt_name="x.safetensors"))
    body = comfy_error_response(issues)
    assert set(body) == {"error", "node_errors"}
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    assert body["error"]["message"] == "Prompt outputs failed validation"
    assert "Value not in list: node 4" in body["error"]["details"]
    entry = body["node_errors"]["4"]
    assert entry["class_type"] == "CheckpointLoaderSimple"
    assert entry["dependent_outputs"] == ["9"]
    (error,) = entry["errors"]
    assert error["type"] == "value_not_in_list" and error["message"] == "Value not in list"
    assert error["extra_info"]["input_name"] == "ckpt_name"
    assert error["extra_info"]["received_value"] == "'x.safetensors'"
    json.dumps(body, allow_nan=False)  # always serialisable, NaN included
    json.dumps(comfy_error_response(check(prompt_with("3", cfg=math.nan))), allow_nan=False)


def chain_prompt(length: int, *, close: bool) -> dict[str, Any]:
    """Nodes 1..length each feeding the next; with `close`, the last feeds the first (a cycle)."""
    prompt: dict[str, Any] = {"0": {"class_type": "Const", "inputs": {"value": 1}}}
    for i in range(1, length + 1):
        source = str(length) if (i == 1 and close) else str(i - 1)
        prompt[str(i)] = {"class_type": "Sum", "inputs": {"a": [source, 0]}}
    prompt["out"] = {"class_type": "Show", "inputs": {"x": [str(length), 0], "label": ""}}
    return prompt


@pytest.mark.parametrize("length", [1, 2, 50])
def test_cycles_are_refused_listing_their_nodes(length: int) -> None:
    issue = only(check(chain_prompt(length, close=True)))
    assert issue.type == "dependency_cycle"
    assert sorted(issue.extra["cycle"], key=int) == [str(i) for i in range(1, length + 1)]
    assert "form a cycle" in issue.message and f"{issue.extra['cycle'][0]} → " in issue.message
    assert issue.dependent_outputs == ("out",)
    assert comfy_error_response([issue])["node_errors"][issue.node_id]["errors"][0]["type"] == "dependency_cycle"


def test_two_separate_cycles_are_both_reported() -> None:
    prompt = chain_prompt(3, close=True)
    prompt["x"] = {"class_type": "Sum", "inputs": {"a": ["x", 0]}}
    prompt["out2"] = {"class_type": "Show", "inputs": {"x": ["x", 0], "label": ""}}
    assert sorted(len(i.extra["cycle"]) for i in check(prompt)) == [1, 3]


def test_thousand_node_graph_validates_fast() -> None:
    prompt = chain_prompt(1000, close=False)
    started = time.perf_counter()
    assert check(prompt) == []
    assert time.perf_counter() - started < 3.0  # ~5 ms on a quiet core; generous for a shared CI machine


def test_node_count_cap() -> None:
    prompt = chain_prompt(60, close=False)
    issue = only(check(prompt, limits=Limits(max_nodes=50)))
    assert issue.type == "too_many_nodes" and "62 nodes; at most 50" in issue.message
    assert comfy_error_response([issue])["error"]["type"] == "invalid_prompt"


def test_fifty_thousand_nodes_are_refused_by_the_cap_alone() -> None:
    # The cap is checked before any per-node work: the only issue is the cap (no timing assertion, which flakes
    # on a shared machine; bench/ is where speed is measured).
    prompt = chain_prompt(50_000, close=False)
    workflow = load_workflow(prompt, STUBS)
    assert only(validate(workflow, STUBS)).type == "too_many_nodes"


def test_pixel_budget_and_nesting_caps() -> None:
    issue = only(check(prompt_with("5", width=16384, height=16384, batch_size=64)))
    assert issue.type == "resource_limit_exceeded" and "16384×16384×64" in issue.message
    deep: Any = "x"
    for _ in range(100):
        deep = [deep]
    prompt: dict[str, Any] = {
        "1": {"class_type": "Const", "inputs": {"value": 1}},
        "2": {"class_type": "Show", "inputs": {"x": ["1", 0]}},
    }
    prompt["2"]["inputs"]["label"] = {"__value__": deep}
    issue = only(check(prompt))
    assert issue.type == "value_too_deep"


def test_unconnected_nodes_are_checked_but_targets_limit_the_scope() -> None:
    prompt = copy.deepcopy(DEFAULT)
    prompt["20"] = {"class_type": "Inc", "inputs": {"by": 1}}  # dangling, missing x
    assert only(check(prompt)).node_id == "20"
    assert check(prompt, targets=["9"]) == []
    issue = only(check(prompt, targets=["nope"]))
    assert issue.type == "invalid_target"
    assert check(prompt, targets=[])[0].type == "prompt_no_outputs"


def test_links_into_widget_inputs_and_force_input() -> None:
    prompt: dict[str, Any] = {
        "1": {"class_type": "Const", "inputs": {"value": 3}},
        "2": {"class_type": "PrimitiveInt", "inputs": {"value": 4}},
        "3": {
            "class_type": "Scale",
            "inputs": {
                "x": ["1", 0],
                "factor": ["2", 0],
                "bias": ["2", 0],
                "mode": "fast",
                "strength": 0.5,
                "flag": False,
            },
        },
        "4": {"class_type": "Show", "inputs": {"x": ["3", 0], "label": ""}},
    }
    assert check(prompt) == []
    prompt["3"]["inputs"]["bias"] = 5  # a ForceInput widget may still be given a constant in API prompts
    assert check(prompt) == []
    prompt["3"]["inputs"]["factor"] = ["1", 0]
    issue = only(check(prompt))
    assert issue.type == "return_type_mismatch" and "expected INT, received NUMBER" in issue.message


def test_upload_pseudo_input_of_load_image_is_accepted() -> None:
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "example.png", "upload": "image"}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }
    assert check(prompt) == []


def test_muted_output_leaves_no_outputs() -> None:
    workflow: Workflow = load_workflow(DEFAULT, STUBS)
    workflow["9"].mode = "muted"
    assert only(validate(workflow, STUBS)).type == "prompt_no_outputs"




SCALE: dict[str, Any] = {"x": ["1", 0], "factor": 2, "mode": "fast", "strength": 0.5, "flag": False}


def test_unknown_and_engine_filled_inputs_are_named_with_the_real_inputs() -> None:
    prompt: dict[str, Any] = {
        "1": {"class_type": "Const", "inputs": {"value": 1}},
        "2": {"class_type": "Scale", "inputs": {**SCALE, "factr": 2}},
        "3": {"class_type": "Show", "inputs": {"x": ["2", 0], "label": ""}},
    }
    issue = only(check(prompt))
    names = ["x", "factor", "mode", "strength", "flag", "note", "bias"]
    assert (issue.type, issue.input_name, issue.received) == ("unknown_input", "factr", "factr")
    assert issue.expected == f"one of {names}"
    assert issue.message.endswith(f"is not an input of Scale; its inputs are {names}")
    prompt["2"]["inputs"] = {**SCALE, "node_id": "42"}  # hidden: the engine fills it, never the workflow
    issue = only(check(prompt))
    assert issue.input_name == "node_id"
    assert issue.message.endswith(f"is filled in by the engine; its inputs are {names}")


def test_off_grid_values_suggest_neighbours_with_the_grid_precision() -> None:
    prompt: dict[str, Any] = {
        "1": {"class_type": "Const", "inputs": {"value": 1}},
        "2": {"class_type": "Scale", "inputs": {**SCALE, "strength": 0.123}},
        "3": {"class_type": "Show", "inputs": {"x": ["2", 0], "label": ""}},
    }
    assert only(check(prompt)).message.endswith("the nearest valid values are 0.12 or 0.13")
    prompt["2"]["inputs"]["strength"] = 0.995
    assert only(check(prompt)).message.endswith("the nearest valid values are 0.99 or 1")


def test_text_with_a_lone_surrogate_is_refused_and_other_unicode_is_fine() -> None:
    prompt: dict[str, Any] = {
        "1": {"class_type": "Const", "inputs": {"value": 1}},
        "2": {"class_type": "Show", "inputs": {"x": ["1", 0], "label": "caf\u00e9 \u2603 \U0001f600"}},
    }
    assert check(prompt) == []
    prompt["2"]["inputs"]["label"] = "broken \ud800"
    assert only(check(prompt)).type == "invalid_text"


def test_a_cycle_is_reported_from_its_lowest_id_in_link_order() -> None:
    prompt = chain_prompt(3, close=True)
    prompt["10"] = {"class_type": "Sum", "inputs": {"a": ["11", 0]}}  # ids compare as numbers: 10 < 11, "10" > "9"
    prompt["11"] = {"class_type": "Sum", "inputs": {"a": ["9", 0]}}
    prompt["9"] = {"class_type": "Sum", "inputs": {"a": ["10", 0]}}
    prompt["out2"] = {"class_type": "Show", "inputs": {"x": ["9", 0], "label": ""}}
    first, second = sorted(check(prompt), key=lambda issue: len(issue.message))
    assert (first.type, first.node_id, first.class_type, first.input_name) == ("dependency_cycle", "1", "Sum", None)
    assert first.extra == {"cycle": ["1", "2", "3"]}
    assert (first.expected, first.received) == ("an acyclic graph", "a cycle of 3 nodes")
    assert first.message == "node 1 (Sum): nodes 1 → 2 → 3 → 1 form a cycle; a node cannot depend on itself"
    assert second.node_id == "9" and second.extra == {"cycle": ["9", "11", "10"]}


def test_check_value_reports_constants_for_sockets_and_refuses_unknown_inputs() -> None:
    spec = STUBS.specs["Scale"]
    (issue,) = check_value(spec, "x", 3)
    assert (issue.type, issue.node_id, issue.class_type, issue.input_name) == ("invalid_input_type", "?", "Scale", "x")
    assert issue.message == "node ? (Scale) input 'x': expected a link from a NUMBER output"
    (issue,) = check_value(spec, "factor", 11, node_id="7")
    assert issue.type == "value_bigger_than_max" and issue.node_id == "7"
    assert check_value(spec, "factor", 3) == []
    with pytest.raises(KeyError, match="Scale has no input 'nope'"):
        check_value(spec, "nope", 1)
