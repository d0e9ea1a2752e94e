"""ComfyUI V1 node classes from custom_nodes/ run in the engine: schema, validation, caching, ui returns, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import nodes
from graph.events import Event, NodeFailed
from graph.executor import Executor, InterruptFlag, JobResult
from graph.formats import load_workflow
from graph.registry import NodeRegistry
from graph.schema import object_info
from graph.validate import validate

PACKS = Path(__file__).resolve().parent / "custom_nodes_comfy"


@pytest.fixture(scope="module")
def registry() -> NodeRegistry:
    return nodes.load_catalog(PACKS)


def run(registry: NodeRegistry, prompt: dict[str, Any], executor: Executor | None = None) -> JobResult:
    events: list[Event] = []
    executor = executor or Executor(registry)
    return executor.run(load_workflow(prompt, registry), job_id="j", emit=events.append, interrupt=InterruptFlag())


def test_packs_load_and_failures_are_reported_by_pack(registry: NodeRegistry) -> None:
    for node_id in ("TestBlendWithColor", "TestChannelSwap", "TestMakePoints", "TestShowAnything", "TestAlwaysFails"):
        assert node_id in registry, node_id
    assert "KSampler" in registry  # the core catalog is still there
    errors = {Path(error.module).name: error.message for error in registry.load_errors}
    assert "this_module_does_not_exist" in errors["broken_pack.py"]
    assert "INPUT_IS_LIST is not supported" in errors["raising_pack.py"] and "TestListInputs" not in registry


def test_object_info_carries_what_the_class_declares(registry: NodeRegistry) -> None:
    blend = registry.get("TestBlendWithColor")
    assert blend is not None
    info = object_info(blend)
    assert info["display_name"] == "Blend With Color (test pack)"
    assert info["category"] == "test_pack/image" and info["description"] == "Blend an image towards a grey level."
    assert info["output"] == ["IMAGE", "INT"] and info["output_name"] == ["blended", "width"]
    assert info["input_order"] == {"required": ["image", "amount", "level"], "optional": ["mask", "max_width"]}
    assert info["input"]["required"]["level"] == [["black", "grey", "white"], {"default": "grey"}]
    amount = info["input"]["required"]["amount"][1]
    assert (amount["default"], amount["min"], amount["max"], amount["tooltip"]) == (0.5, 0.0, 1.0, "how much")
    assert info["input"]["optional"]["max_width"][1]["step"] == 8
    show = registry.get("TestShowAnything")
    assert show is not None and object_info(show)["output_node"] is True
    assert object_info(show)["input"]["hidden"] == {
        "unique_id": "UNIQUE_ID", "prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"
    }
    points = registry.get("TestMakePoints")
    assert points is not None and object_info(points)["output"] == ["POINT_LIST"]  # a pack's own socket type


def mixed(amount: float = 0.25, level: str = "white") -> dict[str, Any]:
    """Core EmptyImage -> pack blend -> pack channel swap -> pack ShowAnything (of the width output)."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "TestBlendWithColor", "inputs": {"image": ["1", 0], "amount": amount, "level": level}},
        "3": {"class_type": "TestChannelSwap", "inputs": {"image": ["2", 0]}},
        "4": {"class_type": "TestShowAnything", "inputs": {"value": ["2", 1], "label": "w"}},
        "5": {"class_type": "ImageInvert", "inputs": {"image": ["3", 0]}},
        "6": {"class_type": "TestShowAnything", "inputs": {"value": ["5", 0], "label": "inverted"}},
    }


def test_a_workflow_mixing_core_and_custom_nodes_runs(registry: NodeRegistry) -> None:
    result = run(registry, mixed())
    assert result.status == "succeeded", result.error
    assert result.outputs["4"] == {"text": ["w=16 node=4 nodes_in_prompt=6"]}
    assert result.outputs["6"]["text"][0].startswith("inverted=tensor")


def test_strict_validation_applies_to_custom_widgets(registry: NodeRegistry) -> None:
    issues = validate(load_workflow(mixed(amount=1.5, level="purple"), registry), registry)
    messages = " | ".join(issue.message for issue in issues)
    assert "input 'amount'" in messages and "1.5" in messages
    assert "input 'level'" in messages and "purple" in messages


def test_validate_inputs_refuses_before_anything_runs(registry: NodeRegistry) -> None:
    prompt: dict[str, Any] = {
        "1": {"class_type": "TestMakePoints", "inputs": {"count": 7}},
        "2": {"class_type": "TestShowAnything", "inputs": {"value": ["1", 0], "label": "p"}},
    }
    issues = validate(load_workflow(prompt, registry), registry)
    assert [(issue.code, issue.node_id) for issue in issues][:1] == [("custom_validation_failed", "1")]
    assert "seven points are not allowed" in issues[0].message
    prompt["1"]["inputs"]["count"] = 3
    assert validate(load_workflow(prompt, registry), registry) == []


def test_is_changed_joins_the_cache_key(registry: NodeRegistry) -> None:
    import custom_nodes.hooks_pack as pack  # loaded by the registry

    executor = Executor(registry)
    prompt = {
        "1": {"class_type": "TestMakePoints", "inputs": {"count": 2}},
        "2": {"class_type": "TestShowAnything", "inputs": {"value": ["1", 0], "label": "p"}},
    }
    before = pack.CALLS["is_changed"]
    first = run(registry, prompt, executor)
    second = run(registry, prompt, executor)
    assert first.executed == ["1", "2"] and second.cached == ["1"] and second.executed == ["2"]
    assert pack.CALLS["is_changed"] > before  # asked on every run


def test_a_node_that_raises_fails_the_job_naming_it(registry: NodeRegistry) -> None:
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "TestAlwaysFails", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "TestShowAnything", "inputs": {"value": ["2", 0], "label": "x"}},
    }
    result = run(registry, prompt)
    assert result.status == "failed" and isinstance(result.error, NodeFailed)
    assert (result.error.node_id, result.error.message) == ("2", "this node always fails")


def test_optional_inputs_and_values_reach_the_method(registry: NodeRegistry) -> None:
    spec = registry.get("TestBlendWithColor")
    assert spec is not None
    image = torch.zeros(1, 2, 3, 3)
    record = spec.function(image=image, amount=0.5, level="white", mask=None)
    blended, width = (getattr(record, output.name) for output in spec.outputs)
    assert torch.allclose(blended, torch.full_like(image, 0.5)) and width == 3


def test_node_names_with_spaces_load_and_run(registry: NodeRegistry) -> None:
    result = run(registry, {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "Test Channel Swap (spaced name)", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "TestShowAnything", "inputs": {"value": ["2", 0], "label": "x"}},
    })
    assert result.status == "succeeded", result.error


def test_node_ids_stay_printable_text() -> None:
    from graph.registry import valid_node_id

    assert valid_node_id("Image Blend (WAS)") and valid_node_id("KSampler")
    assert not any(valid_node_id(bad) for bad in ("", " padded", "tab\tname", "line\nbreak", "x" * 201))
