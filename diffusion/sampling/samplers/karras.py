"""Samplers from Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based Generative Models"
(arXiv:2206.00364): Euler, Heun (Alg. 1/2 without churn), the DPM-2 midpoint variant, their ancestral
versions (ancestral step from Ho et al. 2020, arXiv:2006.11239), and ComfyUI's 3-stage weighted Heun "heunpp2".
"""

from __future__ import annotations

import torch

from diffusion.sampling.noise import NoiseSampler
from diffusion.sampling.samplers.base import (
    Denoiser,
    StepCallback,
    ancestral_step,
    report,
    require_noise,
    to_d,
)


@torch.no_grad()
def sample_euler(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *, callback: StepCallback | None = None,
                 noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """Euler's method on the probability-flow ODE (Karras et al. 2022, Alg. 2 with S_churn = 0)."""
    for i in range(len(sigmas) - 1):
        sigma = sigmas[i]
        denoised = model(x, sigma)
        d = to_d(x, sigma, denoised)
        report(callback, i, sigmas, x, denoised)
        x = x + d * (sigmas[i + 1] - sigma)
    return x


@torch.no_grad()
def sample_euler_ancestral(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *,
                           callback: StepCallback | None = None,
                           noise_sampler: NoiseSampler | None = None, eta: float = 1.0,
                           s_noise: float = 1.0) -> torch.Tensor:
    """Ancestral Euler: Euler to σ_down, then add noise of std σ_up (Ho et al. 2020 posterior in VE form).

    ``eta`` scales the ancestral noise (0 = plain Euler), ``s_noise`` the drawn noise itself.
    """
    noise = require_noise(noise_sampler, "euler_ancestral")
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        report(callback, i, sigmas, x, denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        d = to_d(x, sigmas[i], denoised)
        x = x + d * (sigma_down - sigmas[i])
        x = x + noise(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


@torch.no_grad()
def sample_heun(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *, callback: StepCallback | None = None,
                noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """Heun's 2nd-order method (Karras et al. 2022, Alg. 1); Euler for the final step to σ = 0."""
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma)
        d = to_d(x, sigma, denoised)
        report(callback, i, sigmas, x, denoised)
        dt = sigma_next - sigma
        if sigma_next == 0:
            x = x + d * dt
            continue
        x_2 = x + d * dt
        d_2 = to_d(x_2, sigma_next, model(x_2, sigma_next))
        x = x + (d + d_2) / 2 * dt
    return x


@torch.no_grad()
def sample_heunpp2(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *,
                   callback: StepCallback | None = None,
                   noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """ComfyUI's "heunpp2": Heun with up to three stages, slopes weighted by σ/(k·σ₀) (Euler at the end)."""
    s_end = sigmas[-1]
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma)
        d = to_d(x, sigma, denoised)
        report(callback, i, sigmas, x, denoised)
        dt = sigma_next - sigma
        if sigma_next == s_end:
            x = x + d * dt
        elif sigmas[i + 2] == s_end:
            x_2 = x + d * dt
            d_2 = to_d(x_2, sigma_next, model(x_2, sigma_next))
            w2 = sigma_next / (2 * sigmas[0])
            x = x + (d * (1 - w2) + d_2 * w2) * dt
        else:
            x_2 = x + d * dt
            d_2 = to_d(x_2, sigma_next, model(x_2, sigma_next))
            x_3 = x_2 + d_2 * (sigmas[i + 2] - sigma_next)
            d_3 = to_d(x_3, sigmas[i + 2], model(x_3, sigmas[i + 2]))
            w = 3 * sigmas[0]
            w2 = sigma_next / w
            w3 = sigmas[i + 2] / w
            x = x + ((1 - w2 - w3) * d + w2 * d_2 + w3 * d_3) * dt
    return x


@torch.no_grad()
def sample_dpm_2(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *, callback: StepCallback | None = None,
                 noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """DPM-Solver-2 style midpoint method in σ (Karras et al. 2022, sec. 3 / Lu et al. 2022, arXiv:2206.00927)."""
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma)
        d = to_d(x, sigma, denoised)
        report(callback, i, sigmas, x, denoised)
        if sigma_next == 0:
            x = x + d * (sigma_next - sigma)
            continue
        sigma_mid = sigma.log().lerp(sigma_next.log(), 0.5).exp()
        x_2 = x + d * (sigma_mid - sigma)
        d_2 = to_d(x_2, sigma_mid, model(x_2, sigma_mid))
        x = x + d_2 * (sigma_next - sigma)
    return x


@torch.no_grad()
def sample_dpm_2_ancestral(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *,
                           callback: StepCallback | None = None,
                           noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """Ancestral DPM-2: midpoint step to σ_down, then noise of std σ_up."""
    noise = require_noise(noise_sampler, "dpm_2_ancestral")
    for i in range(len(sigmas) - 1):
        sigma = sigmas[i]
        denoised = model(x, sigma)
        sigma_down, sigma_up = ancestral_step(sigma, sigmas[i + 1])
        d = to_d(x, sigma, denoised)
        report(callback, i, sigmas, x, denoised)
        if sigma_down == 0:
            x = x + d * (sigma_down - sigma)
            continue
        sigma_mid = sigma.log().lerp(sigma_down.log(), 0.5).exp()
        x_2 = x + d * (sigma_mid - sigma)
        d_2 = to_d(x_2, sigma_mid, model(x_2, sigma_mid))
        x = x + d_2 * (sigma_down - sigma)
        x = x + noise(sigma, sigmas[i + 1]) * sigma_up
    return x
