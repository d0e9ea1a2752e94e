"""Custom sampling: SamplerCustom, SamplerCustomAdvanced, the guiders and the noise sources (ComfyUI's
``nodes_custom_sampler``), built on :mod:`diffusion.sampling.guiders`."""

from __future__ import annotations

from typing import Annotated, Any

import torch

from diffusion.preview import preview_image
from diffusion.sampling.custom_values import (
    DisableNoise,
    NoiseSource,
    RandomNoise,
    SamplerChoice,
    check_sigmas,
)
from diffusion.sampling.guiders import BasicGuider, CFGGuider, Guider, Progress, sample_with_guider
from diffusion.sampling.ksampler import check_latent
from graph import runtime
from graph.spec import Outputs, node
from graph.widgets import Label, Range, Seed, Toggle
from nodes.sockets import CONDITIONING, GUIDER, LATENT, MODEL, NOISE, SAMPLER, SIGMAS

LatentDict = dict[str, Any]
Cfg = Annotated[float, Range(0.0, 100.0, step=0.1, round=0.01)]


class CustomSampled(Outputs):
    output: Annotated[LATENT, Label("output")]
    denoised_output: Annotated[LATENT, Label("denoised_output")]


class GuiderResult(Outputs):
    guider: GUIDER


class NoiseResult(Outputs):
    noise: NOISE


def _check(node_id: str, name: str, value: object, expected: type, what: str) -> None:
    if not isinstance(value, expected):
        raise ValueError(f"{node_id}: input '{name}' expected {what}, received {type(value).__name__}")


def _run(node_id: str, guider: Guider, noise: NoiseSource, sampler: SamplerChoice, sigmas: torch.Tensor,
         latent_image: LatentDict) -> CustomSampled:
    _check(node_id, "sampler", sampler, SamplerChoice, "a SAMPLER")
    sigmas = check_sigmas(node_id, sigmas)
    if not isinstance(latent_image, dict) or not isinstance(latent_image.get("samples"), torch.Tensor):
        raise ValueError(f"{node_id}: input 'latent_image' expected a LATENT dict with 'samples', "
                         f"received {type(latent_image).__name__}")
    model = guider.model
    samples = check_latent(latent_image, model)
    latent = dict(latent_image)
    latent["samples"] = samples
    family = model.family

    def on_step(progress: Progress) -> None:
        preview = preview_image(progress.denoised, family) if progress.denoised.shape[1] == 4 else None
        runtime.report_progress(progress.step, progress.total_steps, preview)

    result = sample_with_guider(guider, sampler, sigmas, noise.generate(latent), samples, noise.seed,
                                noise_mask=latent.get("noise_mask"), progress=on_step,
                                interrupt=runtime.check_interrupt)
    out = dict(latent)
    out["samples"] = result.samples
    denoised = out
    if result.denoised is not None:
        denoised = dict(latent)
        denoised["samples"] = result.denoised
    return CustomSampled(out, denoised)


@node("SamplerCustom", category="sampling/custom_sampling")
def sampler_custom(
    model: MODEL,
    add_noise: Annotated[bool, Toggle()] = True,
    noise_seed: Seed = 0,
    cfg: Cfg = 8.0,
    *,
    positive: CONDITIONING,
    negative: CONDITIONING,
    sampler: SAMPLER,
    sigmas: SIGMAS,
    latent_image: LATENT,
) -> CustomSampled:
    """Sample with CFG along a SIGMAS schedule with a SAMPLER; also returns the last x0 estimate."""
    # Without start noise, noise_seed still seeds the sampler's own stream (ancestral, SDE), as in ComfyUI.
    noise: NoiseSource = RandomNoise(noise_seed) if add_noise else DisableNoise(noise_seed)
    return _run("SamplerCustom", CFGGuider(model, positive, negative, cfg), noise, sampler, sigmas, latent_image)


@node("SamplerCustomAdvanced", category="sampling/custom_sampling")
def sampler_custom_advanced(
    noise: NOISE,
    guider: GUIDER,
    sampler: SAMPLER,
    sigmas: SIGMAS,
    latent_image: LATENT,
) -> CustomSampled:
    """Sample with any GUIDER, NOISE, SAMPLER and SIGMAS; also returns the last x0 estimate."""
    if not callable(getattr(noise, "generate", None)):
        raise ValueError(f"SamplerCustomAdvanced: input 'noise' expected a NOISE, received {type(noise).__name__}")
    if not callable(getattr(guider, "denoiser", None)):
        raise ValueError(
            f"SamplerCustomAdvanced: input 'guider' expected a GUIDER, received {type(guider).__name__}")
    return _run("SamplerCustomAdvanced", guider, noise, sampler, sigmas, latent_image)


@node("CFGGuider", category="sampling/guiders", display_name="CFG Guider")
def cfg_guider(model: MODEL, positive: CONDITIONING, negative: CONDITIONING,
               cfg: Cfg = 8.0) -> GuiderResult:
    """Classifier-free guidance between a positive and a negative conditioning."""
    return GuiderResult(CFGGuider(model, positive, negative, cfg))


@node("BasicGuider", category="sampling/guiders", display_name="Basic Guider")
def basic_guider(model: MODEL, conditioning: CONDITIONING) -> GuiderResult:
    """One conditioning, no negative and no CFG (for guidance-distilled models)."""
    return GuiderResult(BasicGuider(model, conditioning))


@node("RandomNoise", category="sampling/noise")
def random_noise(noise_seed: Seed = 0) -> NoiseResult:
    """The start noise KSampler would draw for this seed."""
    return NoiseResult(RandomNoise(noise_seed))


@node("DisableNoise", category="sampling/noise")
def disable_noise() -> NoiseResult:
    """No start noise (continue sampling a latent that is already noisy)."""
    return NoiseResult(DisableNoise())
