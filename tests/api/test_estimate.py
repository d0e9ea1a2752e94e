"""Time estimates before queueing: the prompt walk (pure), the header parameter count, the routes on a server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from api.estimate import ASSUMED_PARAMS, estimate_prompt
from diffusion.speed import Calibration, unet_parameter_count
from tests.api.server_harness import Server

SPEED = Calibration(device="cpu", overhead_s=0.5, per_unit_s=1e-9, measured_at=0.0, method="test")


def txt2img(width: int = 512, height: int = 512, steps: int = 20, cfg: float = 7.0, sampler: str = "euler",
            batch: int = 1) -> dict[str, Any]:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
        "10": {"class_type": "LoraLoader", "inputs": {"model": ["4", 0], "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": width, "height": height, "batch_size": batch}},
        "3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": steps, "cfg": cfg, "sampler_name": sampler,
                                                   "model": ["10", 0], "latent_image": ["5", 0]}},
    }


def params_of(kind: str, name: str) -> int | None:
    return {("checkpoints", "m.safetensors"): 1_000_000}.get((kind, name))


def test_ksampler_steps_size_cfg_and_model_through_a_lora() -> None:
    result = estimate_prompt(txt2img(), SPEED.step_seconds, params_of)
    [sampler] = result["samplers"]
    assert (sampler["steps"], sampler["evaluations_per_step"], sampler["width"], sampler["batch"]) == (20, 2, 512, 1)
    assert sampler["model"] == "m.safetensors" and sampler["params"] == 1_000_000
    assert result["seconds"] == pytest.approx(20 * SPEED.step_seconds(1_000_000, 64 * 64, 2), rel=1e-3)
    assert result["assumptions"] == []
    # The estimate follows what a user changes: smaller, fewer steps, no CFG, a second-order sampler.
    small = estimate_prompt(txt2img(128, 128, 4), SPEED.step_seconds, params_of)["seconds"]
    assert small < result["seconds"] / 5
    assert estimate_prompt(txt2img(cfg=1.0), SPEED.step_seconds, params_of)["samplers"][0]["evaluations_per_step"] == 1
    assert estimate_prompt(txt2img(sampler="heun"), SPEED.step_seconds, params_of)["samplers"][0][
        "evaluations_per_step"] == 4


def test_advanced_custom_and_upscaled_latents() -> None:
    prompt = txt2img()
    prompt["3"] = {"class_type": "KSamplerAdvanced", "inputs": {
        "steps": 30, "start_at_step": 10, "end_at_step": 10000, "cfg": 5.0, "sampler_name": "euler",
        "model": ["4", 0], "latent_image": ["11", 0]}}
    prompt["11"] = {"class_type": "LatentUpscaleBy", "inputs": {"samples": ["5", 0], "scale_by": 2.0}}
    prompt["20"] = {"class_type": "BasicScheduler", "inputs": {"model": ["4", 0], "steps": 12}}
    prompt["21"] = {"class_type": "SplitSigmas", "inputs": {"sigmas": ["20", 0], "step": 4}}
    prompt["22"] = {"class_type": "BasicGuider", "inputs": {"model": ["4", 0]}}
    prompt["23"] = {"class_type": "SamplerCustomAdvanced", "inputs": {
        "guider": ["22", 0], "sigmas": ["21", 1], "latent_image": ["5", 0]}}
    result = estimate_prompt(prompt, SPEED.step_seconds, params_of)
    by_node = {item["node"]: item for item in result["samplers"]}
    assert by_node["3"]["steps"] == 20 and by_node["3"]["width"] == 1024
    assert by_node["23"]["steps"] == 12 and by_node["23"]["evaluations_per_step"] == 1


def test_what_cannot_be_read_is_assumed_and_said() -> None:
    prompt = txt2img()
    prompt["4"]["inputs"]["ckpt_name"] = "missing.safetensors"
    prompt["3"]["inputs"]["latent_image"] = ["30", 0]
    prompt["30"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["31", 0]}}
    result = estimate_prompt(prompt, SPEED.step_seconds, params_of)
    [sampler] = result["samplers"]
    assert sampler["params"] == ASSUMED_PARAMS and sampler["width"] == 512
    assert any("node 3" in text and "latent" in text for text in result["assumptions"])
    assert any("node 4" in text and "SD 1.5" in text for text in result["assumptions"])


def test_unet_parameters_come_from_the_header(tmp_path: Path) -> None:
    from diffusion.models.tiny import build_tiny, write_checkpoint

    model = build_tiny("sd1")
    path = write_checkpoint(model, tmp_path / "tiny.safetensors")
    assert unet_parameter_count(path) == sum(p.numel() for p in model.unet.parameters())
    (tmp_path / "bad.safetensors").write_bytes(b"\xff" * 16)
    assert unet_parameter_count(tmp_path / "bad.safetensors") is None
    assert unet_parameter_count(tmp_path / "x.ckpt") is None


def test_routes_measure_once_and_estimate(tmp_path: Path) -> None:
    server = Server(tmp_path / "base").start()
    try:
        # Measuring takes about a second on an idle CPU; a loaded test machine can take far longer.
        calibration = server.request("GET", "/api/estimate/calibration", timeout=300).json()
        assert calibration["device"] == "cpu" and calibration["gpu"] is False
        assert calibration["overhead_s"] >= 0 and calibration["per_unit_s"] > 0
        stored = json.loads((tmp_path / "base" / "user" / "latent_loom" / "speed.json").read_text())
        assert stored["measured_at"] == calibration["measured_at"]
        reply = server.request("POST", "/api/estimate", {"prompt": txt2img()})
        assert reply.status == 200
        estimate = reply.json()
        assert estimate["seconds"] > 0 and estimate["samplers"][0]["steps"] == 20
        assert estimate["calibration"]["measured_at"] == calibration["measured_at"]
        bad = server.request("POST", "/api/estimate", {"prompt": [1]})
        assert bad.status == 400 and "'prompt' must be" in bad.json()["error"]["message"]
    finally:
        server.stop()
    again = Server(tmp_path / "base").start()  # a restart reuses the stored measurement
    try:
        assert again.request("GET", "/api/estimate/calibration").json()["measured_at"] == calibration["measured_at"]
    finally:
        again.stop()
