"""The sampling stack on the model stack's real loader: tiny LDM checkpoints of each family, loaded by
``diffusion.models.checkpoint.load_checkpoint``, encoded by CLIPTextEncode, sampled, decoded."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
import torch

from diffusion.models.checkpoint import load_checkpoint
from diffusion.types import DiffusionModel
from nodes.conditioning import clip_text_encode
from nodes.latent import empty_latent_image, vae_decode
from nodes.sampling import ksampler
from tests.fixtures.tiny_models import build_tiny, write_checkpoint


@pytest.mark.parametrize(("family", "v_prediction", "sampler"), [
    ("sd1", False, "dpmpp_2m"), ("sd2", True, "euler_ancestral"), ("sdxl", False, "uni_pc"),
])
def test_txt2img_on_loaded_checkpoint(tmp_path: Path, family: str, v_prediction: bool, sampler: str) -> None:
    path = write_checkpoint(build_tiny(family, 0, v_prediction=v_prediction), tmp_path / f"{family}.safetensors")
    model, clip, vae = load_checkpoint(path, device=torch.device("cpu"), dtype=torch.float32)
    assert model.prediction_type == ("v_prediction" if v_prediction else "epsilon")
    positive = clip_text_encode("a photo of a cat", clip=clip).conditioning
    negative = clip_text_encode("blurry", clip=clip).conditioning
    latent = empty_latent_image(width=64, height=64, batch_size=2).latent
    kwargs = {"model": cast(DiffusionModel, model), "seed": 3, "steps": 3, "cfg": 6.0, "sampler_name": sampler,
              "scheduler": "karras", "positive": positive, "negative": negative, "latent_image": latent,
              "denoise": 1.0}
    out = ksampler(**kwargs).latent
    assert out["samples"].shape == (2, model.latent_channels, 8, 8)
    assert bool(torch.isfinite(out["samples"]).all())
    assert torch.equal(ksampler(**kwargs).latent["samples"], out["samples"])
    image = vae_decode(out, vae).image
    assert image.shape == (2, 64, 64, 3) and float(image.min()) >= 0.0 and float(image.max()) <= 1.0
