"""The σ schedule a sampler will use, with the quantities people plot: noise variance, SNR, timestep.

Everything comes from the code the samplers run (schedulers.ksampler_sigmas, guiders.discrete_sampling,
ModelSampling.timestep), so a chart of this table and a sampling run cannot disagree: tests/seeing/
test_schedule.py compares it with the schedule a real run consumed, recorded by an observer.

Derived per σ, writing the noisy sample as x_t ∝ a·x0 + b·ε: discrete (DDPM) models have a = 1, b = σ (the VE
form of x_t = √ᾱ·x0 + √(1−ᾱ)·ε), rectified-flow models (SD3, Flux) a = 1−σ, b = σ. ``variance`` = b²/(a²+b²)
(the noise share of a unit-variance sample: 1−ᾱ for DDPM), ``snr`` = a²/b² (None at σ = 0), ``timestep`` = what
the model is conditioned on (None at σ = 0: no model call happens there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from diffusion.models.model_options import SamplingOverride, SamplingType
from diffusion.sampling.flow import FlowModelSampling, FlowParams
from diffusion.sampling.guiders import discrete_sampling
from diffusion.sampling.model_sampling import ModelSampling
from diffusion.sampling.schedulers import ksampler_sigmas

#: The training schedule of SD1.x, SD2.x and SDXL (all scaled-linear β from 0.00085 to 0.012 over 1000 steps).
SD_TRAINING_SCHEDULE: dict[str, Any] = {"beta_start": 0.00085, "beta_end": 0.012, "num_train_timesteps": 1000}


@dataclass(frozen=True)
class ScheduleQuery:
    """What decides a KSampler's σ schedule (or a custom SIGMAS list, which only gets the derived columns)."""

    scheduler: str = "normal"
    steps: int = 20
    denoise: float = 1.0
    sampler_name: str = "euler"
    #: ModelSamplingDiscrete's ``sampling`` ("eps", "v_prediction", "lcm", "x0"); None: the model's own (eps).
    sampling: SamplingType | None = None
    zsnr: bool = False
    sigmas: tuple[float, ...] | None = None
    #: A rectified-flow model (SD3/Flux, with its shift) instead of the SD training schedule.
    flow: FlowParams | None = None


def model_sampling(query: ScheduleQuery) -> ModelSampling:
    """The σ table sampling would use for an SD-schedule model patched as the query says."""
    from diffusion.models.model import training_alphas_cumprod

    if query.flow is not None:
        return FlowModelSampling(query.flow)
    override = None if query.sampling is None and not query.zsnr else SamplingOverride(query.sampling or "eps",
                                                                                       query.zsnr)
    return discrete_sampling(training_alphas_cumprod(SD_TRAINING_SCHEDULE), "epsilon", override)


def schedule_sigmas(query: ScheduleQuery, ms: ModelSampling) -> torch.Tensor:
    """The σ values the sampler consumes: KSampler's computation, or the custom list as given."""
    if query.sigmas is not None:
        return torch.tensor(query.sigmas, dtype=torch.float32)
    return ksampler_sigmas(ms, query.scheduler, query.steps, query.sampler_name, query.denoise)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def schedule_table(query: ScheduleQuery) -> dict[str, Any]:
    """``{"sigmas": [...], "rows": [{step, sigma, variance, snr, log_snr, timestep}], "sigma_min", "sigma_max"}``."""
    ms = model_sampling(query)
    sigmas = schedule_sigmas(query, ms)
    rows: list[dict[str, Any]] = []
    for index, value in enumerate(sigmas.tolist()):
        sigma = float(value)
        positive = sigma > 0
        signal = 1.0 - sigma if query.flow is not None else 1.0
        snr = signal * signal / (sigma * sigma) if positive else math.inf
        rows.append({
            "step": index,
            "sigma": sigma,
            "variance": sigma * sigma / (signal * signal + sigma * sigma),
            "snr": _finite(snr),
            "log_snr": math.log(snr) if positive and snr > 0 else None,
            "timestep": float(ms.timestep(torch.tensor(sigma))) if positive else None,
        })
    return {
        "sigmas": [float(v) for v in sigmas.tolist()],
        "steps": max(len(rows) - 1, 0),
        "rows": rows,
        "sigma_min": float(ms.sigma_min),
        "sigma_max": float(ms.sigma_max),
    }
