"""Third-party ComfyUI client libraries from PyPI, unchanged, run txt2img against a real Latent Loom server on the
tiny test checkpoint (issue 12's done criterion). Pinned in requirements-dev.txt:

- comfy-api-simplified 1.6.0 (requests + `websockets`; reads binary frames as images if any arrive)
- comfyui-utils 0.0.1 (aiohttp; asserts every websocket frame is text: it broke on default binary previews)
- pycomfy 0.4.0 (requests + `websocket-client`)

Also here, because it needs a real checkpoint: a node failing at run time (CLIPTextEncodeSDXL fed an SD1 CLIP)
reaches clients without a traceback or a server path.
"""

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
from tests.api.server_harness import REPO, Server, run_and_follow
from tests.api.test_txt2img import txt2img as base_txt2img

CHECKPOINT = "tiny_sd1.safetensors"


def txt2img(seed: int, prefix: str) -> dict[str, Any]:
    """ComfyUI's default workflow as its "Export (API)" writes it (every node carries `_meta.title`), 2 steps."""
    prompt = base_txt2img(CHECKPOINT, seed)
    prompt["3"]["inputs"]["steps"] = 2
    prompt["9"]["inputs"]["filename_prefix"] = prefix
    titles = {"4": "Load Checkpoint", "9": "Save Image"}
    for node_id, node in prompt.items():
        node["_meta"] = {"title": titles.get(node_id, str(node["class_type"]))}
    return prompt


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server as users start it: no preview flag, so no client is sent binary frames unasked."""
    base: Path = tmp_path_factory.mktemp("clients")
    install_demo_checkpoint(base, CHECKPOINT)
    instance = Server(base).start()
    try:
        yield instance
    finally:
        instance.stop()


def _is_png(data: bytes) -> bool:
    image = Image.open(io.BytesIO(data))
    return image.format == "PNG" and image.size == (64, 64)


def test_comfy_api_simplified(model_server: Server) -> None:
    from comfy_api_simplified import ComfyApiWrapper, ComfyWorkflowWrapper

    api = ComfyApiWrapper(model_server.url)
    workflow = ComfyWorkflowWrapper(txt2img(11, "simplified"))
    workflow.set_node_param("Load Checkpoint", "ckpt_name", CHECKPOINT)
    images = api.queue_and_wait_images(workflow, "Save Image")
    assert len(images) == 1
    name, data = next(iter(images.items()))
    assert name.startswith("simplified_") and _is_png(data)
    assert CHECKPOINT in json.dumps(api.get_object_info("CheckpointLoaderSimple"))
    assert api.get_system_stats()["devices"]


def test_comfyui_utils(model_server: Server) -> None:
    from comfyui_utils.comfy import Callbacks, ComfyAPI

    address = model_server.url.removeprefix("http://")
    seen: dict[str, Any] = {"progress": []}

    class Record(Callbacks):  # type: ignore[misc]
        async def queue_position(self, position: str) -> None:
            seen.setdefault("positions", []).append(position)

        async def in_progress(self, node_id: int, progress: int, total: int) -> None:
            seen["progress"].append((node_id, progress, total))

        async def completed(self, outputs: dict[str, Any], cached: bool) -> None:
            seen["outputs"], seen["cached"] = outputs, cached

    api = ComfyAPI(address)
    asyncio.run(api.submit(txt2img(12, "utils"), Record()))
    image = seen["outputs"]["images"][0]
    assert image["filename"].startswith("utils_") and seen["cached"] is False
    assert (3, 2, 2) in seen["progress"]  # KSampler's last step, reported through `progress`
    fetched: list[bytes] = []

    async def keep(stream: io.BytesIO) -> None:
        fetched.append(stream.read())

    asyncio.run(api.fetch({"filename": image["filename"], "subfolder": image["subfolder"], "type": "output"}, keep))
    assert _is_png(fetched[0])


def test_pycomfy_websocket_client(model_server: Server) -> None:
    from pycomfy import ComfyAPI

    with ComfyAPI(model_server.url) as api:
        images = api.text_to_image("a red fox", checkpoint_name=CHECKPOINT, steps=2, width=64, height=64, seed=13)
    assert len(images) == 1 and images[0].size == (64, 64)


def test_runtime_node_failure_reaches_clients_without_traceback_or_path(model_server: Server) -> None:
    prompt: dict[str, Any] = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "6": {"class_type": "CLIPTextEncodeSDXL", "inputs": {
            "clip": ["4", 1], "width": 1024, "height": 1024, "crop_w": 0, "crop_h": 0, "target_width": 1024,
            "target_height": 1024, "text_g": "a fox", "text_l": "a fox"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "3": {"class_type": "KSampler", "inputs": {
            "seed": 1, "steps": 1, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
            "model": ["4", 0], "positive": ["6", 0], "negative": ["6", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "sdxl_on_sd1", "images": ["8", 0]}},
    }
    prompt_id, received = asyncio.run(run_and_follow(model_server, prompt, timeout=240))
    errors = [m["data"] for m in received if isinstance(m, dict) and m["type"] == "execution_error"]
    assert len(errors) == 1 and errors[0]["node_id"] == "6" and errors[0]["node_type"] == "CLIPTextEncodeSDXL"
    history = model_server.request("GET", f"/history/{prompt_id}").body.decode()
    job = model_server.request("GET", f"/api/jobs/{prompt_id}").body.decode()
    for text in (json.dumps(errors[0]), history, job):
        assert "Traceback" not in text and 'File "' not in text
        for path in (str(model_server.base), str(REPO), str(Path.home())):
            assert path not in text, (path, text)
        assert "<tensor" not in text.lower() and "object at 0x" not in text
    assert errors[0]["traceback"] == []
    assert prompt_id in model_server.log() and "Traceback" in model_server.log()
