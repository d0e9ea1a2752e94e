"""σ schedules with explicit parameters (the ``*Scheduler`` nodes of custom sampling) and SIGMAS operations.

Each returns a float32 CPU tensor of ``steps + 1`` values ending in 0 unless said otherwise.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from diffusion.sampling.model_sampling import ModelSampling


def _append_zero(sigmas: torch.Tensor) -> torch.Tensor:
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float) -> torch.Tensor:
    """Karras et al. 2022 (arXiv:2206.00364) eq. 5: uniform in σ^(1/ρ) from σ_max to σ_min."""
    ramp = torch.linspace(0, 1, steps)
    min_inv_rho = sigma_min ** (1 / rho)
    max_inv_rho = sigma_max ** (1 / rho)
    return _append_zero((max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho)


def exponential_sigmas(steps: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Uniform in log σ."""
    return _append_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), steps).exp())


def polyexponential_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float) -> torch.Tensor:
    """log σ follows ``ramp^ρ`` from log σ_max to log σ_min (ρ = 1 is the exponential schedule)."""
    ramp = torch.linspace(1, 0, steps) ** rho
    log_min, log_max = math.log(sigma_min), math.log(sigma_max)
    return _append_zero((ramp * (log_max - log_min) + log_min).exp())


def vp_sigmas(steps: int, beta_d: float, beta_min: float, eps_s: float) -> torch.Tensor:
    """The continuous VP-SDE schedule (Song et al. 2021, arXiv:2011.13456): σ(t) = √(exp(β_d t²/2 + β_min t) − 1)
    for t from 1 to ``eps_s``."""
    t = torch.linspace(1, eps_s, steps)
    return _append_zero(torch.sqrt(torch.exp(beta_d * t**2 / 2 + beta_min * t) - 1))


def sd_turbo_sigmas(ms: ModelSampling, steps: int, denoise: float) -> torch.Tensor:
    """SD-Turbo's timesteps 999, 899, ..., 99: ``steps`` of them, starting ``10 − int(10·denoise)`` in."""
    start = 10 - int(10 * denoise)
    timesteps = torch.flip(torch.arange(1, 11) * 100 - 1, (0,))[start:start + steps]
    return _append_zero(ms.sigma(timesteps.float()))


#: Align Your Steps (Sabour et al. 2024, arXiv:2404.14507): the published 10-step noise levels.
AYS_NOISE_LEVELS: dict[str, tuple[float, ...]] = {
    "SD1": (14.6146412293, 6.4745760956, 3.8636745985, 2.6946151520, 1.8841921177, 1.3943805092,
            0.9642583904, 0.6523686016, 0.3977456272, 0.1515232662, 0.0291671582),
    "SDXL": (14.6146412293, 6.3184485287, 3.7681790315, 2.1811480769, 1.3405244945, 0.8620721141,
             0.5550693289, 0.3798540708, 0.2332364134, 0.1114188177, 0.0291671582),
    "SVD": (700.00, 54.5, 15.886, 7.977, 4.248, 1.789, 0.981, 0.403, 0.173, 0.034, 0.002),
}


def _loglinear_resample(levels: tuple[float, ...], count: int) -> list[float]:
    """Resample a decreasing sequence to ``count`` points, linearly in log σ (the paper's recipe)."""
    xs = np.linspace(0, 1, len(levels))
    ys = np.log(np.asarray(levels[::-1], dtype=np.float64))
    resampled = np.exp(np.interp(np.linspace(0, 1, count), xs, ys))[::-1]
    return [float(v) for v in resampled]


def align_your_steps_sigmas(model_type: str, steps: int, denoise: float) -> torch.Tensor:
    """AYS levels for ``steps`` steps; denoise < 1 keeps the last ``round(steps·denoise)`` steps; ends in 0."""
    if model_type not in AYS_NOISE_LEVELS:
        raise ValueError(f"model_type: expected one of {list(AYS_NOISE_LEVELS)}, received {model_type!r}")
    total = steps
    if denoise < 1.0:
        if denoise <= 0.0:
            return torch.zeros(0, dtype=torch.float32)
        total = round(steps * denoise)
    levels = list(AYS_NOISE_LEVELS[model_type])
    if steps + 1 != len(levels):
        levels = _loglinear_resample(AYS_NOISE_LEVELS[model_type], steps + 1)
    kept = levels[-(total + 1):]
    kept[-1] = 0.0
    return torch.tensor(kept, dtype=torch.float32)


def split_at_step(sigmas: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``sigmas[:step+1]`` and ``sigmas[step:]``: the two halves share σ_step."""
    return sigmas[:step + 1], sigmas[step:]


def split_at_denoise(sigmas: torch.Tensor, denoise: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The last ``round(steps·denoise)`` steps go to the low half; the high half is what remains before them.

    As ComfyUI does, denoise that rounds to 0 steps gives an empty high half (``sigmas[:-0]``).
    """
    steps = max(int(sigmas.shape[-1]) - 1, 0)
    low_steps = round(steps * denoise)
    return sigmas[:-low_steps], sigmas[-(low_steps + 1):]


def flip(sigmas: torch.Tensor) -> torch.Tensor:
    """Reverse the schedule (for unsampling); a leading 0 becomes 1e-4 so the first step is defined."""
    if len(sigmas) == 0:
        return sigmas
    out = sigmas.flip(0).clone()
    if out[0] == 0:
        out[0] = 0.0001
    return out


def set_first(sigmas: torch.Tensor, sigma: float) -> torch.Tensor:
    """A copy with σ₀ replaced."""
    out = sigmas.clone()
    if len(out) == 0:
        raise ValueError("sigmas: expected at least one value to replace, received an empty schedule")
    out[0] = sigma
    return out


def laplace_sigmas(steps: int, sigma_min: float, sigma_max: float, mu: float, beta: float) -> torch.Tensor:
    """Laplace schedule (Tiankai et al. 2024): log σ = μ − β·sign(½ − x)·log(1 − 2|½ − x| + 1e-5) for x uniform
    in [0, 1], clamped to [σ_min, σ_max]. ``steps`` values and no final 0 (as the reference node returns)."""
    x = torch.linspace(0, 1, steps)
    log_sigma = mu - beta * torch.sign(0.5 - x) * torch.log(1 - 2 * torch.abs(0.5 - x) + 1e-5)
    return torch.clamp(torch.exp(log_sigma), min=sigma_min, max=sigma_max)


def extend_intermediate(sigmas: torch.Tensor, steps: int, start_at_sigma: float, end_at_sigma: float,
                        spacing: str) -> torch.Tensor:
    """Insert ``steps − 1`` values between consecutive σ in [end_at_sigma, start_at_sigma] (start < 0: no upper
    bound), spaced linearly, or eased by a quarter cosine / sine."""
    upper = math.inf if start_at_sigma < 0 else start_at_sigma
    grid = torch.linspace(0, 1, steps + 1)[1:-1]
    if spacing == "cosine":
        grid = torch.sin(grid * math.pi / 2)
    elif spacing == "sine":
        grid = 1 - torch.cos(grid * math.pi / 2)
    elif spacing != "linear":
        raise ValueError(f"spacing: expected linear, cosine or sine, received {spacing!r}")
    out: list[float] = []
    for i in range(len(sigmas) - 1):
        current, following = float(sigmas[i]), float(sigmas[i + 1])
        out.append(current)
        if end_at_sigma <= current <= upper:
            out.extend((grid * (following - current) + current).tolist())
    if len(sigmas) > 0:
        out.append(float(sigmas[-1]))
    return torch.tensor(out, dtype=torch.float32)
