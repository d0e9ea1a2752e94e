"""GUIDER values and the one sampling loop every sampler node runs (KSampler, SamplerCustom, ...Advanced).

A guider is a MODEL plus the conditioning and the rule that turns per-conditioning predictions into one
x0 estimate (ComfyUI's ``CFGGuider`` family). Its contract is :class:`Guider`: ``denoiser(ctx)`` builds
D(x; σ) for one run, given the UNet with the MODEL's patches applied and the MODEL's σ table. New guiders
(DualCFGGuider, flow-model guiders) implement that one method; :class:`CondPredictor` evaluates any number
of conditioning lists in batched UNet calls, so a guider only writes its combination rule.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from diffusion.models.model_options import MaskArgs, SamplingOverride, options_of
from diffusion.sampling.concat import ConcatSource
from diffusion.sampling.custom_values import SamplerChoice
from diffusion.sampling.flow import FlowModelSampling, FlowParams
from diffusion.sampling.guidance import CFGDenoiser
from diffusion.sampling.model_sampling import DistilledModelSampling, ModelSampling, OutputKind
from diffusion.sampling.noise import BrownianTreeNoise, GeneratorNoise, NoiseSampler
from diffusion.sampling.observe import StepRecord, active
from diffusion.sampling.samplers import Denoiser, StepCallback
from diffusion.types import Conditioning, DiffusionModel
from diffusion.vision.unclip import apply_unclip


@dataclass(frozen=True)
class Progress:
    """Per-step progress: ``denoised`` is the current x0 estimate in the model's (scaled) latent space."""

    step: int
    total_steps: int
    denoised: torch.Tensor


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class GuideContext:
    """What a guider needs to build its denoiser for one sampling run."""

    unet: torch.nn.Module
    model_sampling: ModelSampling
    latent_shape: torch.Size
    device: torch.device
    dtype: torch.dtype
    interrupt: Callable[[], None] | None = None
    #: The start latent and noise mask, for the concat channels of InstructPix2Pix / inpainting models.
    concat: ConcatSource | None = None
    #: The sampling seed: unCLIP image embeddings are noise-augmented with it (SDXL revision).
    seed: int = 0


class Guider(Protocol):
    """The GUIDER socket value."""

    @property
    def model(self) -> DiffusionModel: ...

    def denoiser(self, ctx: GuideContext) -> Denoiser:
        """D(x; σ) → x0 for this run (called inside ``model.unet_for_sampling()``)."""
        ...


def latent_shift(model: DiffusionModel) -> float:
    """The latent mean the model space is centred on (0 for SD1/SD2/SDXL)."""
    return float(getattr(model, "extras", {}).get("latent_shift", 0.0))


def model_sampling_for(model: DiffusionModel) -> ModelSampling:
    """The σ table of a MODEL value (1000 entries: cheap to rebuild per job), after ModelSamplingDiscrete."""
    flow = getattr(model, "extras", {}).get("flow")
    if isinstance(flow, FlowParams):
        return FlowModelSampling(flow)
    return discrete_sampling(model.alphas_cumprod, model.prediction_type, options_of(model).sampling)


def discrete_sampling(alphas_cumprod: torch.Tensor, prediction_type: OutputKind,
                      override: SamplingOverride | None) -> ModelSampling:
    """The σ table of a training schedule, read as the model's own type or as ModelSamplingDiscrete says."""
    if override is None:
        return ModelSampling(alphas_cumprod, prediction_type)
    if override.sampling == "lcm":
        return DistilledModelSampling(alphas_cumprod, "lcm", zsnr=override.zsnr)
    kind: OutputKind = "epsilon" if override.sampling == "eps" else override.sampling
    return ModelSampling(alphas_cumprod, kind, zsnr=override.zsnr)


@dataclass(frozen=True)
class CFGGuider:
    """Classifier-free guidance: ``uncond + (cond − uncond)·cfg`` (or the MODEL's CFG patch)."""

    model: DiffusionModel
    positive: Conditioning
    negative: Conditioning
    cfg: float

    def denoiser(self, ctx: GuideContext) -> Denoiser:
        positive = apply_unclip(self.positive, self.model.family, ctx.seed)
        negative = apply_unclip(self.negative, self.model.family, ctx.seed)
        return CFGDenoiser(
            ctx.unet, ctx.model_sampling, positive, negative, self.cfg, latent_shape=ctx.latent_shape,
            dtype=ctx.dtype, device=ctx.device, refiner=self.model.family == "sdxl_refiner",
            interrupt=ctx.interrupt, options=options_of(self.model), concat=ctx.concat,
        )


@dataclass(frozen=True)
class BasicGuider:
    """One conditioning, no negative (guidance-distilled models)."""

    model: DiffusionModel
    conditioning: Conditioning

    def denoiser(self, ctx: GuideContext) -> Denoiser:
        conditioning = apply_unclip(self.conditioning, self.model.family, ctx.seed)
        return CFGDenoiser(
            ctx.unet, ctx.model_sampling, conditioning, None, 1.0, latent_shape=ctx.latent_shape,
            dtype=ctx.dtype, device=ctx.device, refiner=self.model.family == "sdxl_refiner",
            interrupt=ctx.interrupt, options=options_of(self.model), concat=ctx.concat,
        )


