"""Linear multistep samplers on the probability-flow ODE dx/dσ = (x − D)/σ.

* ``lms``: variable-step Adams–Bashforth of order 4 with coefficients from integrating the Lagrange
  basis over [σ_i, σ_{i+1}] (the classical linear multistep method, as used by k-diffusion's LMS).
* ``ipndm``: improved PNDM, fixed Adams–Bashforth coefficients with Euler warm-up
  (Zhang & Chen 2022, "Fast Sampling of Diffusion Models with Exponential Integrator", arXiv:2204.13902).
* ``deis``: tAB-DEIS (same paper): the slope is extrapolated polynomially in the VP time of an
  EDM-parametrised schedule and integrated exactly in σ.
* ``pndm``: PLMS from Liu et al. 2022, "Pseudo Numerical Methods for Diffusion Models" (arXiv:2202.09778),
  fixed AB coefficients with a 2nd-order (trapezoid) first step, as in the published PNDM scheduler.
"""

from __future__ import annotations

import math

import torch
from scipy import integrate

from diffusion.sampling.noise import NoiseSampler
from diffusion.sampling.samplers.base import Denoiser, StepCallback, report, to_d

# Adams–Bashforth coefficients for orders 1..4 on equal steps, newest slope first.
_AB_COEFFS: tuple[tuple[float, ...], ...] = (
    (1.0,),
    (3 / 2, -1 / 2),
    (23 / 12, -16 / 12, 5 / 12),
    (55 / 24, -59 / 24, 37 / 24, -9 / 24),
)


def _lms_coeff(order: int, t: list[float], i: int, j: int) -> float:
    """∫_{t_i}^{t_{i+1}} of the Lagrange basis polynomial for node t_{i−j} over nodes t_i..t_{i−order+1}."""

    def basis(tau: float) -> float:
        prod = 1.0
        for k in range(order):
            if j != k:
                prod *= (tau - t[i - k]) / (t[i - j] - t[i - k])
        return prod

    return float(integrate.quad(basis, t[i], t[i + 1], epsrel=1e-4)[0])


@torch.no_grad()
def sample_lms(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *, callback: StepCallback | None = None,
               noise_sampler: NoiseSampler | None = None, order: int = 4) -> torch.Tensor:
    """Variable-step linear multistep (order 4) in σ; the step to σ = 0 is a plain denoising step (x = D),
    as ComfyUI does (integrating the interpolating polynomial down to 0 lands elsewhere: diffusers does that)."""
    sigma_list = [float(s) for s in sigmas.detach().cpu().to(torch.float32).numpy()]
    ds: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        ds.append(to_d(x, sigmas[i], denoised))
        if len(ds) > order:
            ds.pop(0)
        report(callback, i, sigmas, x, denoised)
        if sigma_list[i + 1] == 0:
            x = denoised
            continue
        cur_order = min(i + 1, order)
        coeffs = [_lms_coeff(cur_order, sigma_list, i, j) for j in range(cur_order)]
        x = x + sum(coeff * d for coeff, d in zip(coeffs, reversed(ds), strict=True))
    return x


def _adams_bashforth(x: torch.Tensor, dt: torch.Tensor, slopes: list[torch.Tensor]) -> torch.Tensor:
    """One fixed-coefficient AB step; ``slopes`` oldest first, the newest last."""
    coeffs = _AB_COEFFS[len(slopes) - 1]
    if len(slopes) == 1:
        return x + dt * slopes[0]
    combined = sum(c * s for c, s in zip(coeffs, reversed(slopes), strict=True))
    return x + dt * combined


@torch.no_grad()
def sample_ipndm(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *, callback: StepCallback | None = None,
                 noise_sampler: NoiseSampler | None = None, max_order: int = 4) -> torch.Tensor:
    """iPNDM: Adams–Bashforth up to order 4 on equal-step coefficients, warming up from Euler; the step to
    σ = 0 is a plain denoising step (x = D), as in ComfyUI."""
    history: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma)
        d = to_d(x, sigma, denoised)
        report(callback, i, sigmas, x, denoised)
        if sigma_next == 0:
            x = denoised
            continue
        history.append(d)
        history = history[-max_order:]
        x = _adams_bashforth(x, sigma_next - sigma, history)
    return x


