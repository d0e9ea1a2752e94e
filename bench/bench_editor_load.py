"""Editor load benchmark: time to interactive of a 500-node graph in headless chromium (printed, not asserted).

The built editor (web/dist) is served with the fixture node schema by web/dev/fake_backend.py, so only the
editor is measured. The graph is put in the editor's autosave slot before the page loads. The reference,
measured in the same run, is a 50-node graph (a 200-node one is measured too). Also printed: pan frame
rates with all nodes on screen (the simplified drawing below zoom 0.45/0.25) and zoomed in.

    .venv/bin/python bench/bench_editor_load.py [--nodes 500] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import socket
import statistics
import threading
from pathlib import Path
from typing import Any

from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def make_graph(count: int, columns: int = 25) -> dict[str, Any]:
    """A native workflow of `count` nodes in a grid, chained by LATENT links (count - 1 edges)."""
    nodes: dict[str, Any] = {}
    for i in range(count):
        node_id = str(i + 1)
        pos = [(i % columns) * 380, (i // columns) * 360]
        if i == 0:
            inputs: dict[str, Any] = {"width": 512, "height": 512, "batch_size": 1}
            nodes[node_id] = {"class_type": "EmptyLatentImage", "inputs": inputs}
        elif i % 4 == 0:
            nodes[node_id] = {"class_type": "KSampler", "inputs": {"seed": i, "latent_image": [str(i), 0]}}
        else:
            nodes[node_id] = {
                "class_type": "LatentUpscaleBy",
                "inputs": {"samples": [str(i), 0], "upscale_method": "bilinear", "scale_by": 1.0},
            }
        nodes[node_id]["ui"] = {"pos": pos}
    return {"format": "latent-loom/workflow", "version": 1, "nodes": nodes, "ui": {"groups": [], "reroutes": {}}}


def serve_editor() -> str:
    """Start the fake backend in a daemon thread; returns its URL."""
    spec = importlib.util.spec_from_file_location("fake_backend", REPO / "web" / "dev" / "fake_backend.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    info = json.loads((REPO / "web" / "src" / "fixtures" / "object_info.json").read_text())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    ready = threading.Event()

    def run() -> None:
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(module.make_app(info))
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    ready.wait(10)
    return f"http://127.0.0.1:{port}"


READY_JS = """([n, zoom]) => {
  const g = window.__loom && window.__loom.graph();
  if (!g || g.nodes.length !== n) return false;
  const viewport = document.querySelector('.react-flow__viewport');
  if (!viewport || !viewport.style.transform.includes(`scale(${zoom})`)) return false;
  const els = document.querySelectorAll('.react-flow__node');
  return els.length > 0 && [...els].every((e) => getComputedStyle(e).visibility !== 'hidden');
}"""

PAN_JS = """async (frames) => {
  const times = [];
  const flow = window.__loom;
  const start = flow.graph();
  let x = 0;
  for (let i = 0; i < frames; i++) {
    await new Promise((r) => requestAnimationFrame(r));
    times.push(performance.now());
    x -= 6;
    flow.setViewport({ x, y: 0, zoom: window.__benchZoom });
  }
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  return 1000 / (gaps.reduce((a, b) => a + b, 0) / gaps.length);
}"""


def measure(browser: Any, url: str, workflow: dict[str, Any], zoom: float) -> tuple[float, float, int]:
    """Time to interactive (ms since navigation), pan fps at `zoom`, and DOM node count."""
    workflow = {**workflow, "ui": {**workflow["ui"], "view": {"x": 0, "y": 0, "zoom": zoom}}}
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    saved = json.dumps({"workflow": workflow, "name": "bench"})
    context.add_init_script(f"localStorage.setItem('latent-loom.autosave', {json.dumps(saved)});")
    page = context.new_page()
    page.goto(url)
    page.wait_for_function(READY_JS, arg=[len(workflow["nodes"]), zoom], polling="raf", timeout=120_000)
    tti = float(page.evaluate("performance.now()"))
    page.evaluate(f"window.__benchZoom = {zoom}")
    fps = float(page.evaluate(PAN_JS, 90))
    dom = int(page.evaluate("document.getElementsByTagName('*').length"))
    context.close()
    return tti, fps, dom


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--also", type=int, default=200, help="an intermediate size also measured (0: none)")
    parser.add_argument("--reference-nodes", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not (REPO / "web" / "dist" / "index.html").exists():
        raise SystemExit("build the editor first: make web")
    from playwright.sync_api import sync_playwright

    url = serve_editor()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        results: dict[tuple[int, float], list[tuple[float, float, int]]] = {}
        for _ in range(args.runs):
            for count in sorted({args.reference_nodes, args.also, args.nodes} - {0}):
                for zoom in (1.0, 0.12):
                    results.setdefault((count, zoom), []).append(measure(browser, url, make_graph(count), zoom))
        browser.close()
    print(f"editor load benchmark (headless chromium, software raster, median of {args.runs})")
    print(f"{'nodes':>6} {'zoom':>5} {'TTI ms':>8} {'pan fps':>8} {'DOM elements':>13}")
    medians: dict[tuple[int, float], float] = {}
    for (count, zoom), runs in sorted(results.items()):
        tti = statistics.median(r[0] for r in runs)
        fps = statistics.median(r[1] for r in runs)
        dom = int(statistics.median(r[2] for r in runs))
        medians[(count, zoom)] = tti
        print(f"{count:>6} {zoom:>5} {tti:>8.0f} {fps:>8.1f} {dom:>13}")
    for count in sorted({args.also, args.nodes} - {0}):
        ratio = medians[(count, 1.0)] / medians[(args.reference_nodes, 1.0)]
        print(f"TTI ratio {count} / {args.reference_nodes} nodes at zoom 1: {ratio:.2f}x")


if __name__ == "__main__":
    main()
