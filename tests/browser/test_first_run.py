"""A newcomer's first minutes in the editor: Escape closes menus, slow jobs are announced, CPU-aware first graph."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from tests.browser.test_editor_e2e import checkpoint_name, new_canvas, open_workflow, txt2img_prompt

pytestmark = pytest.mark.browser


def _post(url: str, body: Any) -> Any:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=300).read())


def test_escape_closes_the_topmost_popover(page: Any) -> None:
    keys = page.locator(".menu-list.keys")
    templates = page.get_by_test_id("templates")
    page.get_by_role("button", name="Keys").click()
    page.get_by_role("button", name="Templates ▾").click()
    templates.wait_for()
    assert keys.is_visible()
    page.keyboard.press("Escape")
    templates.wait_for(state="detached")
    assert keys.is_visible()  # only the topmost one closed
    page.keyboard.press("Escape")
    keys.wait_for(state="detached")

    # The Keys list, then the node search over it (focus in its box): the search goes first, then Keys.
    new_canvas(page)
    page.get_by_role("button", name="Keys").click()
    keys.wait_for()
    page.mouse.dblclick(700, 500)
    palette = page.get_by_test_id("palette")
    palette.wait_for()
    page.keyboard.press("Escape")
    palette.wait_for(state="detached")
    assert keys.is_visible()
    page.keyboard.press("Escape")
    keys.wait_for(state="detached")


def test_a_slow_job_is_announced_before_it_is_queued(page: Any, server_url: str) -> None:
    open_workflow(page, txt2img_prompt(checkpoint_name(server_url), steps=2, size=64), 7)
    page.evaluate("() => localStorage.setItem('loom.estimateWarnSeconds', '0')")  # every job counts as slow
    # The measurement is made once per server; until it is done, Queue does not wait for an estimate.
    urllib.request.urlopen(f"{server_url}/api/estimate/calibration", timeout=300).read()
    questions: list[str] = []

    def dismiss(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_test_id("queue-button").click()
    page.get_by_text("Not queued.").wait_for()
    assert questions and questions[0].startswith("This job will take about")
    assert "KSampler 2 steps at 64×64" in questions[0] and "Queue it anyway?" in questions[0]

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("queue-button").click()
    page.get_by_text("Queued #").first.wait_for()

    page.evaluate("() => localStorage.removeItem('loom.estimateWarnSeconds')")  # the default: 60 s
    page.get_by_test_id("queue-button").click()  # a tiny job: no question (a dialog would be dismissed)
    page.get_by_text("Queued #").nth(1).wait_for()


def test_the_first_graph_fits_a_cpu(page: Any, server_url: str) -> None:
    """Without a GPU the starting graph is cut to finish in seconds when the template would take longer."""
    calibration = json.loads(urllib.request.urlopen(f"{server_url}/api/estimate/calibration", timeout=300).read())
    assert calibration["gpu"] is False
    template = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint_name(server_url)}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "3": {"class_type": "KSampler", "inputs": {"model": ["4", 0], "latent_image": ["5", 0]}},
    }
    seconds = _post(f"{server_url}/api/estimate", {"prompt": template})["seconds"]
    latent = page.locator('.react-flow__node[data-id="5"]')
    latent.wait_for()
    if seconds > 15:  # this machine is slow for the template: the editor says so and cuts it
        page.get_by_text("No GPU found: the starting graph uses").wait_for(timeout=60_000)
        prompt = page.evaluate("() => window.__loom.api()")
        assert prompt["5"]["inputs"]["width"] < 512
        # The same measured constants as the editor used: the cut graph fits the budget, or (a very slow or very
        # busy machine) nothing fits and the cheapest choice was taken.
        cut = _post(f"{server_url}/api/estimate", {"prompt": prompt})["seconds"]
        smallest = prompt["5"]["inputs"]["width"] == 128 and prompt["3"]["inputs"]["steps"] == 4
        assert cut <= 15.01 or smallest, (cut, prompt["5"]["inputs"], prompt["3"]["inputs"]["steps"])
    else:
        page.wait_for_timeout(2000)
        assert page.evaluate("() => window.__loom.api()")["5"]["inputs"]["width"] == 512
