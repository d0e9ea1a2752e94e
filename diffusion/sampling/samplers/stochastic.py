"""Samplers that re-noise each step: DDPM ancestral sampling (Ho et al. 2020, arXiv:2006.11239) and
LCM's multistep consistency sampling (Luo et al. 2023, arXiv:2310.04378)."""

from __future__ import annotations

import torch

from diffusion.sampling.noise import NoiseSampler
from diffusion.sampling.samplers.base import Denoiser, StepCallback, report, require_noise


def _ddpm_step(x_vp: torch.Tensor, sigma: torch.Tensor, sigma_prev: torch.Tensor, eps: torch.Tensor,
               noise: NoiseSampler) -> torch.Tensor:
    """One DDPM posterior step in VP space (Ho et al. 2020, eq. 11 with σ_t² = β̃_t)."""
    alpha_cumprod = 1 / ((sigma * sigma) + 1)
    alpha_cumprod_prev = 1 / ((sigma_prev * sigma_prev) + 1)
    alpha = alpha_cumprod / alpha_cumprod_prev
    mu = (1.0 / alpha).sqrt() * (x_vp - (1 - alpha) * eps / (1 - alpha_cumprod).sqrt())
    if sigma_prev > 0:
        mu = mu + ((1 - alpha) * (1.0 - alpha_cumprod_prev) / (1.0 - alpha_cumprod)).sqrt() * noise(
            sigma, sigma_prev
        )
    return mu


@torch.no_grad()
def sample_ddpm(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *, callback: StepCallback | None = None,
                noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """DDPM ancestral sampling, moving between the VE and VP forms of the sample each step."""
    noise = require_noise(noise_sampler, "ddpm")
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        report(callback, i, sigmas, x, denoised)
        eps = (x - denoised) / sigmas[i]
        x = _ddpm_step(x / torch.sqrt(1.0 + sigmas[i] ** 2.0), sigmas[i], sigmas[i + 1], eps, noise)
        if sigmas[i + 1] != 0:
            x = x * torch.sqrt(1.0 + sigmas[i + 1] ** 2.0)
    return x


@torch.no_grad()
def sample_lcm(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *, callback: StepCallback | None = None,
               noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """LCM multistep sampling: jump to the x0 estimate, then re-noise to the next σ with fresh noise."""
    noise = require_noise(noise_sampler, "lcm")
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        report(callback, i, sigmas, x, denoised)
        x = denoised
        if sigmas[i + 1] > 0:
            x = noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] + x
    return x
