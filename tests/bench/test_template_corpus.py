"""bench/templates.py on a few real corpus templates and on hand-made ones whose verdict is known."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import templates as bench
from graph.formats import load_workflow, to_api_prompt
from nodes import load_catalog

pytest.importorskip(bench.CORPUS_PACKAGE)


@pytest.fixture(scope="module")
def registry() -> Any:
    return load_catalog()


def _template(tmp_path: Path, nodes: list[dict[str, Any]], links: list[list[Any]] | None = None) -> bench.Template:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"nodes": nodes, "links": links or [], "version": 0.4}))
    return bench.Template("t", "SD1.5", "Image", path)


def test_the_corpus_has_local_image_templates_with_families() -> None:
    found = bench.local_image_templates(bench.corpus_dir())
    names = {item.name for item in found}
    assert len(found) > 100
    assert {"sdxl_simple_example", "sdxl_refiner_prompt_example", "image_lotus_depth_v1_1"} <= names
    assert not any(name.startswith("api_") for name in names)
    assert {item.family for item in found if item.name.startswith("sdxl")} == {"SDXL"}


def test_family_prefers_the_specific_tag() -> None:
    assert bench.family_of(["FLUX", "FLUX.1"]) == "FLUX.1"
    assert bench.family_of(["SDXL", "Stability"]) == "SDXL"
    assert bench.family_of(["None"]) == "none (utility)"
    assert bench.family_of([]) == "none (utility)"


def test_real_sdxl_templates_are_supported_and_convert_their_widgets(registry: Any) -> None:
    results = bench.run(["sdxl_simple_example", "sdxl_refiner_prompt_example"], registry)
    assert [item.status for item in results] == ["supported", "supported"], [item.problems for item in results]
    path = bench.corpus_dir() / "sdxl_simple_example.json"
    prompt = to_api_prompt(load_workflow(json.loads(path.read_text()), registry))
    base = prompt["10"]["inputs"]  # KSamplerAdvanced fed by the "steps" and "end at step" PrimitiveNodes
    assert (base["steps"], base["end_at_step"], base["noise_seed"], base["cfg"]) == (25, 20, 721897303308196, 8)
    assert prompt["19"]["class_type"] == "SaveImage" and "42" not in prompt  # notes dropped


def _txt2img_chain(batch_size: int) -> tuple[list[dict[str, Any]], list[list[Any]]]:
    """EmptyLatentImage -> VAEDecode (VAE of a checkpoint that is not installed) -> SaveImage."""
    nodes = [
        {"id": 1, "type": "EmptyLatentImage", "widgets_values": [512, 512, batch_size], "mode": 0},
        {"id": 2, "type": "CheckpointLoaderSimple", "widgets_values": ["absent.safetensors"], "mode": 0},
        {
            "id": 3,
            "type": "VAEDecode",
            "mode": 0,
            "inputs": [{"name": "samples", "type": "LATENT", "link": 1}, {"name": "vae", "type": "VAE", "link": 2}],
        },
        {"id": 4, "type": "SaveImage", "widgets_values": ["x"], "inputs": [{"name": "images", "link": 3}]},
    ]
    return nodes, [[1, 1, 0, 3, 0, "LATENT"], [2, 2, 2, 3, 1, "VAE"], [3, 3, 0, 4, 0, "IMAGE"]]


def test_a_missing_type_blocks_and_a_missing_model_does_not(tmp_path: Path, registry: Any) -> None:
    nodes, links = _txt2img_chain(1)
    assert bench.check_template(_template(tmp_path, nodes, links), registry).status == "supported"
    unknown = {"id": 5, "type": "NoSuchNodeAnywhere", "widgets_values": [], "mode": 0}
    muted = {"id": 6, "type": "AlsoMissingButMuted", "widgets_values": [], "mode": 2}
    result = bench.check_template(_template(tmp_path, [*nodes, unknown, muted], links), registry)
    assert (result.status, result.missing) == ("missing_nodes", ["NoSuchNodeAnywhere"])


def test_a_bad_widget_value_is_invalid(tmp_path: Path, registry: Any) -> None:
    bad = bench.check_template(_template(tmp_path, *_txt2img_chain(0)), registry)
    assert bad.status == "invalid" and any("batch_size" in problem for problem in bad.problems), bad.problems


def test_ranking_counts_uses_and_sole_blockers() -> None:
    results = [
        bench.Result("a", "f", "missing_nodes", ["X", "Y"]),
        bench.Result("b", "f", "missing_nodes", ["X"]),
        bench.Result("c", "f", "missing_nodes", ["Y"]),
        bench.Result("d", "f", "missing_nodes", ["Y", "Z"]),
    ]
    assert bench.missing_ranking(results) == [("Y", 3, 1), ("X", 2, 1), ("Z", 1, 0)]
    text = bench.report([*results, bench.Result("e", "g", "supported")], top=10)
    assert "fully supported: 1 of 5 (20%)" in text
