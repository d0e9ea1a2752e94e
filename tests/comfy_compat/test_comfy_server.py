"""ComfyUI custom-node packs through a real server process and the CLI: loading, failures, extensions, a run."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.api.server_harness import REPO, Server, run_and_follow

HERE = Path(__file__).resolve().parent
PACKS = HERE / "custom_nodes_comfy"
MIXED = HERE / "data" / "mixed_workflow.json"
#: EmptyImage(color 0) blended 25% towards white, channels swapped, inverted: 1 - 0.25 = 0.75 of 255.
EXPECTED_PIXEL = round(0.75 * 255)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("comfy_packs"), "--custom-nodes-directory", str(PACKS)).start()
    yield running
    running.stop()


def mixed() -> dict[str, Any]:
    return dict(json.loads(MIXED.read_text()))


def test_the_server_starts_and_reports_the_pack_that_failed(server: Server) -> None:
    status = server.request("GET", "/api/loom/plugins").json()
    assert {"image_pack", "hooks_pack.py", "raising_pack.py"} <= set(status["loaded"])
    failed = {item["plugin"]: item["error"] for item in status["failed"]}
    assert "this_module_does_not_exist" in failed["broken_pack.py"]
    assert "INPUT_IS_LIST" in failed["raising_pack.py"]
    assert not any(str(REPO) in error for error in failed.values())  # no server paths to clients
    assert "broken_pack.py" in server.log() and "this_module_does_not_exist" in server.log()


def test_custom_nodes_appear_in_object_info(server: Server) -> None:
    info = server.request("GET", "/object_info/TestBlendWithColor").json()["TestBlendWithColor"]
    assert info["display_name"] == "Blend With Color (test pack)" and info["output_name"] == ["blended", "width"]
    assert info["python_module"] == "custom_nodes.image_pack"


def test_web_directory_is_served_under_extensions(server: Server) -> None:
    assert server.request("GET", "/extensions").json() == ["/extensions/image_pack/image_pack.js"]
    script = server.request("GET", "/extensions/image_pack/image_pack.js")
    assert script.status == 200 and b"image_pack extension loaded" in script.body
    assert server.request("GET", "/extensions/image_pack/..%2F__init__.py").status == 404
    assert server.request("GET", "/extensions/image_pack/../image_nodes.py").status == 404


def test_a_mixed_workflow_runs_through_the_api(server: Server) -> None:
    reply = server.post_prompt(mixed())
    assert reply.status == 200, reply.body
    prompt_id = reply.json()["prompt_id"]
    assert server.wait_job(prompt_id)["status"] == "succeeded"
    history = server.request("GET", f"/history/{prompt_id}").json()[prompt_id]["outputs"]
    assert history["4"] == {"text": ["w=16 node=4 nodes_in_prompt=8"]}
    saved = history["6"]["images"][0]
    pixels = np.asarray(Image.open(server.base / "output" / saved["subfolder"] / saved["filename"]))
    assert pixels.shape == (8, 16, 3) and int(pixels[0, 0, 0]) == EXPECTED_PIXEL
    note = history["8"]["notes"][0]
    assert (server.base / "output" / note["subfolder"] / note["filename"]).read_text() == "steps x3"


def test_prompt_server_routes_and_send_sync(server: Server) -> None:
    for path in ("/test_pack/hello", "/api/test_pack/hello"):
        reply = server.request("GET", path)
        assert reply.status == 200 and reply.json() == {"hello": "from hooks_pack"}
    _, messages = asyncio.run(run_and_follow(server, mixed()))
    shown = [m["data"] for m in messages if isinstance(m, dict) and m.get("type") == "test_pack.shown"]
    assert shown == [{"node": "4", "label": "w"}]


def test_validate_inputs_and_a_raising_node_over_the_api(server: Server) -> None:
    refused = server.post_prompt({
        "1": {"class_type": "TestMakePoints", "inputs": {"count": 7}},
        "2": {"class_type": "TestShowAnything", "inputs": {"value": ["1", 0], "label": "p"}},
    })
    assert refused.status == 400
    assert "seven points are not allowed" in json.dumps(refused.json()["node_errors"]["1"])
    prompt = mixed()
    prompt["3"] = {"class_type": "TestAlwaysFails", "inputs": {"image": ["2", 0]}}
    reply = server.post_prompt(prompt)
    assert reply.status == 200, reply.body
    prompt_id = reply.json()["prompt_id"]
    job = server.wait_job(prompt_id)
    assert job["status"] == "failed" and "this node always fails" in json.dumps(job)


def test_disable_all_custom_nodes(tmp_path: Path) -> None:
    plain = Server(tmp_path, "--custom-nodes-directory", str(PACKS), "--disable-all-custom-nodes").start()
    try:
        assert plain.request("GET", "/object_info/TestBlendWithColor").json() == {}
        assert plain.request("GET", "/api/loom/plugins").json() == {"loaded": [], "failed": []}
    finally:
        plain.stop()


def test_the_cli_runs_the_same_workflow(tmp_path: Path) -> None:
    command = [sys.executable, str(REPO / "server.py"), "run", str(MIXED), "--base-directory", str(tmp_path),
               "--custom-nodes-directory", str(PACKS), "--cpu", "--no-progress"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "broken_pack.py did not load" in done.stderr
    written = [Path(line) for line in done.stdout.split() if line.endswith(".png")]
    assert len(written) == 1 and int(np.asarray(Image.open(written[0]))[0, 0, 0]) == EXPECTED_PIXEL
    assert (tmp_path / "output" / "notes" / "run_00001_.txt").read_text() == "steps x3"
