"""The README screenshot, taken from a real first run: `make screenshots` (or `.venv/bin/python docs/screenshots.py`).

What a newcomer sees: a fresh base directory (only the checkpoints the repository ships, or the demo checkpoint
when none ships), the server started with `./loom`, a fresh browser profile (so the editor opens on its starting
graph, CPU-aware cut included), one press of Queue (accepting the time question if the machine asks it), and the
picture once the output image has arrived. Headless Debian chromium through Playwright, as the browser tests.

    .venv/bin/python docs/screenshots.py                  # writes docs/editor.png
    .venv/bin/python docs/screenshots.py --out /tmp/x.png
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1600, "height": 1000}
RUN_TIMEOUT_MS = 600_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listed_checkpoints(url: str) -> list[str]:
    info = json.loads(urllib.request.urlopen(f"{url}/object_info/CheckpointLoaderSimple", timeout=30).read())
    spec = info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"]
    options = spec[1]["options"] if spec[0] == "COMBO" else spec[0]
    return [str(option) for option in options]


def start_server(base: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as stream:
        process = subprocess.Popen([str(REPO / "loom"), "--base-directory", str(base), "--port", str(port)],
                                   cwd=REPO, stdout=stream, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited:\n{log.read_text()}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/features", timeout=2).read()
            return process
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server did not start:\n{log.read_text()}")


def shoot(url: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        page = browser.new_context(viewport=VIEWPORT).new_page()
        page.on("dialog", lambda dialog: dialog.accept())  # "this will take about …": a newcomer says yes
        page.goto(url)
        page.wait_for_selector(".react-flow__node", timeout=60_000)
        # The server measures the machine once; the editor may then cut the first graph for a CPU.
        urllib.request.urlopen(f"{url}/api/estimate/calibration", timeout=300).read()
        page.wait_for_timeout(3000)
        page.get_by_test_id("queue-button").click()
        image = page.get_by_test_id("output-image").first
        image.wait_for(timeout=RUN_TIMEOUT_MS)
        page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle())
        page.evaluate("() => window.__loom.fitView()")
        page.wait_for_timeout(1500)  # toasts fade, the view settles
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "editor.png")
    args = parser.parse_args(argv)
    if not (REPO / "web" / "dist" / "index.html").is_file():
        raise SystemExit("the editor is not built: run `make web` first")
    with tempfile.TemporaryDirectory(prefix="loom-first-run-") as scratch:
        base = Path(scratch) / "base"
        base.mkdir()
        port = free_port()
        server = start_server(base, port, Path(scratch) / "server.log")
        url = f"http://127.0.0.1:{port}"
        try:
            checkpoints = listed_checkpoints(url)
            if not checkpoints:  # nothing ships a checkpoint: the README's own first step, the demo model
                subprocess.run([str(REPO / "loom"), "demo-model", "--base-directory", str(base)], check=True,
                               stdout=subprocess.DEVNULL, env={**os.environ})
                checkpoints = listed_checkpoints(url)
            print(f"first run with {', '.join(checkpoints)}", file=sys.stderr)
            shoot(url, args.out)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
