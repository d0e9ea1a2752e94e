"""The editor in headless chromium against a real server with the tiny fixture checkpoint."""

from __future__ import annotations

import base64
import io
import json
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_MS = 180_000

# ---------------------------------------------------------------------------------------- helpers


def node(page: Any, node_id: str) -> Any:
    return page.locator(f'.react-flow__node[data-id="{node_id}"]')


def handle(page: Any, node_id: str, handle_id: str) -> Any:
    return page.locator(f'.react-flow__node[data-id="{node_id}"] .react-flow__handle[data-handleid="{handle_id}"]')


def center(locator: Any) -> tuple[float, float]:
    box = locator.bounding_box()
    assert box is not None, "element is not visible"
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def drag_link(page: Any, src: str, out_index: int, dst: str, input_name: str) -> None:
    """Drag with the mouse from an output socket to an input socket."""
    x0, y0 = center(handle(page, src, f"o:{out_index}"))
    x1, y1 = center(handle(page, dst, f"i:{input_name}"))
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=6)
    page.mouse.move(x1, y1, steps=6)
    page.mouse.up()


def graph(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(
        """() => { const g = window.__loom.graph();
           return { nodes: g.nodes.map(n => ({ id: n.id, type: n.type, data: n.data })),
                    edges: g.edges.map(e => [e.source, e.sourceHandle, e.target, e.targetHandle]) }; }"""
    )
    return result


def api_prompt(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate("() => window.__loom.api()")
    return result


def checkpoint_name(server_url: str) -> str:
    info = json.loads(urllib.request.urlopen(f"{server_url}/object_info/CheckpointLoaderSimple", timeout=10).read())
    entry = info.get("CheckpointLoaderSimple") or info
    options = entry["input"]["required"]["ckpt_name"][0]
    if options == "COMBO":
        options = entry["input"]["required"]["ckpt_name"][1]["options"]
    assert options, "the server lists no checkpoint"
    tiny = [o for o in options if "tiny" in o]
    return str((tiny or options)[0])


def txt2img_prompt(ckpt: str, steps: int = 2, size: int = 64) -> dict[str, Any]:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox in snow", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 7,
                "steps": steps,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "e2e", "images": ["8", 0]}},
    }


def comfyui_ui_workflow(ckpt: str) -> dict[str, Any]:
    """ComfyUI's default graph as its UI saves it (version 0.4, positional widget values)."""
    return {
        "last_node_id": 9,
        "last_link_id": 9,
        "version": 0.4,
        "nodes": [
            {
                "id": 3,
                "type": "KSampler",
                "pos": [863, 186],
                "size": [315, 262],
                "mode": 0,
                "inputs": [
                    {"name": "model", "type": "MODEL", "link": 1},
                    {"name": "positive", "type": "CONDITIONING", "link": 4},
                    {"name": "negative", "type": "CONDITIONING", "link": 6},
                    {"name": "latent_image", "type": "LATENT", "link": 2},
                ],
                "outputs": [{"name": "LATENT", "type": "LATENT", "links": [7], "slot_index": 0}],
                "widgets_values": [156680208700286, "fixed", 3, 8, "euler", "normal", 1],
            },
            {
                "id": 4,
                "type": "CheckpointLoaderSimple",
                "pos": [26, 474],
                "mode": 0,
                "outputs": [
                    {"name": "MODEL", "type": "MODEL", "links": [1]},
                    {"name": "CLIP", "type": "CLIP", "links": [3, 5]},
                    {"name": "VAE", "type": "VAE", "links": [8]},
                ],
                "widgets_values": [ckpt],
            },
            {
                "id": 5,
                "type": "EmptyLatentImage",
                "pos": [473, 609],
                "mode": 0,
                "outputs": [{"name": "LATENT", "type": "LATENT", "links": [2]}],
                "widgets_values": [64, 64, 1],
            },
            {
                "id": 6,
                "type": "CLIPTextEncode",
                "pos": [415, 186],
                "mode": 0,
                "inputs": [{"name": "clip", "type": "CLIP", "link": 3}],
                "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [4]}],
                "widgets_values": ["beautiful scenery nature glass bottle landscape"],
            },
            {
                "id": 7,
                "type": "CLIPTextEncode",
                "pos": [413, 389],
                "mode": 0,
                "title": "Negative",
                "inputs": [{"name": "clip", "type": "CLIP", "link": 5}],
                "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [6]}],
                "widgets_values": ["text, watermark"],
            },
            {
                "id": 8,
                "type": "VAEDecode",
                "pos": [1209, 188],
                "mode": 0,
                "inputs": [{"name": "samples", "type": "LATENT", "link": 7}, {"name": "vae", "type": "VAE", "link": 8}],
                "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [9]}],
            },
            {
                "id": 9,
                "type": "SaveImage",
                "pos": [1451, 189],
                "mode": 0,
                "inputs": [{"name": "images", "type": "IMAGE", "link": 9}],
                "widgets_values": ["ComfyUI"],
            },
        ],
        "links": [
            [1, 4, 0, 3, 0, "MODEL"],
            [2, 5, 0, 3, 3, "LATENT"],
            [3, 4, 1, 6, 0, "CLIP"],
            [4, 6, 0, 3, 1, "CONDITIONING"],
            [5, 4, 1, 7, 0, "CLIP"],
            [6, 7, 0, 3, 2, "CONDITIONING"],
            [7, 3, 0, 8, 0, "LATENT"],
            [8, 4, 2, 8, 1, "VAE"],
            [9, 8, 0, 9, 0, "IMAGE"],
        ],
        "groups": [],
        "config": {},
        "extra": {"ds": {"scale": 1, "offset": [0, 0]}},
    }


