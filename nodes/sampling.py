"""KSampler and KSamplerAdvanced with ComfyUI's names, inputs, order, defaults and limits."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

import torch

from diffusion.preview import preview_image
from diffusion.sampling.ksampler import Progress, sample
from diffusion.sampling.samplers import SAMPLER_NAMES
from diffusion.sampling.schedulers import SCHEDULER_NAMES
from diffusion.types import DiffusionModel
from graph import runtime
from graph.spec import Outputs, node
from graph.widgets import Range, Seed
from nodes.sockets import CONDITIONING, LATENT, MODEL, LatentDict

Steps = Annotated[int, Range(1, 10000)]
Cfg = Annotated[float, Range(0.0, 100.0, step=0.1, round=0.01)]
SamplerName = Literal[
    "euler", "euler_ancestral", "heun", "heunpp2", "dpm_2", "dpm_2_ancestral", "lms", "dpm_fast",
    "dpm_adaptive", "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_sde",
    "dpmpp_2m_sde_gpu", "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "lcm", "ipndm", "deis", "ddim", "uni_pc",
    "uni_pc_bh2", "pndm",
]
SchedulerName = Literal[
    "simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal", "linear_quadratic",
    "kl_optimal",
]
# The combo lists are spelled out for mypy; they must stay the registries' lists.
if get_args(SamplerName) != SAMPLER_NAMES or get_args(SchedulerName) != SCHEDULER_NAMES:
    raise RuntimeError("nodes.sampling: the sampler/scheduler combos differ from diffusion.sampling's lists")


class SampledLatent(Outputs):
    latent: LATENT


def _progress_reporter(model: DiffusionModel) -> Any:
    family = model.family

    def on_step(progress: Progress) -> None:
        preview = preview_image(progress.denoised, family) if progress.denoised.shape[1] == 4 else None
        runtime.report_progress(progress.step, progress.total_steps, preview)

    return on_step


def _run(model: DiffusionModel, latent_image: LatentDict, **kwargs: Any) -> SampledLatent:
    if not isinstance(latent_image, dict) or not isinstance(latent_image.get("samples"), torch.Tensor):
        raise ValueError(f"latent_image: expected a LATENT dict with 'samples', received {type(latent_image)}")
    out = sample(model, latent=latent_image, progress=_progress_reporter(model),
                 interrupt=runtime.check_interrupt, **kwargs)
    return SampledLatent(out)


@node("KSampler", category="sampling")
def ksampler(
    *,
    model: MODEL,
    seed: Seed = 0,
    steps: Steps = 20,
    cfg: Cfg = 8.0,
    sampler_name: SamplerName = "euler",
    scheduler: SchedulerName = "simple",
    positive: CONDITIONING,
    negative: CONDITIONING,
    latent_image: LATENT,
    denoise: Annotated[float, Range(0.0, 1.0, step=0.01)] = 1.0,
) -> SampledLatent:
    """Denoise a latent with a sampler and a noise schedule (denoise < 1 for img2img)."""
    return _run(model, latent_image, seed=seed, steps=steps, cfg=cfg, sampler_name=sampler_name,
                scheduler=scheduler, positive=positive, negative=negative, denoise=denoise)


@node("KSamplerAdvanced", category="sampling", display_name="KSampler (Advanced)")
def ksampler_advanced(
    *,
    model: MODEL,
    add_noise: Literal["enable", "disable"] = "enable",
    noise_seed: Seed = 0,
    steps: Steps = 20,
    cfg: Cfg = 8.0,
    sampler_name: SamplerName = "euler",
    scheduler: SchedulerName = "simple",
    positive: CONDITIONING,
    negative: CONDITIONING,
    latent_image: LATENT,
    start_at_step: Annotated[int, Range(0, 10000)] = 0,
    end_at_step: Annotated[int, Range(0, 10000)] = 10000,
    return_with_leftover_noise: Literal["disable", "enable"] = "disable",
) -> SampledLatent:
    """Run only steps start..end of a schedule, optionally without adding noise or finishing the denoise."""
    return _run(model, latent_image, seed=noise_seed, steps=steps, cfg=cfg, sampler_name=sampler_name,
                scheduler=scheduler, positive=positive, negative=negative, add_noise=add_noise == "enable",
                start_step=start_at_step, last_step=end_at_step,
                force_full_denoise=return_with_leftover_noise == "disable")
