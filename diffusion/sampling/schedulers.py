"""Noise schedules: ``steps`` → ``steps+1`` descending σ values ending in 0, from a model's σ table.

Names and semantics are ComfyUI's ``SCHEDULER_NAMES`` (see comfyui-compat.md §4.1). Each function cites the
schedule's origin. All return float32 CPU tensors.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy.stats
import torch

from diffusion.sampling.model_sampling import ModelSampling

SCHEDULER_NAMES: tuple[str, ...] = (
    "simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal",
    "linear_quadratic", "kl_optimal",
)

#: Samplers that compute one extra σ and then drop the penultimate one (their last step is a large jump).
DISCARD_PENULTIMATE_SAMPLERS: frozenset[str] = frozenset({"dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"})


def _append_zero(sigmas: torch.Tensor) -> torch.Tensor:
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def karras(ms: ModelSampling, steps: int, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. 2022 (arXiv:2206.00364) eq. 5: uniform in σ^(1/ρ)."""
    sigma_min, sigma_max = float(ms.sigma_min), float(ms.sigma_max)
    ramp = torch.linspace(0, 1, steps)
    min_inv_rho = sigma_min ** (1 / rho)
    max_inv_rho = sigma_max ** (1 / rho)
    return _append_zero((max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho)


def exponential(ms: ModelSampling, steps: int) -> torch.Tensor:
    """Uniform in log σ (k-diffusion's "exponential" schedule)."""
    sigma_min, sigma_max = float(ms.sigma_min), float(ms.sigma_max)
    return _append_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), steps).exp())


def normal(ms: ModelSampling, steps: int, sgm: bool = False) -> torch.Tensor:
    """Uniform in (fractional) timestep from the top of the table to its bottom (DDPM/LDM "linspace")."""
    start = float(ms.timestep(ms.sigma_max))
    end = float(ms.timestep(ms.sigma_min))
    append_zero = True
    if sgm:
        # SGM/SDXL "uniform": steps+1 points, the last (t=end) replaced by 0.
        timesteps = torch.linspace(start, end, steps + 1)[:-1]
    else:
        if math.isclose(float(ms.sigma(torch.tensor(end))), 0, abs_tol=0.00001):
            steps += 1
            append_zero = False
        timesteps = torch.linspace(start, end, steps)
    values = [float(ms.sigma(t)) for t in timesteps]
    if append_zero:
        values.append(0.0)
    return torch.tensor(values, dtype=torch.float32)


def sgm_uniform(ms: ModelSampling, steps: int) -> torch.Tensor:
    """Stability's SGM "uniform" discretization: :func:`normal` with steps+1 points, the last dropped."""
    return normal(ms, steps, sgm=True)


def simple(ms: ModelSampling, steps: int) -> torch.Tensor:
    """Uniform stride over the σ table from the top (``σ_table[-(1 + int(i·len/steps))]``)."""
    stride = len(ms.sigmas) / steps
    values = [float(ms.sigmas[-(1 + int(i * stride))]) for i in range(steps)]
    values.append(0.0)
    return torch.tensor(values, dtype=torch.float32)


