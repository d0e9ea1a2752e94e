"""Browser end-to-end fixtures: a real `server.py` on a free loopback port, and headless Debian chromium.

The server gets a temporary base directory holding the tiny fixture checkpoint. Set
`LOOM_E2E_URL=http://127.0.0.1:PORT` to run the tests against a server you started yourself.
Tests skip, saying why, when chromium, the built editor (`make web`) or `server.py` is missing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from diffusion.models.tiny import install_demo_checkpoint

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHECKPOINT = "tiny_sd1.safetensors"
STARTUP_TIMEOUT_S = 90.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return bytes(response.read())


@pytest.fixture(scope="session")
def base_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A server base directory with the tiny SD1 checkpoint in models/checkpoints."""
    base = tmp_path_factory.mktemp("loom-base")
    install_demo_checkpoint(base, CHECKPOINT)
    return base


@pytest.fixture(scope="session")
def server_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a running server: LOOM_E2E_URL, or `server.py` started here and stopped afterwards."""
    if os.environ.get("LOOM_E2E_URL"):
        yield os.environ["LOOM_E2E_URL"].rstrip("/")
        return
    if not (REPO / "web" / "dist" / "index.html").exists():
        pytest.fail("the editor is not built: run `make web` (cd web && npm ci && npm run build)")
    base_directory: Path = request.getfixturevalue("base_directory")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("loom-server") / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "server.py", "--port", str(port), "--base-directory", str(base_directory)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-1500:]
                pytest.fail(f"server.py exited with code {process.returncode}:\n{tail}")
            try:
                _get(f"{url}/object_info")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"server.py did not answer within {STARTUP_TIMEOUT_S}s:\n{log_path.read_text()[-1500:]}"
                    )
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Headless Debian chromium through Playwright (never `playwright install`). Package-scoped: Playwright's sync
    API keeps its event loop marked running in this thread while open, which breaks `asyncio.run` in the test
    packages that run after this one."""
    if not CHROMIUM.exists():
        pytest.fail("Debian chromium is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, server_url: str) -> Iterator[Any]:
    """A fresh editor tab (empty localStorage) on the server, with page errors collected."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server_url}/")
    page.wait_for_selector(".react-flow__pane", timeout=20_000)
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"