def open_workflow(page: Any, workflow: dict[str, Any], expected_nodes: int) -> None:
    page.evaluate("(wf) => window.__loom.open(wf, 'test')", workflow)
    page.wait_for_function(f"() => document.querySelectorAll('.react-flow__node').length === {expected_nodes}")
    page.wait_for_timeout(300)


def new_canvas(page: Any) -> None:
    page.get_by_role("button", name="New").click()
    page.wait_for_function("() => document.querySelectorAll('.react-flow__node').length === 0")
    page.evaluate("() => window.__loom.setViewport({ x: 0, y: 0, zoom: 1 })")
    page.wait_for_timeout(100)


def add_node_by_search(page: Any, query: str, type_name: str, x: float, y: float) -> str:
    """Double-click the canvas, search, pick the node type; returns the new node's id."""
    before = {n["id"] for n in graph(page)["nodes"]}
    page.mouse.dblclick(x, y)
    palette = page.get_by_test_id("palette")
    palette.locator("input").fill(query)
    palette.locator(f'li[data-node-type="{type_name}"]').first.click()
    page.wait_for_function(f"() => document.querySelectorAll('.react-flow__node').length === {len(before) + 1}")
    added = [n["id"] for n in graph(page)["nodes"] if n["id"] not in before]
    assert len(added) == 1
    return str(added[0])


def drop_file(page: Any, data: bytes, name: str, mime: str) -> None:
    """Dispatch a real drop event carrying a file onto the canvas."""
    page.evaluate(
        """({ b64, name, mime }) => {
             const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
             const dt = new DataTransfer();
             dt.items.add(new File([bytes], name, { type: mime }));
             const init = { dataTransfer: dt, bubbles: true, cancelable: true, clientX: 600, clientY: 400 };
             document.querySelector('.canvas').dispatchEvent(new DragEvent('drop', init));
           }""",
        {"b64": base64.b64encode(data).decode(), "name": name, "mime": mime},
    )


