"""The KSampler pipeline: LATENT in, LATENT out, with ComfyUI's noise, schedule and inpainting conventions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from diffusion.sampling.custom_values import SamplerChoice
from diffusion.sampling.guiders import (
    CFGGuider,
    Progress,
    ProgressCallback,
    model_sampling_for,
    prepare_mask,
    sample_with_guider,
)
from diffusion.sampling.noise import prepare_noise
from diffusion.sampling.samplers import get_sampler
from diffusion.sampling.schedulers import ksampler_sigmas
from diffusion.types import Conditioning, DiffusionModel

Latent = dict[str, Any]

__all__ = ["Latent", "Progress", "ProgressCallback", "check_latent", "model_sampling_for", "prepare_mask",
           "sample"]


def check_latent(latent: Latent, model: DiffusionModel) -> torch.Tensor:
    """The samples of a LATENT input as float32 CPU, an empty latent re-made with the model's channels."""
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.ndim != 4:
        shape = tuple(samples.shape) if isinstance(samples, torch.Tensor) else type(samples).__name__
        raise ValueError(f"latent_image: expected samples of shape [B, C, H, W], received {shape}")
    if samples.shape[1] != model.latent_channels:
        if torch.count_nonzero(samples) == 0:
            # An empty latent of another family: re-make it with this model's channel count.
            return torch.zeros(samples.shape[0], model.latent_channels, *samples.shape[2:])
        raise ValueError(
            f"latent_image: expected {model.latent_channels} channels for this model, "
            f"received {samples.shape[1]}"
        )
    return samples.float().cpu()


def sample(
    model: DiffusionModel,
    *,
    seed: int,
    steps: int,
    cfg: float,
    sampler_name: str,
    scheduler: str,
    positive: Conditioning,
    negative: Conditioning,
    latent: Latent,
    denoise: float = 1.0,
    add_noise: bool = True,
    start_step: int | None = None,
    last_step: int | None = None,
    force_full_denoise: bool = False,
    progress: ProgressCallback | None = None,
    interrupt: Callable[[], None] | None = None,
) -> Latent:
    """KSampler / KSamplerAdvanced: denoise ``latent`` and return a new LATENT dict."""
    spec = get_sampler(sampler_name)
    latent_image = check_latent(latent, model)
    if add_noise:
        noise = prepare_noise(latent_image, seed, latent.get("batch_index"))
    else:
        noise = torch.zeros_like(latent_image)
    ms = model_sampling_for(model)
    sigmas = ksampler_sigmas(ms, scheduler, steps, sampler_name, denoise)
    if last_step is not None and last_step < len(sigmas) - 1:
        sigmas = sigmas[: last_step + 1].clone()
        if force_full_denoise:
            sigmas[-1] = 0
    out: Latent = dict(latent)
    if start_step is not None:
        if start_step < len(sigmas) - 1:
            sigmas = sigmas[start_step:]
        else:
            out["samples"] = latent_image
            return out
    if len(sigmas) == 0:
        out["samples"] = latent_image
        return out
    guider = CFGGuider(model, positive, negative, cfg)
    out["samples"] = sample_with_guider(
        guider, SamplerChoice(spec.name), sigmas, noise, latent_image, seed, noise_mask=latent.get("noise_mask"),
        progress=progress, interrupt=interrupt,
    ).samples
    return out
