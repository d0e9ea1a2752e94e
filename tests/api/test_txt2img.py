"""The issue's headline flow with real nodes: a tiny random SD1.x checkpoint, ComfyUI's txt2img API prompt,
queued over HTTP, followed on the websocket to completion, then history and /view (with PNG metadata)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from diffusion.models.tiny import install_demo_checkpoint
from tests.api.server_harness import Server, run_and_follow

TXT2IMG_NODES = ("CheckpointLoaderSimple", "CLIPTextEncode", "EmptyLatentImage", "KSampler", "VAEDecode", "SaveImage")


def txt2img(ckpt: str, seed: int = 5) -> dict[str, Any]:
    """ComfyUI's default workflow in API format, small."""
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "3": {"class_type": "KSampler", "inputs": {
            "seed": seed, "steps": 3, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
            "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
    }


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base: Path = tmp_path_factory.mktemp("txt2img")
    install_demo_checkpoint(base)
    instance = Server(base, "--preview-method", "auto").start()  # binary previews are opt-in since f94483f
    missing = [name for name in TXT2IMG_NODES if name not in instance.request("GET", "/object_info").json()]
    if missing:
        instance.stop()
        pytest.fail(f"core nodes missing from the catalog: {', '.join(missing)}")
    try:
        yield instance
    finally:
        instance.stop()


def test_txt2img_queue_websocket_history_view(model_server: Server) -> None:
    prompt_id, received = asyncio.run(run_and_follow(
        model_server, txt2img("tiny_sd1.safetensors"), timeout=240,
        extra_data={"extra_pnginfo": {"workflow": {"nodes": []}}}))
    types = [m["type"] for m in received if isinstance(m, dict)]
    assert "execution_error" not in types, [m for m in received if isinstance(m, dict)]
    assert "execution_success" in types
    progress = [m["data"] for m in received if isinstance(m, dict) and m["type"] == "progress"]
    assert [p["value"] for p in progress if p["node"] == "3"][-1] == 3
    frames = [m for m in received if isinstance(m, bytes)]
    assert len(frames) == 3 and frames[0][:8] == b"\x00\x00\x00\x01\x00\x00\x00\x01"  # type 1, JPEG
    entry = model_server.request("GET", f"/history/{prompt_id}").json()[prompt_id]
    image = entry["outputs"]["9"]["images"][0]
    view = model_server.request("GET", f"/view?filename={image['filename']}&subfolder={image['subfolder']}"
                                       f"&type={image['type']}")
    assert view.status == 200 and view.headers["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(view.body)) as png:
        assert png.size == (64, 64)
        assert json.loads(png.info["prompt"])["3"]["class_type"] == "KSampler"
        assert "workflow" in png.info


def test_first_run_without_checkpoint_says_where_to_put_one(tmp_path: Path) -> None:
    """A newcomer queues the default workflow with an empty models/ folder: the 400 says what to do."""
    server = Server(tmp_path).start()
    try:
        reply = server.post_prompt(txt2img("model.safetensors"))
        assert reply.status == 400
        errors = reply.json()["node_errors"]["4"]["errors"]
        message = errors[0]["message"] + " " + errors[0]["details"]
        assert "No checkpoint found" in message and "checkpoints" in message
        assert "demo-model" in message and "SDXL" in message
    finally:
        server.stop()