def wait_history(server_url: str, prompt_id: str, timeout_s: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = json.loads(urllib.request.urlopen(f"{server_url}/history/{prompt_id}", timeout=10).read())
        if prompt_id in body and body[prompt_id].get("outputs"):
            entry: dict[str, Any] = body[prompt_id]
            return entry
        time.sleep(0.5)
    raise AssertionError(f"job {prompt_id} did not finish within {timeout_s}s")


# ------------------------------------------------------------------------------------------ tests


def test_build_txt2img_by_search_and_drag_then_run(page: Any, server_url: str, tmp_path: Path) -> None:
    """From an empty canvas: add nodes by search, link by dragging, queue, see progress and the image."""
    ckpt = checkpoint_name(server_url)
    new_canvas(page)
    ids = {
        "ckpt": add_node_by_search(page, "checkpoint", "CheckpointLoaderSimple", 60, 330),
        "pos": add_node_by_search(page, "clip text", "CLIPTextEncode", 430, 110),
        "neg": add_node_by_search(page, "clip text", "CLIPTextEncode", 430, 420),
        "latent": add_node_by_search(page, "empty latent", "EmptyLatentImage", 430, 720),
        "sampler": add_node_by_search(page, "ksampler", "KSampler", 820, 190),
        "decode": add_node_by_search(page, "vae decode", "VAEDecode", 1210, 130),
        "save": add_node_by_search(page, "save image", "SaveImage", 1210, 400),
    }
    links = [
        ("ckpt", 0, "sampler", "model"),
        ("ckpt", 1, "pos", "clip"),
        ("ckpt", 1, "neg", "clip"),
        ("pos", 0, "sampler", "positive"),
        ("neg", 0, "sampler", "negative"),
        ("latent", 0, "sampler", "latent_image"),
        ("sampler", 0, "decode", "samples"),
        ("ckpt", 2, "decode", "vae"),
        ("decode", 0, "save", "images"),
    ]
    for src, out_index, dst, name in links:
        drag_link(page, ids[src], out_index, ids[dst], name)
    edges = {(e[0], e[1], e[2], e[3]) for e in graph(page)["edges"]}
    expected = {(ids[s], f"o:{o}", ids[d], f"i:{n}") for s, o, d, n in links}
    assert edges == expected

    node(page, ids["ckpt"]).locator('[data-input="ckpt_name"] select').select_option(ckpt)
    node(page, ids["pos"]).locator("textarea").fill("a red fox in the snow, watercolor")
    node(page, ids["neg"]).locator("textarea").fill("blurry")
    for name, value in (("width", "64"), ("height", "64")):
        node(page, ids["latent"]).locator(f'[data-input="{name}"] input[type="number"]').fill(value)
    node(page, ids["sampler"]).locator('[data-input="steps"] input[type="number"]').fill("3")
    node(page, ids["sampler"]).locator('[data-input="seed"] select').select_option("fixed")

    page.evaluate(
        """() => {
             window.__sawRunning = false;
             const seen = () => { if (document.querySelector('.loom-node.running')) window.__sawRunning = true; };
             new MutationObserver(seen).observe(document.body,
               { subtree: true, childList: true, attributes: true, attributeFilter: ['class'] });
           }"""
    )
    page.keyboard.press("Control+Enter")
    image = node(page, ids["save"]).get_by_test_id("output-image")
    image.wait_for(timeout=RUN_TIMEOUT_MS)
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    events = page.evaluate("() => [...window.__loom.events]")
    assert "executing" in events and "executed" in events
    assert "progress" in events, f"no progress message arrived: {events}"
    assert page.evaluate("() => window.__sawRunning"), "no node was highlighted as running"
    assert not page.locator(".loom-node.has-error").count()

    page.get_by_test_id("queue-toggle").click()
    entry = page.get_by_test_id("history-entry").first
    entry.locator("img").first.wait_for(timeout=15_000)

    page.evaluate("() => window.__loom.fitView()")
    page.wait_for_timeout(600)
    screenshot = tmp_path / "editor.png"  # the README's picture comes from `make screenshots` (a real first run)
    page.screenshot(path=str(screenshot))
    assert Image.open(screenshot).size[0] > 0

    # The history entry reopens the workflow that made it.
    new_canvas(page)
    entry.get_by_role("button", name="Load").click()
    page.wait_for_function("() => document.querySelectorAll('.react-flow__node').length === 7")
    assert api_prompt(page)[ids["sampler"]]["inputs"]["steps"] == 3


def test_open_comfyui_ui_workflow_file(page: Any, server_url: str, tmp_path: Path) -> None:
    ckpt = checkpoint_name(server_url)
    path = tmp_path / "comfy_default.json"
    path.write_text(json.dumps(comfyui_ui_workflow(ckpt)))
    page.get_by_test_id("open-file").set_input_files(str(path))
    page.wait_for_function("() => document.querySelectorAll('.react-flow__node').length === 7")
    # Edges are drawn once React Flow has measured the nodes' handles, a frame or more after the nodes.
    page.wait_for_function("() => document.querySelectorAll('.react-flow__edge').length === 9", timeout=10_000)
    prompt = api_prompt(page)
    assert prompt["3"]["inputs"]["seed"] == 156680208700286
    assert prompt["3"]["inputs"]["steps"] == 3
    assert prompt["3"]["inputs"]["model"] == ["4", 0]
    assert prompt["8"]["inputs"]["vae"] == ["4", 2]
    assert prompt["6"]["inputs"]["text"].startswith("beautiful scenery")
    assert node(page, "7").locator(".node-title").inner_text() == "Negative"
    assert node(page, "3").locator('[data-input="seed"] select').input_value() == "fixed"


def test_drop_png_restores_its_graph(page: Any, server_url: str) -> None:
    """A PNG written by ComfyUI (workflow chunk) and one written by this server both reopen their graph."""
    ckpt = checkpoint_name(server_url)
    info = PngInfo()
    info.add_text("prompt", json.dumps(txt2img_prompt(ckpt)))
    info.add_text("workflow", json.dumps(comfyui_ui_workflow(ckpt)))
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(buf, "PNG", pnginfo=info)
    new_canvas(page)
    drop_file(page, buf.getvalue(), "comfy.png", "image/png")
    page.wait_for_function("() => document.querySelectorAll('.react-flow__node').length === 7")
    assert api_prompt(page)["3"]["inputs"]["seed"] == 156680208700286

    # Now an image made by our server from a workflow queued over HTTP.
    prompt = txt2img_prompt(ckpt, steps=1)
    prompt["3"]["inputs"]["seed"] = 123456
    native: dict[str, Any] = {
        "format": "latent-loom/workflow",
        "version": 1,
        "nodes": {k: {**v, "ui": {"pos": [int(k) * 50, 40]}} for k, v in prompt.items()},
    }
    extra = {"extra_pnginfo": {"workflow": native}}
    body = json.dumps({"prompt": prompt, "client_id": "e2e-http", "extra_data": extra}).encode()
    request = urllib.request.Request(f"{server_url}/prompt", data=body, headers={"Content-Type": "application/json"})
    prompt_id = json.loads(urllib.request.urlopen(request, timeout=30).read())["prompt_id"]
    entry = wait_history(server_url, prompt_id)
    image = entry["outputs"]["9"]["images"][0]
    query = urllib.parse.urlencode(
        {"filename": image["filename"], "subfolder": image.get("subfolder", ""), "type": image.get("type", "output")}
    )
    png = urllib.request.urlopen(f"{server_url}/view?{query}", timeout=30).read()
    new_canvas(page)
    drop_file(page, png, image["filename"], "image/png")
    page.wait_for_function("() => document.querySelectorAll('.react-flow__node').length === 7")
    reopened = api_prompt(page)
    assert reopened["3"]["inputs"]["seed"] == 123456
    assert {n["class_type"] for n in reopened.values()} == {n["class_type"] for n in prompt.values()}


def test_incompatible_link_is_refused(page: Any, server_url: str) -> None:
    open_workflow(page, txt2img_prompt(checkpoint_name(server_url)), 7)
    before = graph(page)["edges"]
    drag_link(page, "4", 1, "3", "latent_image")  # CLIP output onto a LATENT input
    after = graph(page)["edges"]
    assert sorted(after) == sorted(before)
    assert ["5", "o:0", "3", "i:latent_image"] in after
    assert "Link refused" in page.get_by_test_id("toast-warn").first.inner_text()
    # A compatible link onto an already linked input replaces the old one (one link per input).
    drag_link(page, "7", 0, "3", "positive")
    positive = [e for e in graph(page)["edges"] if e[2] == "3" and e[3] == "i:positive"]
    assert positive == [["7", "o:0", "3", "i:positive"]]


def test_undo_redo_of_graph_and_widget_changes(page: Any, server_url: str) -> None:
    open_workflow(page, txt2img_prompt(checkpoint_name(server_url)), 7)
    node(page, "8").locator("header").click()
    page.keyboard.press("Delete")
    page.wait_for_function("() => document.querySelectorAll('.react-flow__node').length === 6")
    assert len(graph(page)["edges"]) == 6
    page.keyboard.press("Control+z")
    page.wait_for_function("() => document.querySelectorAll('.react-flow__node').length === 7")
    assert len(graph(page)["edges"]) == 9
    page.keyboard.press("Control+Shift+z")
    page.wait_for_function("() => document.querySelectorAll('.react-flow__node').length === 6")
    page.keyboard.press("Control+z")
    page.wait_for_function("() => document.querySelectorAll('.react-flow__node').length === 7")

    steps = node(page, "3").locator('[data-input="steps"] input[type="number"]')
    steps.fill("12")
    # Ctrl+Z inside the field is the field's own undo; the graph undo works once focus leaves it.
    page.mouse.click(1500, 950)
    assert api_prompt(page)["3"]["inputs"]["steps"] == 12
    page.keyboard.press("Control+z")
    assert api_prompt(page)["3"]["inputs"]["steps"] == 2
    page.keyboard.press("Control+y")
    assert api_prompt(page)["3"]["inputs"]["steps"] == 12


def test_server_validation_error_shows_on_the_input(page: Any, server_url: str) -> None:
    prompt = txt2img_prompt(checkpoint_name(server_url))
    del prompt["3"]["inputs"]["latent_image"]  # required input left unconnected
    prompt["3"]["inputs"]["steps"] = 0  # below the minimum of 1
    open_workflow(page, prompt, 7)
    page.get_by_test_id("queue-button").click()
    error = node(page, "3").locator('[data-input="latent_image"].has-error')
    error.wait_for(timeout=15_000)
    assert error.get_by_test_id("input-error").inner_text().strip()
    steps = node(page, "3").locator('[data-input="steps"].has-error')
    assert steps.count() == 1, "the out-of-range widget is flagged too"
    assert "1" in steps.get_by_test_id("input-error").inner_text()
    assert node(page, "3").locator(".loom-node.has-error").count() == 1
    assert page.locator(".loom-node.has-error").count() == 1
    assert page.get_by_test_id("toast-error").first.inner_text().startswith("Not queued")


def test_link_dropped_on_empty_canvas_offers_compatible_nodes(page: Any, server_url: str) -> None:
    open_workflow(page, txt2img_prompt(checkpoint_name(server_url)), 7)
    page.evaluate("() => window.__loom.setViewport({ x: 0, y: 0, zoom: 0.8 })")
    page.wait_for_timeout(200)
    x0, y0 = center(handle(page, "8", "o:0"))
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + 60, y0 + 300, steps=8)
    page.mouse.up()
    palette = page.get_by_test_id("palette")
    palette.wait_for()
    offered = palette.locator("li[data-node-type]").evaluate_all("els => els.map(e => e.dataset.nodeType)")
    assert "PreviewImage" in offered and "KSampler" not in offered
    palette.locator("input").fill("preview")
    palette.locator('li[data-node-type="PreviewImage"]').click()
    page.wait_for_function("() => document.querySelectorAll('.react-flow__node').length === 8")
    new_id = next(n["id"] for n in graph(page)["nodes"] if n["data"].get("classType") == "PreviewImage")
    assert ["8", "o:0", new_id, "i:images"] in graph(page)["edges"]


