"""Golden conversion cases shared with the editor: tests/fixtures/conversion/*.case.json hold a ComfyUI UI workflow
and the API prompt it must become (written by hand). The same files run in Vitest
(web/src/__tests__/golden.test.ts) through the editor's TypeScript conversion, so the two cannot drift.

`object_info.json` there is the schema the editor side converts with; it is checked against the live catalog here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import nodes
from graph.formats import load_workflow, to_api_prompt
from graph.registry import REGISTRY
from graph.schema import object_info

CASES = Path(__file__).resolve().parents[1] / "fixtures" / "conversion"


def _strip(prompt: dict[str, Any]) -> dict[str, Any]:
    return {node_id: {"class_type": node["class_type"], "inputs": node["inputs"]} for node_id, node in prompt.items()}


@pytest.fixture(scope="module", autouse=True)
def catalog() -> None:
    nodes.load_catalog(None)


@pytest.mark.parametrize("case", sorted(CASES.glob("*.case.json")), ids=lambda path: path.name.split(".")[0])
def test_ui_workflow_converts_to_the_golden_prompt(case: Path) -> None:
    data = json.loads(case.read_text())
    assert _strip(to_api_prompt(load_workflow(data["workflow"], REGISTRY), REGISTRY)) == data["prompt"]


def test_the_cases_cover_every_mode_and_ui_construct() -> None:
    names = {path.name.split(".")[0] for path in CASES.glob("*.case.json")}
    assert {"muted_branch", "bypassed_lora", "bypassed_controlnet", "reroute_in_group", "primitive_widget"} <= names


def _shape(info: dict[str, Any]) -> dict[str, Any]:
    """What conversion depends on: input names, sections, types and order; outputs. Not the current choices."""
    inputs = {section: {name: spec[0] if isinstance(spec[0], str) else "COMBO" for name, spec in items.items()}
              for section, items in info["input"].items()}
    return {"input": inputs, "input_order": info.get("input_order"), "output": info["output"]}


def test_the_editor_side_schema_matches_the_catalog() -> None:
    shipped = json.loads((CASES / "object_info.json").read_text())
    for class_type, info in shipped.items():
        spec = REGISTRY.get(class_type)
        assert spec is not None, class_type
        assert _shape(info) == _shape(object_info(spec)), class_type
