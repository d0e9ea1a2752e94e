"""DPM-Solver++ samplers (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
Probabilistic Models", arXiv:2211.01095) in data-prediction form, with t = −log σ:
2S ancestral, the SDE variant of 2S, 2M, and the 2M/3M SDE solvers (SDE-DPM-Solver++, same paper sec. 5,
third-order multistep extension after Gonzalez et al. 2023 / k-diffusion).
"""

from __future__ import annotations

import torch

from diffusion.sampling.noise import NoiseSampler
from diffusion.sampling.samplers.base import (
    Denoiser,
    StepCallback,
    ancestral_step,
    neg_log,
    report,
    require_noise,
    sigma_of,
    to_d,
)


@torch.no_grad()
def sample_dpmpp_2s_ancestral(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *,
                              callback: StepCallback | None = None,
                              noise_sampler: NoiseSampler | None = None, eta: float = 1.0,
                              s_noise: float = 1.0) -> torch.Tensor:
    """DPM-Solver++(2S) single-step to σ_down (midpoint r = 1/2), then ancestral noise of std σ_up."""
    noise = require_noise(noise_sampler, "dpmpp_2s_ancestral")
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        report(callback, i, sigmas, x, denoised)
        if sigma_down == 0:
            x = x + to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        else:
            t, t_next = neg_log(sigmas[i]), neg_log(sigma_down)
            h = t_next - t
            s = t + h / 2
            x_2 = (sigma_of(s) / sigma_of(t)) * x - (-h / 2).expm1() * denoised
            denoised_2 = model(x_2, sigma_of(s))
            x = (sigma_of(t_next) / sigma_of(t)) * x - (-h).expm1() * denoised_2
        if sigmas[i + 1] > 0:
            x = x + noise(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


@torch.no_grad()
def sample_dpmpp_sde(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *,
                     callback: StepCallback | None = None,
                     noise_sampler: NoiseSampler | None = None, eta: float = 1.0, s_noise: float = 1.0,
                     r: float = 0.5) -> torch.Tensor:
    """Stochastic DPM-Solver++(2S): both sub-steps are ancestral (η), the midpoint at fraction ``r`` of the
    step in log σ, Brownian-tree noise scaled by ``s_noise``."""
    noise = require_noise(noise_sampler, "dpmpp_sde")
    fac = 1 / (2 * r)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        report(callback, i, sigmas, x, denoised)
        if sigmas[i + 1] == 0:
            x = x + to_d(x, sigmas[i], denoised) * (sigmas[i + 1] - sigmas[i])
            continue
        t, t_next = neg_log(sigmas[i]), neg_log(sigmas[i + 1])
        h = t_next - t
        s = t + h * r
        # Stage 1: ancestral step to the midpoint.
        sd, su = ancestral_step(sigma_of(t), sigma_of(s), eta)
        s_ = neg_log(sd)
        x_2 = (sigma_of(s_) / sigma_of(t)) * x - (t - s_).expm1() * denoised
        x_2 = x_2 + noise(sigma_of(t), sigma_of(s)) * s_noise * su
        denoised_2 = model(x_2, sigma_of(s))
        # Stage 2: ancestral step to σ_next with the blended data prediction.
        sd, su = ancestral_step(sigma_of(t), sigma_of(t_next), eta)
        t_next_ = neg_log(sd)
        denoised_d = (1 - fac) * denoised + fac * denoised_2
        x = (sigma_of(t_next_) / sigma_of(t)) * x - (t - t_next_).expm1() * denoised_d
        x = x + noise(sigma_of(t), sigma_of(t_next)) * s_noise * su
    return x


@torch.no_grad()
def sample_dpmpp_2m(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *,
                    callback: StepCallback | None = None,
                    noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """DPM-Solver++(2M): second-order multistep in t = −log σ (Lu et al. 2022, Alg. 2)."""
    old_denoised: torch.Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        report(callback, i, sigmas, x, denoised)
        t, t_next = neg_log(sigmas[i]), neg_log(sigmas[i + 1])
        h = t_next - t
        if old_denoised is None or sigmas[i + 1] == 0:
            x = (sigma_of(t_next) / sigma_of(t)) * x - (-h).expm1() * denoised
        else:
            h_last = t - neg_log(sigmas[i - 1])
            r = h_last / h
            denoised_d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
            x = (sigma_of(t_next) / sigma_of(t)) * x - (-h).expm1() * denoised_d
        old_denoised = denoised
    return x


@torch.no_grad()
def sample_dpmpp_2m_sde(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *,
                        callback: StepCallback | None = None,
                        noise_sampler: NoiseSampler | None = None, eta: float = 1.0, s_noise: float = 1.0,
                        solver_type: str = "midpoint") -> torch.Tensor:
    """SDE-DPM-Solver++(2M) (Lu et al. 2022, sec. 5): the second-order correction by the midpoint rule or by
    Heun's (trapezoidal) rule; η = 0 is the deterministic ODE solver."""
    if solver_type not in ("midpoint", "heun"):
        raise ValueError(f"solver_type: expected 'midpoint' or 'heun', received {solver_type!r}")
    noise = require_noise(noise_sampler, "dpmpp_2m_sde")
    old_denoised: torch.Tensor | None = None
    h_last: torch.Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        report(callback, i, sigmas, x, denoised)
        h: torch.Tensor | None = None
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            h = neg_log(sigmas[i + 1]) - neg_log(sigmas[i])
            eta_h = eta * h
            x = sigmas[i + 1] / sigmas[i] * (-eta_h).exp() * x + (-h - eta_h).expm1().neg() * denoised
            if old_denoised is not None and h_last is not None:
                r = h_last / h
                if solver_type == "heun":
                    # ∫ of the linear extrapolation over the step, in closed form: (e^{−h'} − 1)/h' + 1.
                    weight = (-h - eta_h).expm1().neg() / (-h - eta_h) + 1
                else:
                    weight = 0.5 * (-h - eta_h).expm1().neg()
                x = x + weight * (1 / r) * (denoised - old_denoised)
            if eta:
                x = x + noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * (-2 * eta_h).expm1().neg().sqrt() * s_noise
        old_denoised = denoised
        h_last = h
    return x


@torch.no_grad()
def sample_dpmpp_3m_sde(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *,
                        callback: StepCallback | None = None,
                        noise_sampler: NoiseSampler | None = None, eta: float = 1.0,
                        s_noise: float = 1.0) -> torch.Tensor:
    """Third-order multistep SDE-DPM-Solver++ (η = 1 by default), exponential integrator with φ₂, φ₃ corrections."""
    noise = require_noise(noise_sampler, "dpmpp_3m_sde")
    denoised_1: torch.Tensor | None = None
    denoised_2: torch.Tensor | None = None
    h_1: torch.Tensor | None = None
    h_2: torch.Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        report(callback, i, sigmas, x, denoised)
        h: torch.Tensor | None = None
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            h = neg_log(sigmas[i + 1]) - neg_log(sigmas[i])
            h_eta = h * (eta + 1)
            x = torch.exp(-h_eta) * x + (-h_eta).expm1().neg() * denoised
            if h_2 is not None and h_1 is not None and denoised_1 is not None and denoised_2 is not None:
                r0 = h_1 / h
                r1 = h_2 / h
                d1_0 = (denoised - denoised_1) / r0
                d1_1 = (denoised_1 - denoised_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                phi_2 = h_eta.neg().expm1() / h_eta + 1
                phi_3 = phi_2 / h_eta - 0.5
                x = x + phi_2 * d1 - phi_3 * d2
            elif h_1 is not None and denoised_1 is not None:
                r = h_1 / h
                phi_2 = h_eta.neg().expm1() / h_eta + 1
                x = x + phi_2 * ((denoised - denoised_1) / r)
            if eta:
                x = x + noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * (-2 * h * eta).expm1().neg().sqrt() * s_noise
        denoised_1, denoised_2 = denoised, denoised_1
        h_1, h_2 = h, h_1
    return x