def test_copy_paste_duplicate_mute_and_bypass(page: Any, server_url: str) -> None:
    open_workflow(page, txt2img_prompt(checkpoint_name(server_url)), 7)
    node(page, "6").locator("header").click()
    page.keyboard.press("Control+c")
    page.mouse.move(200, 900)
    page.keyboard.press("Control+v")
    page.wait_for_function("() => document.querySelectorAll('.react-flow__node').length === 8")
    pasted = graph(page)["nodes"][-1]
    assert pasted["data"]["classType"] == "CLIPTextEncode" and pasted["id"] == "10"
    assert not [e for e in graph(page)["edges"] if e[2] == "10"], "plain paste keeps no links from outside"
    page.keyboard.press("Control+Shift+v")
    page.wait_for_function("() => document.querySelectorAll('.react-flow__node').length === 9")
    assert [e for e in graph(page)["edges"] if e[2] == "11"] == [["4", "o:1", "11", "i:clip"]]
    page.keyboard.press("Control+d")
    page.wait_for_function("() => document.querySelectorAll('.react-flow__node').length === 10")

    node(page, "5").locator("header").click()
    page.keyboard.press("Control+m")
    assert "5" not in api_prompt(page), "a muted node is left out of the API prompt"
    assert node(page, "5").locator(".loom-node.muted").count() == 1
    page.keyboard.press("Control+m")
    assert "5" in api_prompt(page)
    node(page, "8").locator("header").click()
    page.keyboard.press("Control+b")
    prompt = api_prompt(page)
    assert "8" not in prompt and prompt["9"]["inputs"].get("images") is None


