"""ComfyUI's official frontend (PyPI comfyui-frontend-package, pinned in requirements-dev.txt) served by
`server.py --front-end-root`: it starts, loads a txt2img workflow on the tiny test checkpoint, queues it and shows
the output image, with no failed request and no console error on the way."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from diffusion.models.tiny import install_demo_checkpoint
from graph.comfy_export import to_comfy_ui
from graph.formats import load_workflow
from tests.api.test_txt2img import txt2img
from tests.browser.conftest import CHROMIUM, REPO, _free_port

pytestmark = pytest.mark.browser
CHECKPOINT = "tiny_sd1.safetensors"


def frontend_root() -> Path:
    try:
        import comfyui_frontend_package  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        pytest.fail("comfyui-frontend-package is not installed: pip install -r requirements-dev.txt")
    return Path(comfyui_frontend_package.__file__).resolve().parent / "static"


def txt2img_prompt() -> dict[str, Any]:
    prompt = txt2img(CHECKPOINT, seed=3)
    prompt["3"]["inputs"]["steps"] = 2
    prompt["9"]["inputs"]["filename_prefix"] = "frontend"
    return prompt


@pytest.fixture(scope="module")
def comfy_frontend_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not CHROMIUM.exists():
        pytest.fail("Debian chromium is missing: apt-get install -y chromium")
    base = tmp_path_factory.mktemp("comfy-frontend")
    install_demo_checkpoint(base, CHECKPOINT)
    port = _free_port()
    log_path = base / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "server.py", "--port", str(port), "--base-directory", str(base), "--cpu",
             "--front-end-root", str(frontend_root())],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/features", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"server did not start:\n{log_path.read_text()[-2000:]}")
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_comfyui_frontend_runs_txt2img(comfy_frontend_url: str) -> None:
    from playwright.sync_api import sync_playwright

    import nodes
    from graph.registry import REGISTRY

    nodes.load_catalog(None)
    ui_workflow = to_comfy_ui(load_workflow(txt2img_prompt(), REGISTRY), REGISTRY)
    problems: list[str] = []  # anything that failed against this server
    outside: list[str] = []  # requests to other hosts (this machine is offline)
    console: list[str] = []
    images: list[tuple[str, int, str]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})

            def on_failed(request: Any) -> None:
                (problems if request.url.startswith(comfy_frontend_url) else outside).append(
                    f"failed {request.method} {request.url} {request.failure}")

            page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.request.method} {r.url}"))
            page.on("requestfailed", on_failed)
            page.on("console", lambda m: m.type == "error" and console.append(m.text[:300]))
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("response", lambda r: "/api/view?" in r.url and images.append(
                (r.url, r.status, r.headers.get("content-type", ""))))
            page.goto(comfy_frontend_url + "/")
            app = "window.app"
            try:
                page.wait_for_function(
                    "() => !!window.app?.graph && !!window.LiteGraph?.registered_node_types?.KSampler", timeout=90_000)
            except Exception:
                page.screenshot(path=str(Path(tempfile.gettempdir()) / "comfy-frontend-failure.png"))
                raise AssertionError(f"the frontend did not start: {problems} {console} {outside}") from None
            page.evaluate(f"(workflow) => {app}.loadGraphData(workflow)", ui_workflow)
            page.wait_for_function(f"() => {app}.graph.nodes.length === 7", timeout=30_000)
            node_types = page.evaluate(f"() => {app}.graph.nodes.map(n => n.type).sort()")
            assert node_types == sorted(["CheckpointLoaderSimple", "CLIPTextEncode", "CLIPTextEncode",
                                         "EmptyLatentImage", "KSampler", "VAEDecode", "SaveImage"])
            page.evaluate(f"() => {app}.queuePrompt(0, 1)")
            deadline = time.monotonic() + 180
            while not any(status == 200 and "frontend_" in url for url, status, _ in images):
                assert time.monotonic() < deadline, f"no output image shown; requests with problems: {problems}"
                page.wait_for_timeout(500)
            page.wait_for_timeout(1500)  # let the queue and history panels refresh after the run
        finally:
            browser.close()
    shown = [(url, kind) for url, status, kind in images if status == 200 and "frontend_" in url]
    assert shown and shown[0][1] == "image/png"
    assert problems == []
    # Offline, the frontend's own look-ups on the internet fail: only the model-size HEADs of its built-in
    # default graph (huggingface.co), each logged once as a console error. Nothing else may fail or log an error.
    assert all(entry.startswith("failed HEAD https://huggingface.co/") for entry in outside), outside
    unexplained = [text for text in console if "ERR_NAME_NOT_RESOLVED" not in text]
    assert unexplained == []
    assert len(console) - len(unexplained) <= len(outside)
