"""`POST /api/grid` on the real server: axes refused by name before anything is queued; a valid grid queues one
ordinary job per cell, and every cell succeeds on the tiny checkpoint."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.api.server_harness import Server
from tests.seeing.workflows import TINY_CKPT, txt2img


def test_grid_route(server: Server, tiny_sd1_checkpoint: Path) -> None:
    target = server.base / "models" / "checkpoints" / TINY_CKPT
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tiny_sd1_checkpoint, target)
    prompt = txt2img(steps=1)
    refused = server.request("POST", "/api/grid", {"prompt": prompt, "x": {"node": "3", "input": "cfg",
                                                                         "values": [4, 101]}})
    assert refused.status == 400
    assert "axis x (3.cfg, node 3 KSampler): value 101 refused" in refused.json()["error"]["message"]
    before = server.request("GET", "/api/queue").json()
    assert not before["queue_pending"]
    reply = server.request("POST", "/api/grid", {
        "prompt": prompt, "x": {"node": "3", "input": "sampler_name", "values": ["euler", "ddim"]},
        "y": {"node": "3", "input": "seed", "values": [1, 2]}})
    assert reply.status == 200, reply.body
    grid = reply.json()
    assert [cell["index"] for cell in grid["cells"]] == [[0, 0], [1, 0], [0, 1], [1, 1]]
    assert grid["axes"][1] == {"label": "y", "node": "3", "class_type": "KSampler", "input": "seed",
                               "values": [1, 2]}
    for cell in grid["cells"]:
        assert server.wait_job(cell["prompt_id"], timeout=120)["status"] == "succeeded"