def test_group_moves_its_nodes_and_autosave_restores_the_graph(page: Any, server_url: str) -> None:
    open_workflow(page, txt2img_prompt(checkpoint_name(server_url)), 7)
    page.evaluate("() => window.__loom.setViewport({ x: 0, y: 0, zoom: 0.7 })")
    page.wait_for_timeout(200)
    node(page, "6").locator("header").click()
    node(page, "7").locator("header").click(modifiers=["Control"])
    page.keyboard.press("Control+g")
    group = page.get_by_test_id("group")
    group.wait_for()
    before = {
        n["id"]: n for n in page.evaluate("() => window.__loom.graph().nodes.map(n => ({id: n.id, ...n.position}))")
    }
    title = page.locator(".frame-title")
    x, y = center(title)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 70, y + 140, steps=8)
    page.mouse.up()
    after = {
        n["id"]: n for n in page.evaluate("() => window.__loom.graph().nodes.map(n => ({id: n.id, ...n.position}))")
    }
    frame_id = next(i for i in after if i.startswith("g"))
    dx = after[frame_id]["x"] - before[frame_id]["x"]
    dy = after[frame_id]["y"] - before[frame_id]["y"]
    assert dx > 50 and dy > 100, "the group itself was dragged"
    for moved in ("6", "7"):
        assert after[moved]["x"] - before[moved]["x"] == pytest.approx(dx, abs=0.5)
        assert after[moved]["y"] - before[moved]["y"] == pytest.approx(dy, abs=0.5)
    assert after["3"] == before["3"], "nodes outside the group stay put"

    page.wait_for_timeout(700)  # autosave is debounced
    page.reload()
    page.wait_for_function("() => document.querySelectorAll('.react-flow__node').length === 8")
    saved = page.evaluate("() => window.__loom.native()")
    assert saved["ui"]["groups"][0]["title"] == "Group"
    assert saved["nodes"]["6"]["ui"]["pos"] == pytest.approx([after["6"]["x"], after["6"]["y"]], abs=0.1)


