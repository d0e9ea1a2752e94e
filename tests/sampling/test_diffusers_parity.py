"""Our samplers + CFG denoiser against diffusers on the same tiny UNet, weights, latents and schedule.

The schedules are taken from the diffusers scheduler (integer "leading" timesteps, so both sides feed the
UNet the same t); what is compared is the sampling algorithm and the CFG plumbing.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    LMSDiscreteScheduler,
    PNDMScheduler,
    StableDiffusionPipeline,
    UniPCMultistepScheduler,
)
from sampling_fixtures import CONTEXT_DIM

from diffusion.sampling.guidance import CFGDenoiser
from diffusion.sampling.model_sampling import ModelSampling
from diffusion.sampling.samplers import SAMPLERS
from diffusion.types import ConditioningEntry

SD_SCHEDULE: dict[str, Any] = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
                               "num_train_timesteps": 1000}
CFG = 7.5
STEPS = 12


@pytest.fixture(scope="module")
def prompts() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    cond = torch.randn(1, 77, CONTEXT_DIM, generator=generator)
    uncond = torch.randn(1, 77, CONTEXT_DIM, generator=generator)
    latents = torch.randn(1, 4, 8, 8, generator=generator)
    return cond, uncond, latents


def _ours(unet: torch.nn.Module, sched: Any, sampler: str, sigmas: torch.Tensor, x: torch.Tensor,
          cond: torch.Tensor, uncond: torch.Tensor) -> torch.Tensor:
    ms = ModelSampling(sched.alphas_cumprod)
    denoiser = CFGDenoiser(unet, ms, [ConditioningEntry(cond)], [ConditioningEntry(uncond)], CFG,
                           latent_shape=x.shape, dtype=torch.float32, device=torch.device("cpu"))
    return SAMPLERS[sampler].function(denoiser, x, sigmas)


@torch.no_grad()
def _diffusers_loop(unet: torch.nn.Module, sched: Any, latents: torch.Tensor, cond: torch.Tensor,
                    uncond: torch.Tensor, stop: int | None = None) -> torch.Tensor:
    """What StableDiffusionPipeline's denoising loop does, for schedulers it accepts as they are."""
    x = latents * sched.init_noise_sigma
    context = torch.cat([uncond, cond])
    for t in sched.timesteps[:stop]:
        x_in = sched.scale_model_input(torch.cat([x, x]), t)
        eps_u, eps_c = unet(x_in, t, encoder_hidden_states=context).sample.chunk(2)
        x = sched.step(eps_u + CFG * (eps_c - eps_u), t, x).prev_sample
    return x


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.std())


