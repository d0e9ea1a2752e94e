"""The KSampler pipeline: LATENT in, LATENT out, with ComfyUI's noise, schedule and inpainting conventions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from diffusion.sampling.concat import ConcatSource
from diffusion.sampling.guidance import CFGDenoiser
from diffusion.sampling.model_sampling import ModelSampling
from diffusion.sampling.noise import BrownianTreeNoise, GeneratorNoise, NoiseSampler, prepare_noise
from diffusion.sampling.samplers import Denoiser, StepCallback, get_sampler
from diffusion.sampling.schedulers import ksampler_sigmas
from diffusion.types import Conditioning, DiffusionModel

Latent = dict[str, Any]


@dataclass(frozen=True)
class Progress:
    """Per-step progress: ``denoised`` is the current x0 estimate in the model's (scaled) latent space."""

    step: int
    total_steps: int
    denoised: torch.Tensor


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class GuidanceContext:
    """What a guidance strategy needs to build its denoiser inside :func:`run_sampler`."""

    unet: torch.nn.Module
    model_sampling: ModelSampling
    latent_shape: torch.Size
    dtype: torch.dtype
    device: torch.device
    concat: ConcatSource
    interrupt: Callable[[], None] | None
    refiner: bool = False


GuidanceFactory = Callable[[GuidanceContext], Denoiser]


def model_sampling_for(model: DiffusionModel) -> ModelSampling:
    """The σ table of a MODEL value (1000 entries: cheap to rebuild per job)."""
    return ModelSampling(model.alphas_cumprod, model.prediction_type)


def prepare_mask(mask: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """A noise mask ``[B?, H, W]`` at any resolution → ``[B, C, h, w]`` by bilinear resize and repetition."""
    m = mask.float().reshape(-1, 1, mask.shape[-2], mask.shape[-1])
    m = F.interpolate(m, size=(int(shape[2]), int(shape[3])), mode="bilinear")
    m = m.repeat(1, int(shape[1]), 1, 1)
    if m.shape[0] < shape[0]:
        m = m.repeat(-(-int(shape[0]) // m.shape[0]), 1, 1, 1)
    return m[: int(shape[0])]


class _InpaintDenoiser:
    """Keeps the unmasked region on the noised original each step and in the prediction."""

    def __init__(self, inner: Denoiser, mask: torch.Tensor, latent: torch.Tensor, noise: torch.Tensor,
                 ms: ModelSampling) -> None:
        self.inner = inner
        self.mask = mask
        self.keep = 1.0 - mask
        self.latent = latent
        self.noise = noise
        self.ms = ms

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        original = self.ms.noise_scaling(sigma, self.noise, self.latent)
        x = x * self.mask + original * self.keep
        out = self.inner(x, sigma)
        return out * self.mask + self.latent * self.keep


def _check_latent(latent: Latent, model: DiffusionModel) -> torch.Tensor:
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
    latent_image = _check_latent(latent, model)
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
    out["samples"] = run_sampler(
        model, ms, spec.name, sigmas, noise, latent_image, positive, negative, cfg, seed,
        noise_mask=latent.get("noise_mask"), progress=progress, interrupt=interrupt,
    )
    return out


def run_sampler(
    model: DiffusionModel,
    ms: ModelSampling,
    sampler_name: str,
    sigmas: torch.Tensor,
    noise: torch.Tensor,
    latent_image: torch.Tensor,
    positive: Conditioning,
    negative: Conditioning,
    cfg: float,
    seed: int,
    *,
    noise_mask: torch.Tensor | None = None,
    progress: ProgressCallback | None = None,
    interrupt: Callable[[], None] | None = None,
    guidance: GuidanceFactory | None = None,
) -> torch.Tensor:
    """Sample from raw start noise and a raw latent along ``sigmas``; returns the raw latent on the CPU.

    ``guidance`` builds the denoiser from the UNet (default: CFG over ``positive``/``negative`` with ``cfg``).
    """
    spec = get_sampler(sampler_name)
    device = model.device
    scale = model.latent_scale_factor
    latent_in = (latent_image * scale).to(device)
    noise = noise.to(device)
    sigmas = sigmas.to(device)
    mask = None if noise_mask is None else prepare_mask(noise_mask, noise.shape).to(device)
    with model.unet_for_sampling() as unet:
        concat = ConcatSource(latent_image=latent_in, denoise_mask=mask, scale=scale)
        denoiser: Denoiser
        if guidance is not None:
            denoiser = guidance(GuidanceContext(unet, ms, noise.shape, model.dtype, device, concat, interrupt,
                                                refiner=model.family == "sdxl_refiner"))
        else:
            denoiser = CFGDenoiser(
                unet, ms, positive, negative, cfg, latent_shape=noise.shape, dtype=model.dtype, device=device,
                refiner=model.family == "sdxl_refiner", interrupt=interrupt, concat=concat,
            )
        if mask is not None:
            inpaint_noise = noise
            if spec.random_inpaint_noise:
                generator = torch.Generator().manual_seed((seed + 1) % 2**64)
                inpaint_noise = torch.randn(noise.shape, generator=generator).to(device)
            denoiser = _InpaintDenoiser(denoiser, mask, latent_in, inpaint_noise, ms)
        x = ms.noise_scaling(sigmas[0], noise, latent_in, max_denoise=ms.is_max_sigma(float(sigmas[0])))
        noise_sampler: NoiseSampler | None = None
        if spec.noise == "ancestral":
            # Seeded with the seed itself: measured against ComfyUI 0.3.64 on the CPU (../shared/parity,
            # euler_ancestral_karras: 1.5e-5 with `seed`, 1.5 with `seed + 1`).
            noise_sampler = GeneratorNoise(x, seed)
        elif spec.noise == "brownian":
            noise_sampler = BrownianTreeNoise(x, sigmas[sigmas > 0].min(), sigmas.max(), seed)
        callback: StepCallback | None = None
        if progress is not None or interrupt is not None:
            def callback(info: Any) -> None:
                if progress is not None:
                    progress(Progress(info.step + 1, info.total_steps, info.denoised))
                if interrupt is not None:
                    interrupt()
        samples = spec.function(denoiser, x, sigmas, callback=callback, noise_sampler=noise_sampler)
    return (samples / scale).float().cpu()