def test_templates_menu_opens_a_shipped_workflow(page: Any, server_url: str) -> None:
    listing = json.loads(urllib.request.urlopen(f"{server_url}/api/workflows", timeout=10).read())
    names = listing["workflows"] if isinstance(listing, dict) else listing
    names = [n if isinstance(n, str) else n["name"] for n in names]
    if "txt2img.json" not in names:
        pytest.fail(f"the server ships no txt2img.json template (has {names})")
    template = json.loads(urllib.request.urlopen(f"{server_url}/api/workflows/txt2img.json", timeout=10).read())
    new_canvas(page)
    page.get_by_role("button", name="Templates ▾").click()
    page.get_by_test_id("templates").get_by_text("txt2img.json", exact=True).click()
    expected = len(template["nodes"]) + len((template.get("ui") or {}).get("reroutes") or {})
    expected += len((template.get("ui") or {}).get("groups") or [])
    expected += len((template.get("ui") or {}).get("primitives") or {})
    page.wait_for_function(f"() => document.querySelectorAll('.react-flow__node').length === {expected}")
    assert set(api_prompt(page)) == {k for k, v in template["nodes"].items() if not (v.get("ui") or {}).get("mode")}


def test_load_image_upload_and_preview(page: Any, server_url: str, tmp_path: Path) -> None:
    picture = tmp_path / "e2e_upload.png"
    Image.new("RGB", (32, 24), (200, 40, 90)).save(picture)
    workflow = {
        "1": {"class_type": "LoadImage", "inputs": {}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }
    open_workflow(page, workflow, 2)
    node(page, "1").locator('input[type="file"]').set_input_files(str(picture))
    select = node(page, "1").locator('[data-input="image"] select')
    page.wait_for_function("(el) => el.value.includes('e2e_upload')", arg=select.element_handle(), timeout=15_000)
    preview = node(page, "1").locator("img.input-preview")
    preview.wait_for()
    page.wait_for_function("(img) => img.complete && img.naturalWidth === 32", arg=preview.element_handle())
    assert "e2e_upload" in api_prompt(page)["1"]["inputs"]["image"]


def test_reroute_inserted_on_a_link_keeps_the_prompt(page: Any, server_url: str) -> None:
    open_workflow(page, txt2img_prompt(checkpoint_name(server_url)), 7)
    page.wait_for_selector('.react-flow__edge[data-id="e4.o:2-8.i:vae"] path', state="attached")
    point = page.evaluate(
        """() => {
             const edge = document.querySelector('.react-flow__edge[data-id="e4.o:2-8.i:vae"] path');
             const p = edge.getPointAtLength(edge.getTotalLength() / 2);
             const m = edge.getScreenCTM();
             return [p.x * m.a + p.y * m.c + m.e, p.x * m.b + p.y * m.d + m.f];
           }"""
    )
    page.mouse.click(point[0], point[1], button="right")
    page.get_by_test_id("context-menu").get_by_text("Add reroute here").click()
    page.get_by_test_id("reroute").wait_for()
    native = page.evaluate("() => window.__loom.native()")
    reroute_id = next(iter(native["ui"]["reroutes"]))
    assert native["ui"]["reroutes"][reroute_id]["input"] == ["4", 2]
    assert native["nodes"]["8"]["ui"]["via"] == {"vae": reroute_id}
    assert api_prompt(page)["8"]["inputs"]["vae"] == ["4", 2]


def test_primitive_drives_widgets_and_a_link_dropped_on_a_widget_converts_it(page: Any, server_url: str) -> None:
    open_workflow(page, txt2img_prompt(checkpoint_name(server_url)), 7)
    page.evaluate("() => window.__loom.setViewport({ x: 0, y: 0, zoom: 0.8 })")
    page.wait_for_timeout(200)
    x0, y0 = center(handle(page, "3", "i:seed"))
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 - 80, y0 + 330, steps=8)
    page.mouse.up()
    palette = page.get_by_test_id("palette")
    palette.locator("input").fill("primitive")
    palette.locator('li[data-node-type="PrimitiveNode"]').click()
    primitive = page.get_by_test_id("primitive")
    primitive.wait_for()
    value = primitive.locator('input[type="number"]')
    assert value.input_value() == "7", "the primitive starts from the seed it drives"
    assert node(page, "3").locator('[data-input="seed"].linked').count() == 1
    value.fill("99")
    page.mouse.click(1500, 950)
    assert api_prompt(page)["3"]["inputs"]["seed"] == 99

    # Drop a link from the primitive onto the steps widget itself (not its socket): steps becomes driven.
    prim_id = next(n["id"] for n in graph(page)["nodes"] if n["type"] == "primitive")
    x0, y0 = center(handle(page, prim_id, "o:0"))
    x1, y1 = center(node(page, "3").locator('[data-input="steps"] input[type="number"]'))
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=10)
    page.mouse.up()
    assert [prim_id, "o:0", "3", "i:steps"] in graph(page)["edges"]
    assert api_prompt(page)["3"]["inputs"]["steps"] == 99