class _InpaintDenoiser:
    """Noise-mask inpainting: before each model call the unmasked region is replaced by the original latent
    noised to the current σ, and the prediction there is the original latent itself."""

    def __init__(self, inner: Denoiser, mask: torch.Tensor, latent: torch.Tensor, noise: torch.Tensor,
                 ms: ModelSampling, sigmas: torch.Tensor, model: DiffusionModel) -> None:
        self.inner = inner
        self.mask = mask
        self.latent = latent
        self.noise = noise
        self.ms = ms
        self.sigmas = sigmas
        self.mask_function = options_of(model).denoise_mask_function

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        mask = self.mask
        if self.mask_function is not None:
            mask = self.mask_function(mask, MaskArgs(sigma, self.sigmas, self.ms.timestep, float(self.ms.sigma_min)))
        keep = 1.0 - mask
        original = self.ms.noise_scaling(sigma, self.noise, self.latent)
        out = self.inner(x * mask + original * keep, sigma)
        return out * mask + self.latent * keep


def prepare_mask(mask: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """A noise mask ``[B?, 1?, H, W]`` at any resolution → ``[B, C, h, w]`` by bilinear resize and repetition."""
    m = mask.float().reshape(-1, 1, mask.shape[-2], mask.shape[-1])
    m = torch.nn.functional.interpolate(m, size=(int(shape[2]), int(shape[3])), mode="bilinear")
    m = m.repeat(1, int(shape[1]), 1, 1)
    if m.shape[0] < shape[0]:
        m = m.repeat(-(-int(shape[0]) // m.shape[0]), 1, 1, 1)
    return m[: int(shape[0])]


@dataclass(frozen=True)
class SampleResult:
    """Raw (unscaled) latents on the CPU: the sample and the last step's x0 estimate (None without steps)."""

    samples: torch.Tensor
    denoised: torch.Tensor | None


def sample_with_guider(
    guider: Guider,
    sampler: SamplerChoice,
    sigmas: torch.Tensor,
    noise: torch.Tensor,
    latent_image: torch.Tensor,
    seed: int,
    *,
    noise_mask: torch.Tensor | None = None,
    progress: ProgressCallback | None = None,
    interrupt: Callable[[], None] | None = None,
) -> SampleResult:
    """Sample from raw start noise and a raw latent along ``sigmas`` with ``guider`` and ``sampler``."""
    if len(sigmas) == 0:
        return SampleResult(latent_image.float().cpu(), None)
    model = guider.model
    spec = sampler.spec
    ms = model_sampling_for(model)
    device = model.device
    scale = model.latent_scale_factor
    # SD3/Flux VAEs have a latent mean (shift) as well as a scale: model space = (raw − shift)·scale.
    shift = latent_shift(model)
    latent_in = ((latent_image.float() - shift) * scale).to(device)
    noise = noise.float().to(device)
    sigmas = sigmas.to(device)
    last_x0: dict[str, torch.Tensor] = {}
    mask = None if noise_mask is None else prepare_mask(noise_mask, noise.shape).to(device)
    with model.unet_for_sampling() as unet:
        ctx = GuideContext(unet, ms, noise.shape, device, model.dtype, interrupt,
                           ConcatSource(latent_image=latent_in, denoise_mask=mask, scale=scale), seed)
        denoiser = guider.denoiser(ctx)
        if mask is not None:
            inpaint_noise = noise
            if spec.random_inpaint_noise:
                generator = torch.Generator().manual_seed((seed + 1) % 2**64)
                inpaint_noise = torch.randn(noise.shape, generator=generator).to(device)
            denoiser = _InpaintDenoiser(denoiser, mask, latent_in, inpaint_noise, ms, sigmas, model)
        x = ms.noise_scaling(sigmas[0], noise, latent_in, max_denoise=ms.is_max_sigma(float(sigmas[0])))
        observers = active()
        for observer in observers:
            observer.started(sigmas.detach().float().cpu(), (x / scale + shift).float().cpu())
        noise_sampler: NoiseSampler | None = None
        if spec.noise == "ancestral":
            # Seeded with the seed itself: measured against ComfyUI 0.3.64 on the CPU (../shared/parity,
            # euler_ancestral_karras: 1.5e-5 with `seed`, 1.5 with `seed + 1`).
            noise_sampler = GeneratorNoise(x, seed)
        elif spec.noise == "brownian":
            noise_sampler = BrownianTreeNoise(x, sigmas[sigmas > 0].min(), sigmas.max(), seed)

        def callback(info: Any) -> None:
            last_x0["x0"] = info.denoised
            if observers:
                record = StepRecord(info.step, info.total_steps, float(info.sigma),
                                    (info.x / scale + shift).float().cpu(),
                                    (info.denoised / scale + shift).float().cpu())
                for observer in observers:
                    observer.stepped(record)
            if progress is not None:
                progress(Progress(info.step + 1, info.total_steps, info.denoised))
            if interrupt is not None:
                interrupt()

        step_callback: StepCallback = callback
        function: Callable[..., torch.Tensor] = spec.function
        if sampler.options:
            function = functools.partial(spec.function, **sampler.options)
        samples = function(denoiser, x, sigmas, callback=step_callback, noise_sampler=noise_sampler)
    denoised = (last_x0["x0"] / scale + shift).float().cpu() if "x0" in last_x0 else None
    return SampleResult((samples / scale + shift).float().cpu(), denoised)