def ddim_uniform(ms: ModelSampling, steps: int) -> torch.Tensor:
    """DDIM's uniform timestep skipping (Song et al. 2020, arXiv:2010.02502) from table index 1.

    As in ComfyUI, when ``len(table)`` is not a multiple of ``steps`` the stride rounds down and the
    schedule has more than ``steps+1`` values.
    """
    values: list[float] = []
    if math.isclose(float(ms.sigmas[1]), 0, abs_tol=0.00001):
        steps += 1
    else:
        values = [0.0]
    stride = max(len(ms.sigmas) // steps, 1)
    values += [float(ms.sigmas[i]) for i in range(1, len(ms.sigmas), stride)]
    return torch.tensor(values[::-1], dtype=torch.float32)


def beta(ms: ModelSampling, steps: int, alpha: float = 0.6, beta_: float = 0.6) -> torch.Tensor:
    """Beta-distribution timestep spacing (Lee et al. 2024, arXiv:2407.12173), picking table σ values."""
    total = len(ms.sigmas) - 1
    ts = 1 - np.linspace(0, 1, steps, endpoint=False)
    ts = np.rint(scipy.stats.beta.ppf(ts, alpha, beta_) * total)
    values: list[float] = []
    last_t = -1.0
    for t in ts:
        if t != last_t:
            values.append(float(ms.sigmas[int(t)]))
        last_t = float(t)
    values.append(0.0)
    return torch.tensor(values, dtype=torch.float32)


def linear_quadratic(
    ms: ModelSampling, steps: int, threshold_noise: float = 0.025, linear_steps: int | None = None
) -> torch.Tensor:
    """Genmo Mochi's linear-then-quadratic schedule in 1−σ/σmax (linear to 0.025 for steps//2, then quadratic)."""
    if steps == 1:
        schedule = [1.0, 0.0]
    else:
        if linear_steps is None:
            linear_steps = steps // 2
        linear = [i * threshold_noise / linear_steps for i in range(linear_steps)]
        step_diff = linear_steps - threshold_noise * steps
        quadratic_steps = steps - linear_steps
        quadratic_coef = step_diff / (linear_steps * quadratic_steps**2)
        linear_coef = threshold_noise / linear_steps - 2 * step_diff / (quadratic_steps**2)
        const = quadratic_coef * (linear_steps**2)
        quadratic = [quadratic_coef * (i**2) + linear_coef * i + const for i in range(linear_steps, steps)]
        schedule = [1.0 - v for v in [*linear, *quadratic, 1.0]]
    return torch.tensor(schedule, dtype=torch.float32) * ms.sigma_max


def kl_optimal(ms: ModelSampling, steps: int) -> torch.Tensor:
    """KL-optimal schedule (Sabour et al. 2024, "Align Your Steps", arXiv:2404.14507): uniform in atan σ."""
    sigma_min, sigma_max = float(ms.sigma_min), float(ms.sigma_max)
    alpha = torch.arange(steps, dtype=torch.float32).div_(max(steps - 1, 1))
    sigmas = alpha.new_zeros(steps + 1)
    sigmas[:-1] = (alpha * math.atan(sigma_min) + (1 - alpha) * math.atan(sigma_max)).tan_()
    return sigmas


SCHEDULERS: dict[str, Callable[[ModelSampling, int], torch.Tensor]] = {
    "simple": simple,
    "sgm_uniform": sgm_uniform,
    "karras": karras,
    "exponential": exponential,
    "ddim_uniform": ddim_uniform,
    "beta": beta,
    "normal": normal,
    "linear_quadratic": linear_quadratic,
    "kl_optimal": kl_optimal,
}


def calculate_sigmas(ms: ModelSampling, scheduler: str, steps: int) -> torch.Tensor:
    """σ schedule for ``steps`` steps by scheduler name."""
    if scheduler not in SCHEDULERS:
        raise ValueError(f"scheduler: expected one of {list(SCHEDULER_NAMES)}, received {scheduler!r}")
    if steps < 1:
        raise ValueError(f"steps: expected >= 1, received {steps}")
    return SCHEDULERS[scheduler](ms, steps)


def sampler_sigmas(ms: ModelSampling, scheduler: str, steps: int, sampler: str) -> torch.Tensor:
    """The schedule a sampler actually uses (discard-penultimate for dpm_2 and uni_pc)."""
    if sampler in DISCARD_PENULTIMATE_SAMPLERS:
        sigmas = calculate_sigmas(ms, scheduler, steps + 1)
        return torch.cat([sigmas[:-2], sigmas[-1:]])
    return calculate_sigmas(ms, scheduler, steps)


def ksampler_sigmas(ms: ModelSampling, scheduler: str, steps: int, sampler: str, denoise: float) -> torch.Tensor:
    """KSampler's schedule: denoise < 1 computes ``int(steps/denoise)`` steps and keeps the last steps+1."""
    if denoise > 0.9999:
        return sampler_sigmas(ms, scheduler, steps, sampler)
    if denoise <= 0.0:
        return torch.zeros(0, dtype=torch.float32)
    sigmas = sampler_sigmas(ms, scheduler, int(steps / denoise), sampler)
    return sigmas[-(steps + 1):]