def test_image_without_workflow_dropped_becomes_a_load_image_node(page: Any, server_url: str) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (20, 10), (30, 200, 90)).save(buf, "PNG")
    new_canvas(page)
    drop_file(page, buf.getvalue(), "dropped_plain.png", "image/png")
    page.wait_for_function("() => document.querySelectorAll('.react-flow__node').length === 1")
    loader = graph(page)["nodes"][0]
    assert loader["data"]["classType"] == "LoadImage"
    assert "dropped_plain" in loader["data"]["values"]["image"]
    preview = node(page, loader["id"]).locator("img.input-preview")
    page.wait_for_function("(img) => img.complete && img.naturalWidth === 20", arg=preview.element_handle())
    assert node(page, loader["id"]).locator(".widget-invalid").count() == 0, "the upload is among the choices"


def test_node_width_resize_is_saved(page: Any, server_url: str) -> None:
    open_workflow(page, txt2img_prompt(checkpoint_name(server_url)), 7)
    page.evaluate("() => window.__loom.setViewport({ x: 0, y: 100, zoom: 0.8 })")
    page.wait_for_timeout(200)
    node(page, "3").locator("header").click()
    grip = node(page, "3").locator(".width-grip")
    box = grip.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.7  # below the output sockets
    before = node(page, "3").bounding_box()
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 96, y, steps=6)
    page.mouse.up()
    after = node(page, "3").bounding_box()
    assert before is not None and after is not None
    assert after["width"] - before["width"] == pytest.approx(96, abs=4)
    size = page.evaluate("() => window.__loom.native().nodes['3'].ui.size")
    assert size[0] == pytest.approx(after["width"] / 0.8, abs=5)


