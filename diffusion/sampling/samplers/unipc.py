"""UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of Diffusion
Models", arXiv:2302.04867): multistep UniP predictor + UniC corrector in data-prediction form, B(h) = h
("bh1") or eᵸ − 1 ("bh2"), order 3 with lower orders at the start and the end.

Works in VP space with the noise schedule α = 1/√(1+σ²) (ComfyUI's convention: the schedule's "time" is σ
itself, the last σ = 0 is replaced by 0.001 and the result is divided by α(0.001)).
"""

from __future__ import annotations

import torch

from diffusion.sampling.noise import NoiseSampler
from diffusion.sampling.samplers.base import Denoiser, StepCallback, report


class _VPSchedule:
    """log α, σ_vp and λ = log α − log σ_vp for the VE σ, computed as float32 the way ComfyUI does."""

    @staticmethod
    def log_alpha(sigma: torch.Tensor) -> torch.Tensor:
        return 0.5 * torch.log(1 / ((sigma * sigma) + 1))

    def alpha(self, sigma: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.log_alpha(sigma))

    def std(self, sigma: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(1.0 - torch.exp(2.0 * self.log_alpha(sigma)))

    def lam(self, sigma: torch.Tensor) -> torch.Tensor:
        log_alpha = self.log_alpha(sigma)
        return log_alpha - 0.5 * torch.log(1.0 - torch.exp(2.0 * log_alpha))


def _uni_pc_update(
    x: torch.Tensor, model_prev: list[torch.Tensor], t_prev: list[torch.Tensor], t: torch.Tensor, order: int,
    data_fn: _DataFn, use_corrector: bool, variant: str, ns: _VPSchedule,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One UniPC step from t_prev[-1] to t: predictor of ``order``, then (optionally) the corrector."""
    t_prev_0 = t_prev[-1]
    lambda_prev_0, lambda_t = ns.lam(t_prev_0), ns.lam(t)
    model_prev_0 = model_prev[-1]
    sigma_prev_0, sigma_t = ns.std(t_prev_0), ns.std(t)
    alpha_t = torch.exp(ns.log_alpha(t))
    h = lambda_t - lambda_prev_0

    rks: list[torch.Tensor] = []
    d1s: list[torch.Tensor] = []
    for i in range(1, order):
        rk = (ns.lam(t_prev[-(i + 1)]) - lambda_prev_0) / h
        rks.append(rk)
        d1s.append((model_prev[-(i + 1)] - model_prev_0) / rk)
    rks.append(torch.ones_like(h))
    rks_t = torch.stack(rks)

    hh = -h  # data prediction
    h_phi_1 = torch.expm1(hh)
    h_phi_k = h_phi_1 / hh - 1
    b_h = hh if variant == "bh1" else torch.expm1(hh)
    factorial = 1
    rows: list[torch.Tensor] = []
    b: list[torch.Tensor] = []
    for i in range(1, order + 1):
        rows.append(torch.pow(rks_t, i - 1))
        b.append(h_phi_k * factorial / b_h)
        factorial *= i + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    r_mat = torch.stack(rows)
    b_t = torch.stack(b)

    d1_stack = torch.stack(d1s, dim=1) if d1s else None
    x_t_ = sigma_t / sigma_prev_0 * x - alpha_t * h_phi_1 * model_prev_0
    if d1_stack is not None:
        half = torch.tensor([0.5], dtype=x.dtype, device=x.device)
        rhos_p = half if order == 2 else torch.linalg.solve(r_mat[:-1, :-1], b_t[:-1])
        pred_res = torch.einsum("k,bk...->b...", rhos_p.to(x.dtype), d1_stack)
        x_t = x_t_ - alpha_t * b_h * pred_res
    else:
        x_t = x_t_
    if not use_corrector:
        return x_t, None
    rhos_c = torch.tensor([0.5], dtype=x.dtype, device=x.device) if order == 1 else torch.linalg.solve(r_mat, b_t)
    model_t = data_fn(x_t, t)
    corr_res = (torch.einsum("k,bk...->b...", rhos_c[:-1].to(x.dtype), d1_stack)
                if d1_stack is not None else torch.zeros_like(x))
    d1_t = model_t - model_prev_0
    x_t = x_t_ - alpha_t * b_h * (corr_res + rhos_c[-1] * d1_t)
    return x_t, model_t


class _DataFn:
    """x0 prediction for a VP-space sample at VE noise level σ, via the VE denoiser."""

    def __init__(self, model: Denoiser, ns: _VPSchedule) -> None:
        self.model = model
        self.ns = ns
        self.last_denoised: torch.Tensor | None = None

    def __call__(self, x_vp: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        x_ve = x_vp * (sigma**2 + 1.0) ** 0.5
        denoised = self.model(x_ve, sigma)
        self.last_denoised = denoised
        eps = (x_ve - denoised) / sigma
        return (x_vp - self.ns.std(sigma) * eps) / self.ns.alpha(sigma)


def _sample_unipc(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: StepCallback | None,
                  variant: str) -> torch.Tensor:
    if len(sigmas) <= 1:
        return x
    ns = _VPSchedule()
    timesteps = sigmas.clone()
    if timesteps[-1] == 0:
        timesteps[-1] = 0.001
    steps = len(timesteps) - 1
    order = max(1, min(3, len(timesteps) - 2))
    data_fn = _DataFn(model, ns)
    x = x / torch.sqrt(1.0 + timesteps[0] ** 2.0)

    model_prev = [data_fn(x, timesteps[0])]
    t_prev = [timesteps[0]]
    _report(callback, 0, sigmas, x, data_fn)
    for init_order in range(1, order):
        t = timesteps[init_order]
        x, model_x = _uni_pc_update(x, model_prev, t_prev, t, init_order, data_fn, True, variant, ns)
        if model_x is None:
            model_x = data_fn(x, t)
        _report(callback, init_order, sigmas, x, data_fn)
        model_prev.append(model_x)
        t_prev.append(t)
    for step in range(order, steps + 1):
        t = timesteps[step]
        step_order = min(order, steps + 1 - step)
        use_corrector = step != steps
        x, model_x = _uni_pc_update(x, model_prev, t_prev, t, step_order, data_fn, use_corrector, variant, ns)
        model_prev = model_prev[1:] if len(model_prev) >= order else model_prev
        t_prev = t_prev[1:] if len(t_prev) >= order else t_prev
        t_prev.append(t)
        if step < steps:  # the last step needs no model output: nothing follows it
            if model_x is None:
                model_x = data_fn(x, t)
            model_prev.append(model_x)
            _report(callback, step, sigmas, x, data_fn)
    return x / ns.alpha(timesteps[-1])


def _report(callback: StepCallback | None, step: int, sigmas: torch.Tensor, x_vp: torch.Tensor,
            data_fn: _DataFn) -> None:
    if callback is not None and data_fn.last_denoised is not None:
        report(callback, min(step, len(sigmas) - 2), sigmas, x_vp, data_fn.last_denoised)


@torch.no_grad()
def sample_uni_pc(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *,
                  callback: StepCallback | None = None,
                  noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """UniPC with B(h) = h (UniPC-bh1)."""
    return _sample_unipc(model, x, sigmas, callback, "bh1")


@torch.no_grad()
def sample_uni_pc_bh2(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *,
                      callback: StepCallback | None = None,
                      noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """UniPC with B(h) = eʰ − 1 (UniPC-bh2, recommended for guided sampling)."""
    return _sample_unipc(model, x, sigmas, callback, "bh2")
