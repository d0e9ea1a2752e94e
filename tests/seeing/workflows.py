"""A small txt2img workflow on the tiny SD1 checkpoint (32×32 pixels, a few steps), in API format."""

from __future__ import annotations

from typing import Any

TINY_CKPT = "tiny_sd1.safetensors"


def txt2img(*, steps: int = 3, sampler: str = "euler", scheduler: str = "karras", denoise: float = 1.0,
            sampling: str | None = None, zsnr: bool = False) -> dict[str, Any]:
    """Checkpoint → two prompts → KSampler → VAE decode → SaveImage; optionally ModelSamplingDiscrete."""
    model: list[Any] = ["4", 0]
    prompt: dict[str, Any] = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TINY_CKPT}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red cube", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 32, "height": 32, "batch_size": 1}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "compare"}},
    }
    if sampling is not None:
        prompt["10"] = {"class_type": "ModelSamplingDiscrete",
                        "inputs": {"model": ["4", 0], "sampling": sampling, "zsnr": zsnr}}
        model = ["10", 0]
    prompt["3"] = {"class_type": "KSampler", "inputs": {
        "seed": 7, "steps": steps, "cfg": 5.0, "sampler_name": sampler, "scheduler": scheduler, "denoise": denoise,
        "model": model, "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}}
    return prompt