@torch.no_grad()
def sample_pndm(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *, callback: StepCallback | None = None,
                noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """PLMS (Liu et al. 2022): AB4 on ε = (x − D)/σ, the first step a trapezoid (2nd order) for accuracy."""
    history: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma)
        d = to_d(x, sigma, denoised)
        report(callback, i, sigmas, x, denoised)
        dt = sigma_next - sigma
        if i == 0 and len(sigmas) > 2:
            x_1 = x + d * dt
            d_1 = to_d(x_1, sigma_next, model(x_1, sigma_next))
            x = x + (d + d_1) / 2 * dt
            history.append(d)
            continue
        history.append(d)
        history = history[-4:]
        x = _adams_bashforth(x, dt, history)
    return x


# --- DEIS ------------------------------------------------------------------------------------------------

_DEIS_EPS_S, _DEIS_SIGMA_MIN, _DEIS_SIGMA_MAX = 1e-3, 0.002, 80.0


def _deis_vp_params() -> tuple[float, float]:
    """β_min and β_d of the VP-SDE whose σ range matches EDM's [0.002, 80] (the DEIS reference setup)."""
    log_min = math.log(_DEIS_SIGMA_MIN**2 + 1)
    log_max = math.log(_DEIS_SIGMA_MAX**2 + 1)
    beta_d = 2 * (log_min / _DEIS_EPS_S - log_max) / (_DEIS_EPS_S - 1)
    beta_min = log_max - 0.5 * beta_d
    return beta_min, beta_d


def deis_coefficients(sigmas: torch.Tensor, max_order: int, n_quad: int = 10000) -> list[list[float]]:
    """tAB-DEIS weights: ∫ σ'(τ)·ℓ_j(τ) dτ over each step, ℓ_j the Lagrange basis in VP time τ."""
    beta_min, beta_d = _deis_vp_params()
    s = sigmas.detach().cpu().to(torch.float64)
    ts = ((beta_min**2 + 2 * beta_d * torch.log(s**2 + 1)).sqrt() - beta_min) / beta_d
    coeffs: list[list[float]] = []
    for i in range(len(ts) - 1):
        order = min(i + 1, max_order)
        if order == 1:
            coeffs.append([])
            continue
        taus = torch.linspace(float(ts[i]), float(ts[i + 1]), n_quad, dtype=torch.float64)
        dtau = (ts[i + 1] - ts[i]) / n_quad
        alpha = torch.exp(-0.5 * taus**2 * beta_d - taus * beta_min)
        dlog_alpha = -taus * beta_d - beta_min
        dsigma_dtau = -0.5 * dlog_alpha / torch.sqrt(alpha * (1 - alpha))
        nodes = [ts[i - k] for k in range(order)]
        row = []
        for j in range(order):
            basis = torch.ones_like(taus)
            for k in range(order):
                if k != j:
                    basis = basis * (taus - nodes[k]) / (nodes[j] - nodes[k])
            row.append(float((dsigma_dtau * basis).sum() * dtau))
        coeffs.append(row)
    return coeffs


@torch.no_grad()
def sample_deis(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *, callback: StepCallback | None = None,
                noise_sampler: NoiseSampler | None = None, max_order: int = 3) -> torch.Tensor:
    """tAB-DEIS of order 3 (Zhang & Chen 2022); Euler for the first step and the final step to σ = 0."""
    coeffs = deis_coefficients(sigmas, max_order)
    history: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma)
        d = to_d(x, sigma, denoised)
        report(callback, i, sigmas, x, denoised)
        order = min(max_order, i + 1)
        if sigma_next <= 0:
            order = 1
        if order == 1:
            x = x + (sigma_next - sigma) * d
        else:
            slopes = [d, *reversed(history[-(order - 1):])]
            x = x + sum(c * s for c, s in zip(coeffs[i], slopes, strict=True))
        history.append(d)
        history = history[-(max_order - 1):]
    return x
