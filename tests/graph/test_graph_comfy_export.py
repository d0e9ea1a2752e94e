"""Export to ComfyUI's UI format: what ComfyUI would queue from it is what we would run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from graph_stubs import STUBS

from graph.comfy_export import to_comfy_ui
from graph.formats import detect_format, load_workflow, to_api_prompt

DATA = Path(__file__).parent / "data"


def read(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def without_default_titles(prompt: dict[str, Any]) -> dict[str, Any]:
    """UI files store no title when it is the node's default name; API prompts always carry one."""
    result = {}
    for node_id, node in prompt.items():
        node = dict(node)
        if node.get("_meta", {}).get("title") in (node["class_type"], STUBS.specs[node["class_type"]].display_name):
            del node["_meta"]
        result[node_id] = node
    return result


@pytest.mark.parametrize("name", ["default_ui_v04.json", "features_ui_v1.json", "default_api.json"])
def test_export_reloads_to_the_same_prompt_and_layout(name: str) -> None:
    workflow = load_workflow(read(name), STUBS)
    exported = json.loads(json.dumps(to_comfy_ui(workflow, STUBS)))
    assert detect_format(exported) == "comfyui-ui-v0.4"
    again = load_workflow(exported, STUBS)
    assert to_api_prompt(again, STUBS) == without_default_titles(to_api_prompt(workflow, STUBS))
    for node_id, node in workflow.nodes.items():
        assert again[node_id].mode == node.mode
        for key in ("pos", "color", "controls"):
            if key in node.ui:
                assert again[node_id].ui.get(key) == node.ui[key], (node_id, key)
    assert again.ui["groups"] == workflow.ui.get("groups", [])
    if "view" in workflow.ui:
        assert again.ui["view"] == workflow.ui["view"]


def test_export_writes_positional_widgets_with_control_and_upload_slots() -> None:
    exported = to_comfy_ui(load_workflow(read("features_ui_v1.json"), STUBS), STUBS)
    by_id = {node["id"]: node for node in exported["nodes"]}
    assert by_id[5]["widgets_values"] == [777, "fixed", 30, 7.5, "dpmpp_2m", "karras", 0.8]
    assert by_id[12]["widgets_values"] == ["example.png", "image"]
    assert by_id[10]["mode"] == 2 and by_id[15]["mode"] == 4
    assert [1, 0, 5, 0, "MODEL"] in [link[1:] for link in exported["links"]]


def test_api_prompts_get_a_column_layout() -> None:
    exported = to_comfy_ui(load_workflow(read("default_api.json"), STUBS), STUBS)
    pos = {node["id"]: node["pos"] for node in exported["nodes"]}
    assert pos[4][0] < pos[6][0] < pos[3][0] < pos[8][0] < pos[9][0]
    assert pos[6] != pos[7]


def test_non_integer_ids_are_renumbered() -> None:
    prompt = {
        "a": {"class_type": "Const", "inputs": {"value": 1}},
        "b:1": {"class_type": "Show", "inputs": {"x": ["a", 0], "label": "x"}},
    }
    exported = to_comfy_ui(load_workflow(prompt, STUBS), STUBS)
    assert [node["id"] for node in exported["nodes"]] == [1, 2]
    again = load_workflow(exported, STUBS)
    assert to_api_prompt(again) == {
        "1": {"inputs": {"value": 1}, "class_type": "Const"},
        "2": {"inputs": {"label": "x", "x": ["1", 0]}, "class_type": "Show"},
    }
