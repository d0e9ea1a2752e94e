"""The Load Image mask painter in headless chromium against a real server: paint, erase, invert, undo, clear,
save; the saved file is the original picture with the mask as its alpha (as ComfyUI's mask editor saves it)."""

from __future__ import annotations

import io
import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.browser.test_editor_e2e import api_prompt, node, open_workflow, wait_history

pytestmark = pytest.mark.browser

SIZE = 64


def coverage(painter: Any) -> float:
    return float(painter.get_attribute("data-coverage"))


def wait_coverage(page: Any, test: str) -> float:
    page.wait_for_function(
        f"() => {{ const c = Number(document.querySelector('[data-testid=mask-painter]').dataset.coverage); "
        f"return {test}; }}", timeout=10_000)
    return coverage(page.get_by_test_id("mask-painter"))


def drag(page: Any, canvas: Any, y: float, x0: float, x1: float) -> None:
    """A mouse stroke across the canvas at height fraction y, from x0 to x1 (fractions of its width)."""
    box = canvas.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * x0, box["y"] + box["height"] * y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * x1, box["y"] + box["height"] * y, steps=12)
    page.mouse.up()


def test_mask_painter_saves_the_mask_as_alpha(page: Any, server_url: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    original = rng.integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
    picture = tmp_path / "mask_source.png"
    Image.fromarray(original).save(picture)
    open_workflow(page, {"1": {"class_type": "LoadImage", "inputs": {}},
                         "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}, 2)
    node(page, "1").locator('input[type="file"]').set_input_files(str(picture))
    select = node(page, "1").locator('[data-input="image"] select')
    page.wait_for_function("(el) => el.value.includes('mask_source')", arg=select.element_handle(), timeout=15_000)

    node(page, "1").get_by_test_id("mask-edit").click()
    painter = page.get_by_test_id("mask-painter")
    page.wait_for_selector('[data-testid=mask-painter][data-ready="true"]')
    assert coverage(painter) == 0.0  # an opaque picture carries no mask
    canvas = page.get_by_test_id("mask-canvas")
    painter.get_by_label("brush size").fill("12")
    drag(page, canvas, 0.5, 0.1, 0.9)
    painted = wait_coverage(page, "c > 0.05")
    assert painted < 0.4

    painter.get_by_role("button", name="Invert").click()
    assert abs(wait_coverage(page, f"Math.abs(c - {1 - painted}) < 1e-3") - (1 - painted)) < 1e-3
    painter.get_by_role("button", name="Undo").click()
    wait_coverage(page, f"Math.abs(c - {painted}) < 1e-6")

    painter.get_by_role("button", name="Eraser").click()
    drag(page, canvas, 0.5, 0.05, 0.5)
    erased = wait_coverage(page, f"c < {painted} - 0.02")
    painter.get_by_role("button", name="Undo").click()
    wait_coverage(page, f"Math.abs(c - {painted}) < 1e-6")
    painter.get_by_role("button", name="Clear").click()
    wait_coverage(page, "c === 0")
    page.keyboard.press("Control+z")
    wait_coverage(page, f"Math.abs(c - {painted}) < 1e-6")
    assert 0 < erased < painted
    assert "mask_source" in select.input_value()  # Ctrl+Z undid the stroke, not the graph's last edit

    painter.get_by_role("button", name="Save").click()
    page.wait_for_function("(el) => el.value.startsWith('clipspace/')", arg=select.element_handle(), timeout=15_000)
    assert page.get_by_test_id("mask-painter").count() == 0
    value = api_prompt(page)["1"]["inputs"]["image"]
    assert value.startswith("clipspace/clipspace-mask-") and value.endswith(".png")

    query = urllib.parse.urlencode({"filename": value.split("/", 1)[1], "subfolder": "clipspace", "type": "input"})
    saved = Image.open(io.BytesIO(urllib.request.urlopen(f"{server_url}/view?{query}", timeout=10).read()))
    rgba = np.asarray(saved.convert("RGBA"))
    assert rgba.shape == (SIZE, SIZE, 4)
    assert np.array_equal(rgba[..., :3], original)  # the picture is untouched, only its alpha changes
    transparent = rgba[..., 3] < 128
    assert abs(float(transparent.mean()) - painted) < 0.01
    assert transparent[SIZE // 2, SIZE // 2] and not transparent[2, 2] and not transparent[-3, -3]

    # The server accepts the saved file as LoadImage's value and loads the mask from it.
    body = json.dumps({"prompt": {"1": {"class_type": "LoadImage", "inputs": {"image": value}},
                                  "2": {"class_type": "MaskToImage", "inputs": {"mask": ["1", 1]}},
                                  "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}}}).encode()
    request = urllib.request.Request(f"{server_url}/prompt", body, {"Content-Type": "application/json"})
    prompt_id = json.loads(urllib.request.urlopen(request, timeout=10).read())["prompt_id"]
    assert wait_history(server_url, prompt_id, 60)["status"]["status_str"] == "success"


@pytest.mark.parametrize("name", ["instruct_edit", "inpaint_model"])
def test_edit_templates_open_in_the_editor_in_every_form(page: Any, server_url: str, name: str) -> None:
    """The shipped template, its ComfyUI UI form and its API form each open in the editor and give the API
    prompt the server derives from the file (the editor's Templates menu serves the same file)."""
    import nodes
    from graph.comfy_export import to_comfy_ui
    from graph.formats import load_workflow, to_api_prompt

    registry = nodes.load_catalog(None)
    data = json.loads(urllib.request.urlopen(f"{server_url}/api/workflows/{name}.json", timeout=10).read())
    workflow = load_workflow(data, registry)
    expected = to_api_prompt(workflow, registry)
    with_groups = len(data["nodes"]) + len((data.get("ui") or {}).get("groups") or [])
    for form, count in ((data, with_groups), (to_comfy_ui(workflow, registry), with_groups),
                        (expected, len(data["nodes"]))):
        page.get_by_role("button", name="New").click()
        page.wait_for_function("() => document.querySelectorAll('.react-flow__node').length === 0")
        open_workflow(page, form, count)
        ours = api_prompt(page)
        assert {k: (v["class_type"], v["inputs"]) for k, v in ours.items()} == \
            {k: (v["class_type"], v["inputs"]) for k, v in expected.items()}
