"""unCLIP (SDXL revision): image embeddings replace the pooled text embedding, noise-augmented as ComfyUI does."""

from __future__ import annotations

import math

import pytest
import torch
from sampling_fixtures import TinyModel, text_cond, tiny_unet

from diffusion.sampling.ksampler import sample
from diffusion.vision.clip_vision import ClipVisionOutput
from diffusion.vision.unclip import apply_unclip, unclip_pooled
from nodes.clip_vision import unclip_conditioning


def squared_cosine_alphas_cumprod() -> torch.Tensor:
    """ᾱ of the 1000-step squaredcos_cap_v2 schedule, computed independently in float64."""
    t = torch.arange(1001, dtype=torch.float64) / 1000
    alpha_bar = torch.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    betas = torch.clamp(1 - alpha_bar[1:] / alpha_bar[:-1], max=0.999)
    return torch.cumprod(1 - betas, 0)


def output(embeds: torch.Tensor) -> ClipVisionOutput:
    return ClipVisionOutput(torch.zeros(1, 1, 1), embeds, torch.zeros(1, 1, 1))


def test_pooled_is_the_noise_augmented_weighted_embedding() -> None:
    embeds = torch.randn(1, 1300, generator=torch.Generator().manual_seed(0))
    alphas = squared_cosine_alphas_cumprod()
    for augmentation, strength, seed in ((0.0, 1.0, 42), (0.3, 0.7, 5)):
        level = round(999 * augmentation)
        noise = torch.randn(1, 1300, generator=torch.Generator().manual_seed(seed - 10))
        expected = strength * (alphas[level].sqrt() * embeds + (1 - alphas[level]).sqrt() * noise)
        items = [{"clip_vision_output": output(embeds), "strength": strength, "noise_augmentation": augmentation}]
        pooled = unclip_pooled(items, seed)
        assert pooled.shape == (1, 1280)
        torch.testing.assert_close(pooled, expected[:, :1280].float(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="width 1280"):
        unclip_pooled([{"clip_vision_output": output(torch.randn(1, 768)), "strength": 1.0,
                        "noise_augmentation": 0.0}], 0)


def test_only_sdxl_entries_with_unclip_change() -> None:
    entry = text_cond(1, pooled_output=torch.randn(1, 32))
    attached = unclip_conditioning([entry], output(torch.randn(1, 40)), 1.0, 0.0).conditioning
    assert apply_unclip(attached, "sd1", 0) is attached
    assert apply_unclip([entry], "sdxl", 0)[0] is entry
    changed = apply_unclip(attached, "sdxl", 3)[0]
    assert changed.pooled_output is not None and changed.pooled_output.shape == (1, 32)


def test_sdxl_sampling_uses_the_image_embedding() -> None:
    model = TinyModel(tiny_unet(seed=3, sdxl=True), family="sdxl", latent_scale_factor=0.13025)
    pos = text_cond(1, pooled_output=torch.randn(1, 32))
    neg = text_cond(2, pooled_output=torch.randn(1, 32))
    embeds = torch.randn(1, 48, generator=torch.Generator().manual_seed(9))
    revision = unclip_conditioning([pos], output(embeds), 0.8, 0.1).conditioning
    latent = {"samples": torch.zeros(1, 4, 8, 8)}
    args = {"seed": 11, "steps": 3, "cfg": 4.0, "sampler_name": "euler", "scheduler": "normal", "negative": [neg],
            "latent": latent}
    with_image = sample(model, positive=revision, **args)["samples"]  # type: ignore[arg-type]
    by_hand = pos.with_changes(pooled_output=unclip_pooled(revision[0].extras["unclip_conditioning"], 11, 32))
    assert torch.equal(with_image, sample(model, positive=[by_hand], **args)["samples"])  # type: ignore[arg-type]
    assert not torch.equal(with_image, sample(model, positive=[pos], **args)["samples"])  # type: ignore[arg-type]
