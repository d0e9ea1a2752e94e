"""XY grids: a 2×3 grid runs 6 cells on one cache (the checkpoint loaded once, each prompt encoded once), its PNG
carries the axes, a failing cell is drawn with its error while the others run, and bad axes are refused by name
before anything runs (in process and through the real `server.py grid` command)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

import folders
from compare.axes import AxisError, parse_axis_text
from compare.grid import expand, order_cells, run_grid
from compare.sheet import axes_from_png, save_sheets
from graph.formats import load_workflow, to_native
from graph.registry import REGISTRY
from nodes import load_catalog
from tests.seeing.workflows import txt2img

REPO = Path(__file__).resolve().parents[2]


def test_two_by_three_grid_shares_the_loads_and_encodes(tiny_base: folders.Folders) -> None:
    load_catalog()
    workflow = load_workflow(txt2img(steps=3), REGISTRY)  # at 2 steps euler and dpmpp_2m coincide
    axes = [parse_axis_text("x", "3.sampler_name=euler,dpmpp_2m", workflow, REGISTRY),
            parse_axis_text("y", "3.cfg=4,7,10", workflow, REGISTRY)]
    run = run_grid(workflow, REGISTRY, axes)
    assert len(run.results) == 6 and all(r.status == "succeeded" for r in run.results), run.results
    counts = Counter(run.executed_types)
    assert counts["CheckpointLoaderSimple"] == 1
    assert counts["CLIPTextEncode"] == 2  # the positive and the negative prompt, once each
    assert counts["EmptyLatentImage"] == 1
    assert counts["KSampler"] == 6 and counts["VAEDecode"] == 6
    images = {r.cell.index: r.image for r in run.results}
    assert images[(0, 0)] is not None and images[(1, 0)] is not None
    assert images[(0, 0)].tobytes() != images[(1, 0)].tobytes()  # the sampler axis was honoured
    (sheet,) = save_sheets(run, to_native(workflow))
    with Image.open(sheet) as image:
        meta = json.loads(image.text["loom_grid"])  # type: ignore[attr-defined]
        assert image.width > 2 * 32 and image.height > 3 * 32
        assert "workflow" in image.text  # type: ignore[attr-defined]
    assert meta["axes"][0] == {"label": "x", "node": "3", "class_type": "KSampler", "input": "sampler_name",
                               "values": ["euler", "dpmpp_2m"]}
    assert meta["axes"][1]["values"] == [4.0, 7.0, 10.0]
    assert [a.title for a in axes_from_png(sheet)] == ["3.sampler_name", "3.cfg"]


def test_a_failed_cell_keeps_its_error_and_the_rest_run(tiny_base: folders.Folders) -> None:
    load_catalog()
    broken = tiny_base.base_directory / "models" / "checkpoints" / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    workflow = load_workflow(txt2img(steps=1), REGISTRY)
    axes = [parse_axis_text("x", "3.cfg=4,7", workflow, REGISTRY),
            parse_axis_text("y", "4.ckpt_name=broken.safetensors,tiny_sd1.safetensors", workflow, REGISTRY)]
    # A loader axis: cells are grouped by checkpoint, so each model is loaded once (here: y varies slowest anyway).
    flipped = [axes[1], axes[0]]
    ordered = order_cells(expand(flipped), flipped, REGISTRY)
    assert [cell.index[0] for cell in ordered] == [0, 0, 1, 1]
    run = run_grid(workflow, REGISTRY, axes)
    by_index = {r.cell.index: r for r in run.results}
    assert by_index[(0, 0)].error is not None and "4" in by_index[(0, 0)].error
    assert by_index[(0, 1)].status == "succeeded" and by_index[(1, 1)].status == "succeeded"
    (sheet,) = save_sheets(run, None)
    with Image.open(sheet) as image:
        cells = json.loads(image.text["loom_grid"])["cells"]  # type: ignore[attr-defined]
    assert sum(cell["status"] == "failed" for cell in cells) == 2


@pytest.mark.parametrize(("text", "named"), [
    ("3.cfg=4,700", "axis y (3.cfg, node 3 KSampler): value 700.0 refused"),
    ("3.sampler_name=euler,eulr", "value 'eulr' refused"),
    ("3.cgf=4", "axis y (3.cgf, node 3 KSampler): no input 'cgf'"),
    ("42.cfg=4", "axis y: no node with id or title '42'; node ids: 3,"),
    ("3.model=1", "input 'model' is a MODEL socket"),
    ("3.steps=two", "value 'two' refused"),
])
def test_bad_axes_are_refused_by_name(text: str, named: str) -> None:
    load_catalog()
    workflow = load_workflow(txt2img(), REGISTRY)
    with pytest.raises(AxisError) as caught:
        parse_axis_text("y", text, workflow, REGISTRY)
    assert named in str(caught.value)


def test_grid_command(tmp_path: Path, tiny_base: folders.Folders) -> None:
    workflow_file = tmp_path / "wf.json"
    workflow_file.write_text(json.dumps(txt2img(steps=1)))
    base = ["--base-directory", str(tiny_base.base_directory), "--cpu"]
    refused = subprocess.run([sys.executable, "server.py", "grid", str(workflow_file), "--x", "3.cfg=4,1000", *base],
                             cwd=REPO, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "axis x (3.cfg, node 3 KSampler)" in refused.stderr
    assert refused.stdout == ""
    done = subprocess.run([sys.executable, "server.py", "grid", str(workflow_file), "--x", "3.sampler_name=euler,ddim",
                           "--y", "3.seed=1,2", *base], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "cell 4/4" in done.stderr
    (sheet,) = [Path(line) for line in done.stdout.splitlines()]
    assert [a.values for a in axes_from_png(sheet)] == [("euler", "ddim"), (1, 2)]


def test_shipped_compare_schedulers_grid_uses_its_stored_axes(tiny_base: folders.Folders) -> None:
    base = ["--base-directory", str(tiny_base.base_directory), "--cpu"]
    sets = ["--set", "4.ckpt_name=tiny_sd1.safetensors", "--set", "5.width=32", "--set", "5.height=32",
            "--set", "3.steps=3"]  # uni_pc fails at 2 steps (see ISSUE-20 note)
    done = subprocess.run([sys.executable, "server.py", "grid", "workflows/compare_schedulers.json", *sets, *base],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "cell 12/12" in done.stderr
    (sheet,) = [Path(line) for line in done.stdout.splitlines()]
    axes = axes_from_png(sheet)
    assert [(a.title, len(a.values)) for a in axes] == [("3.sampler_name", 4), ("3.scheduler", 3)]