def test_cfg_loop_equals_stable_diffusion_pipeline_exactly(unet: torch.nn.Module, prompts) -> None:
    cond, uncond, latents = prompts
    config = {**SD_SCHEDULE, "timestep_spacing": "leading", "steps_offset": 1}
    pipe = StableDiffusionPipeline(vae=None, text_encoder=None, tokenizer=None, unet=unet,
                                   scheduler=EulerDiscreteScheduler(**config), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(prompt_embeds=cond, negative_prompt_embeds=uncond, latents=latents.clone(), height=64, width=64,
               num_inference_steps=STEPS, guidance_scale=CFG, output_type="latent").images
    sched = EulerDiscreteScheduler(**config)
    sched.set_timesteps(STEPS)
    ours = _ours(unet, sched, "euler", sched.sigmas, latents * sched.init_noise_sigma, cond, uncond)
    assert torch.equal(ours, ref), float((ours - ref).abs().max())


def _first_of_runs(values: torch.Tensor) -> torch.Tensor:
    """Collapse the repeated σ of second-order diffusers schedulers ([σ0, σ1, σ1, σ2, σ2, ..., 0])."""
    out = [values[0]]
    for v in values[1:]:
        if not torch.equal(v, out[-1]):
            out.append(v)
    return torch.stack(out)


@pytest.mark.parametrize(("sampler", "scheduler_cls", "extra"), [
    ("euler", EulerDiscreteScheduler, {}),
    ("heun", HeunDiscreteScheduler, {}),
])
def test_karras_family_matches_diffusers(unet, prompts, sampler: str, scheduler_cls: Any, extra: dict) -> None:
    cond, uncond, latents = prompts
    sched = scheduler_cls(**SD_SCHEDULE, timestep_spacing="leading", steps_offset=1, **extra)
    sched.set_timesteps(STEPS)
    ref = _diffusers_loop(unet, sched, latents, cond, uncond)
    fresh = scheduler_cls(**SD_SCHEDULE, timestep_spacing="leading", steps_offset=1, **extra)
    fresh.set_timesteps(STEPS)
    sigmas = _first_of_runs(fresh.sigmas.to(torch.float32))
    ours = _ours(unet, fresh, sampler, sigmas, latents * fresh.init_noise_sigma, cond, uncond)
    assert _rel(ours, ref) < 1e-4


def test_lms_matches_diffusers_then_denoises_at_the_end(unet, prompts) -> None:
    """LMS agrees with diffusers' LMSDiscreteScheduler on every step to σ > 0; the step to σ = 0 is a plain
    denoising step (x = D(x; σ_last)), as in ComfyUI, where diffusers integrates the polynomial to 0."""
    cond, uncond, latents = prompts
    sched = LMSDiscreteScheduler(**SD_SCHEDULE, timestep_spacing="leading", steps_offset=1)
    sched.set_timesteps(STEPS)
    ref = _diffusers_loop(unet, sched, latents, cond, uncond, stop=-1)
    fresh = LMSDiscreteScheduler(**SD_SCHEDULE, timestep_spacing="leading", steps_offset=1)
    fresh.set_timesteps(STEPS)
    sigmas = fresh.sigmas.to(torch.float32)
    x = latents * fresh.init_noise_sigma
    assert _rel(_ours(unet, fresh, "lms", sigmas[:-1], x, cond, uncond), ref) < 1e-4
    ms = ModelSampling(fresh.alphas_cumprod)
    denoiser = CFGDenoiser(unet, ms, [ConditioningEntry(cond)], [ConditioningEntry(uncond)], CFG,
                           latent_shape=x.shape, dtype=torch.float32, device=torch.device("cpu"))
    before_last = SAMPLERS["lms"].function(denoiser, x, sigmas[:-1])
    full = SAMPLERS["lms"].function(denoiser, x, sigmas)
    assert torch.equal(full, denoiser(before_last, sigmas[-2]))


def test_dpmpp_2m_karras_matches_diffusers(unet, prompts) -> None:
    cond, uncond, latents = prompts
    config = {**SD_SCHEDULE, "use_karras_sigmas": True, "algorithm_type": "dpmsolver++", "solver_order": 2}
    sched = DPMSolverMultistepScheduler(**config)
    sched.set_timesteps(STEPS)
    ref = _diffusers_loop(unet, sched, latents, cond, uncond)
    fresh = DPMSolverMultistepScheduler(**config)
    fresh.set_timesteps(STEPS)
    sigmas = fresh.sigmas.to(torch.float32)
    ours = _ours(unet, fresh, "dpmpp_2m", sigmas, latents * (1 + sigmas[0] ** 2) ** 0.5, cond, uncond)
    assert _rel(ours, ref) < 1e-4


@pytest.mark.parametrize(("sampler", "scheduler_cls", "extra"), [
    ("euler", DDIMScheduler, {"clip_sample": False}),  # deterministic DDIM (η = 0) is Euler in σ
    ("pndm", PNDMScheduler, {"skip_prk_steps": True}),
])
def test_vp_schedulers_match_diffusers(unet, prompts, sampler: str, scheduler_cls: Any, extra: dict) -> None:
    cond, uncond, latents = prompts
    config = {**SD_SCHEDULE, "timestep_spacing": "leading", "steps_offset": 1, "set_alpha_to_one": False,
              **extra}
    sched = scheduler_cls(**config)
    sched.set_timesteps(STEPS)
    ref = _diffusers_loop(unet, sched, latents, cond, uncond)
    # Same schedule in σ: the scheduler's timesteps, then the final "alpha" (alphas_cumprod[0]).
    ms = ModelSampling(sched.alphas_cumprod)
    timesteps = torch.unique_consecutive(sched.timesteps)
    sigmas = torch.cat([ms.sigmas[timesteps], ms.sigmas[:1]])
    ours = _ours(unet, sched, sampler, sigmas, latents * (1 + sigmas[0] ** 2) ** 0.5, cond, uncond)
    ours_vp = ours / (1 + sigmas[-1] ** 2) ** 0.5
    assert _rel(ours_vp, ref) < 1e-4


@pytest.mark.parametrize(("strength", "start", "end"), [(1.0, 0.0, 1.0), (0.7, 0.0, 1.0)])
def test_controlnet_loop_equals_controlnet_pipeline(unet, prompts, strength: float, start: float,
                                                    end: float) -> None:
    from diffusers import StableDiffusionControlNetPipeline
    from sampling_fixtures import tiny_controlnet

    from diffusion.types import ControlHint

    cond, uncond, latents = prompts
    controlnet = tiny_controlnet(unet)
    hint = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(11))
    config = {**SD_SCHEDULE, "timestep_spacing": "leading", "steps_offset": 1}
    pipe = StableDiffusionControlNetPipeline(
        vae=None, text_encoder=None, tokenizer=None, unet=unet, controlnet=controlnet,
        scheduler=EulerDiscreteScheduler(**config), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(prompt_embeds=cond, negative_prompt_embeds=uncond, image=hint.movedim(-1, 1), latents=latents.clone(),
               height=64, width=64, num_inference_steps=STEPS, guidance_scale=CFG, output_type="latent",
               controlnet_conditioning_scale=strength, control_guidance_start=start,
               control_guidance_end=end).images
    sched = EulerDiscreteScheduler(**config)
    sched.set_timesteps(STEPS)
    control = ControlHint(controlnet, hint, strength, start, end)
    ms = ModelSampling(sched.alphas_cumprod)
    denoiser = CFGDenoiser(unet, ms, [ConditioningEntry(cond, control=control)],
                           [ConditioningEntry(uncond, control=control)], CFG, latent_shape=latents.shape,
                           dtype=torch.float32, device=torch.device("cpu"))
    ours = SAMPLERS["euler"].function(denoiser, latents * sched.init_noise_sigma, sched.sigmas)
    assert torch.equal(ours, ref), float((ours - ref).abs().max())


def test_img2img_matches_diffusers_img2img_pipeline(unet, prompts) -> None:
    """img2img start = latent + noise·σ_start (no √(1+σ²) when not starting at σ_max), as both tools do."""
    from diffusers import StableDiffusionImg2ImgPipeline

    cond, uncond, init = prompts
    config = {**SD_SCHEDULE, "timestep_spacing": "leading", "steps_offset": 1}
    pipe = StableDiffusionImg2ImgPipeline(vae=None, text_encoder=None, tokenizer=None, unet=unet,
                                          scheduler=EulerDiscreteScheduler(**config), safety_checker=None,
                                          feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    strength = 0.5
    # A 4-channel "image" is taken as the initial latents by the pipeline (no VAE needed).
    ref = pipe(prompt_embeds=cond, negative_prompt_embeds=uncond, image=init, strength=strength,
               num_inference_steps=STEPS, guidance_scale=CFG, output_type="latent",
               generator=torch.Generator().manual_seed(3)).images
    sched = EulerDiscreteScheduler(**config)
    sched.set_timesteps(STEPS)
    start = STEPS - int(STEPS * strength)
    sigmas = sched.sigmas[start:]
    noise = torch.randn(init.shape, generator=torch.Generator().manual_seed(3))
    ms = ModelSampling(sched.alphas_cumprod)
    x = ms.noise_scaling(sigmas[0], noise, init, max_denoise=ms.is_max_sigma(float(sigmas[0])))
    ours = _ours(unet, sched, "euler", sigmas, x, cond, uncond)
    assert _rel(ours, ref) < 1e-4


@pytest.mark.parametrize(("sampler", "variant"), [("uni_pc", "bh1"), ("uni_pc_bh2", "bh2")])
def test_uni_pc_matches_diffusers(unet, prompts, sampler: str, variant: str) -> None:
    """UniPC (order 3, lower orders at the end) against diffusers' UniPCMultistepScheduler on a schedule that
    ends at σ_min: the predictor-corrector algebra is compared exactly. (Ending at σ = 0, ComfyUI's convention
    replaces 0 by 0.001 and divides by α(0.001): about 1e-4 from diffusers there, whose bh1 gives NaN at 0.)"""
    cond, uncond, latents = prompts
    config = {**SD_SCHEDULE, "solver_order": 3, "solver_type": variant, "predict_x0": True,
              "lower_order_final": True, "final_sigmas_type": "sigma_min"}
    sched = UniPCMultistepScheduler(**config)
    sched.set_timesteps(10)
    ref = _diffusers_loop(unet, sched, latents, cond, uncond)
    ms = ModelSampling(sched.alphas_cumprod)
    sigmas = torch.cat([ms.sigmas[sched.timesteps.long()], ms.sigmas[:1]])
    ours = _ours(unet, sched, sampler, sigmas, latents * (1 + sigmas[0] ** 2) ** 0.5, cond, uncond)
    assert _rel(ours / (1 + sigmas[-1] ** 2) ** 0.5, ref) < 2e-5
