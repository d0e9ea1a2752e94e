"""SIGMAS schedulers of custom sampling (ComfyUI's names, inputs, defaults and limits)."""

from __future__ import annotations

from typing import Annotated, Literal

import torch

from diffusion.sampling import custom_schedules as cs
from diffusion.sampling.guiders import model_sampling_for
from diffusion.sampling.schedulers import beta as beta_schedule
from diffusion.sampling.schedulers import calculate_sigmas
from graph.spec import Outputs, node
from graph.widgets import Range
from nodes.sampling import SchedulerName
from nodes.sockets import MODEL, SIGMAS

Steps = Annotated[int, Range(1, 10000)]
Denoise = Annotated[float, Range(0.0, 1.0, step=0.01)]
Sigma = Annotated[float, Range(0.0, 5000.0, step=0.01, round=False)]
Rho = Annotated[float, Range(0.0, 100.0, step=0.01, round=False)]
#: SD1.x/SDXL's σ_max and σ_min, the defaults of the model-free schedulers.
SIGMA_MAX = 14.614642
SIGMA_MIN = 0.0291675


class SigmasResult(Outputs):
    sigmas: SIGMAS


def _positive(node_id: str, **values: float) -> None:
    for name, value in values.items():
        if value <= 0:
            raise ValueError(f"{node_id}: input '{name}' expected a value > 0, received {value}")


@node("BasicScheduler", category="sampling/schedulers")
def basic_scheduler(model: MODEL, scheduler: SchedulerName = "simple", steps: Steps = 20,
                    denoise: Denoise = 1.0) -> SigmasResult:
    """KSampler's schedules from the model's σ table; denoise < 1 keeps the tail of a longer schedule."""
    total = steps
    if denoise < 1.0:
        if denoise <= 0.0:
            return SigmasResult(torch.zeros(0, dtype=torch.float32))
        total = int(steps / denoise)
    sigmas = calculate_sigmas(model_sampling_for(model), scheduler, total)
    return SigmasResult(sigmas[-(steps + 1):])


@node("KarrasScheduler", category="sampling/schedulers")
def karras_scheduler(steps: Steps = 20, sigma_max: Sigma = SIGMA_MAX, sigma_min: Sigma = SIGMA_MIN,
                     rho: Rho = 7.0) -> SigmasResult:
    """Karras et al. 2022: uniform in σ^(1/ρ)."""
    _positive("KarrasScheduler", sigma_max=sigma_max, sigma_min=sigma_min, rho=rho)
    return SigmasResult(cs.karras_sigmas(steps, sigma_min, sigma_max, rho))


@node("ExponentialScheduler", category="sampling/schedulers")
def exponential_scheduler(steps: Steps = 20, sigma_max: Sigma = SIGMA_MAX,
                          sigma_min: Sigma = SIGMA_MIN) -> SigmasResult:
    """Uniform in log σ."""
    _positive("ExponentialScheduler", sigma_max=sigma_max, sigma_min=sigma_min)
    return SigmasResult(cs.exponential_sigmas(steps, sigma_min, sigma_max))


@node("PolyexponentialScheduler", category="sampling/schedulers")
def polyexponential_scheduler(steps: Steps = 20, sigma_max: Sigma = SIGMA_MAX, sigma_min: Sigma = SIGMA_MIN,
                              rho: Rho = 1.0) -> SigmasResult:
    """log σ along ramp^ρ (ρ = 1: exponential)."""
    _positive("PolyexponentialScheduler", sigma_max=sigma_max, sigma_min=sigma_min)
    return SigmasResult(cs.polyexponential_sigmas(steps, sigma_min, sigma_max, rho))


@node("VPScheduler", category="sampling/schedulers")
def vp_scheduler(steps: Steps = 20, beta_d: Sigma = 19.9, beta_min: Sigma = 0.1,
                 eps_s: Annotated[float, Range(0.0, 1.0, step=0.0001, round=False)] = 0.001) -> SigmasResult:
    """The continuous VP-SDE schedule."""
    return SigmasResult(cs.vp_sigmas(steps, beta_d, beta_min, eps_s))


@node("BetaSamplingScheduler", category="sampling/schedulers")
def beta_sampling_scheduler(model: MODEL, steps: Steps = 20,
                            alpha: Annotated[float, Range(0.0, 50.0, step=0.01, round=False)] = 0.6,
                            beta: Annotated[float, Range(0.0, 50.0, step=0.01, round=False)] = 0.6) -> SigmasResult:
    """Timesteps spaced by a Beta(α, β) distribution's quantiles (Lee et al. 2024)."""
    _positive("BetaSamplingScheduler", alpha=alpha, beta=beta)
    return SigmasResult(beta_schedule(model_sampling_for(model), steps, alpha, beta))


@node("SDTurboScheduler", category="sampling/schedulers")
def sd_turbo_scheduler(model: MODEL, steps: Annotated[int, Range(1, 10)] = 1,
                       denoise: Denoise = 1.0) -> SigmasResult:
    """SD-Turbo's timesteps 999, 899, ... (1 to 10 steps)."""
    return SigmasResult(cs.sd_turbo_sigmas(model_sampling_for(model), steps, denoise))


@node("AlignYourStepsScheduler", category="sampling/schedulers")
def align_your_steps_scheduler(model_type: Literal["SD1", "SDXL", "SVD"] = "SD1", steps: Steps = 10,
                               denoise: Denoise = 1.0) -> SigmasResult:
    """NVIDIA's Align Your Steps noise levels, resampled log-linearly to the step count."""
    return SigmasResult(cs.align_your_steps_sigmas(model_type, steps, denoise))


@node("LaplaceScheduler", category="sampling/schedulers")
def laplace_scheduler(steps: Steps = 20, sigma_max: Sigma = SIGMA_MAX, sigma_min: Sigma = SIGMA_MIN,
                      mu: Annotated[float, Range(-10.0, 10.0, step=0.1, round=False)] = 0.0,
                      beta: Annotated[float, Range(0.0, 10.0, step=0.1, round=False)] = 0.5) -> SigmasResult:
    """Laplace-distributed log σ (concentrates steps around e^μ); no final 0, as ComfyUI's node."""
    return SigmasResult(cs.laplace_sigmas(steps, sigma_min, sigma_max, mu, beta))