def test_save_and_export_api_download_files(page: Any, server_url: str) -> None:
    ckpt = checkpoint_name(server_url)
    open_workflow(page, txt2img_prompt(ckpt), 7)
    with page.expect_download() as saved:
        page.get_by_role("button", name="Save", exact=True).click()
    native = json.loads(Path(saved.value.path()).read_text())
    assert native["format"] == "latent-loom/workflow" and native["version"] == 1
    assert native["nodes"]["3"]["inputs"]["model"] == ["4", 0]
    assert "pos" in native["nodes"]["3"]["ui"]
    with page.expect_download() as exported:
        page.get_by_role("button", name="Export API").click()
    prompt = json.loads(Path(exported.value.path()).read_text())
    expected = txt2img_prompt(ckpt)
    assert {k: (v["class_type"], v["inputs"]) for k, v in prompt.items()} == {
        k: (v["class_type"], v["inputs"]) for k, v in expected.items()
    }


def test_workflow_with_missing_node_types_is_shown_as_such(page: Any) -> None:
    """The server refuses to convert it (issue 12 point 5): the editor says which types are missing, and the
    nodes of those types show as not installed (their widget values are kept, never silently dropped)."""
    workflow = {
        "last_node_id": 2, "last_link_id": 0, "links": [], "groups": [], "config": {}, "extra": {},
        "version": 0.4,
        "nodes": [
            {"id": 1, "type": "EmptyLatentImage", "pos": [0, 0], "size": [300, 120], "flags": {}, "order": 0,
             "mode": 0, "inputs": [], "outputs": [], "widgets_values": [64, 64, 1]},
            {"id": 2, "type": "FancyUpscalerFromAPack", "pos": [400, 0], "size": [300, 120], "flags": {},
             "order": 1, "mode": 0, "inputs": [], "outputs": [], "widgets_values": [4, "lanczos"]},
        ],
    }
    open_workflow(page, workflow, 2)
    toast = page.get_by_test_id("toast-error").first
    toast.wait_for()
    assert "Missing node types: FancyUpscalerFromAPack" in toast.inner_text()
    assert "not installed" in node(page, "2").inner_text()
    assert "not installed" not in node(page, "1").inner_text()
