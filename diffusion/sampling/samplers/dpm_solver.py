"""DPM-Solver (Lu et al. 2022, "DPM-Solver: A Fast ODE Solver for Diffusion Probabilistic Model Sampling in
Around 10 Steps", arXiv:2206.00927) in noise-prediction form with t = −log σ:
``dpm_fast`` (DPM-Solver-fast, sec. 3.4: third-order steps, the remainder done at lower order, uniform in t)
and ``dpm_adaptive`` (adaptive step size, Alg. 4/5, with a PID step-size controller after Söderlind 2003).

Both use only the ends of the schedule: they integrate from σ_max to the smallest σ > 0.
"""

from __future__ import annotations

import math

import torch

from diffusion.sampling.noise import NoiseSampler
from diffusion.sampling.samplers.base import Denoiser, StepCallback, StepInfo


class _Solver:
    """ε(x, t) evaluations with per-step caching, and the 1st/2nd/3rd-order DPM-Solver updates."""

    def __init__(self, model: Denoiser, x_like: torch.Tensor) -> None:
        self.model = model
        self.nfe = 0

    @staticmethod
    def sigma(t: torch.Tensor) -> torch.Tensor:
        return t.neg().exp()

    @staticmethod
    def t(sigma: torch.Tensor) -> torch.Tensor:
        return sigma.log().neg()

    def eps(self, cache: dict[str, torch.Tensor], key: str, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if key not in cache:
            sigma = self.sigma(t)
            cache[key] = (x - self.model(x, sigma)) / sigma
            self.nfe += 1
        return cache[key]

    def step_1(self, x: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, cache: dict[str, torch.Tensor]
               ) -> torch.Tensor:
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        return x - self.sigma(t_next) * h.expm1() * eps

    def step_2(self, x: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, cache: dict[str, torch.Tensor],
               r1: float = 1 / 2) -> torch.Tensor:
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        s1 = t + r1 * h
        u1 = x - self.sigma(s1) * (r1 * h).expm1() * eps
        eps_r1 = self.eps(cache, "eps_r1", u1, s1)
        return (x - self.sigma(t_next) * h.expm1() * eps
                - self.sigma(t_next) / (2 * r1) * h.expm1() * (eps_r1 - eps))

    def step_3(self, x: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, cache: dict[str, torch.Tensor],
               r1: float = 1 / 3, r2: float = 2 / 3) -> torch.Tensor:
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        s1 = t + r1 * h
        s2 = t + r2 * h
        u1 = x - self.sigma(s1) * (r1 * h).expm1() * eps
        eps_r1 = self.eps(cache, "eps_r1", u1, s1)
        u2 = (x - self.sigma(s2) * (r2 * h).expm1() * eps
              - self.sigma(s2) * (r2 / r1) * ((r2 * h).expm1() / (r2 * h) - 1) * (eps_r1 - eps))
        eps_r2 = self.eps(cache, "eps_r2", u2, s2)
        return (x - self.sigma(t_next) * h.expm1() * eps
                - self.sigma(t_next) / r2 * (h.expm1() / h - 1) * (eps_r2 - eps))


def _endpoints(sigmas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    sigma_min = sigmas[-1] if sigmas[-1] > 0 else sigmas[-2]
    return sigmas[0], sigma_min


@torch.no_grad()
def sample_dpm_fast(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *,
                    callback: StepCallback | None = None,
                    noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """DPM-Solver-fast with NFE = number of steps, uniform in t from σ_max to the smallest σ > 0."""
    if len(sigmas) <= 1:
        return x
    nfe = len(sigmas) - 1
    sigma_max, sigma_min = _endpoints(sigmas)
    solver = _Solver(model, x)
    t_start, t_end = solver.t(sigma_max), solver.t(sigma_min)
    m = math.floor(nfe / 3) + 1
    ts = torch.linspace(float(t_start), float(t_end), m + 1, device=x.device)
    orders = [3] * (m - 2) + [2, 1] if nfe % 3 == 0 else [3] * (m - 1) + [nfe % 3]
    for i, order in enumerate(orders):
        cache: dict[str, torch.Tensor] = {}
        t, t_next = ts[i], ts[i + 1]
        eps = solver.eps(cache, "eps", x, t)
        if callback is not None:
            callback(StepInfo(i, len(orders), x, solver.sigma(t), x - solver.sigma(t) * eps))
        if order == 1:
            x = solver.step_1(x, t, t_next, cache)
        elif order == 2:
            x = solver.step_2(x, t, t_next, cache)
        else:
            x = solver.step_3(x, t, t_next, cache)
    return x


class PIDStepSizeController:
    """PID control of the step size from the local error estimate (Söderlind 2003, "Digital filters in
    adaptive time-stepping"); the factor is passed through a 1 + atan(·−1) limiter."""

    def __init__(self, h: float, pcoeff: float, icoeff: float, dcoeff: float, order: float = 1.0,
                 accept_safety: float = 0.8, eps: float = 1e-8) -> None:
        self.h = h
        self.b1 = (pcoeff + icoeff + dcoeff) / order
        self.b2 = -(pcoeff + 2 * dcoeff) / order
        self.b3 = dcoeff / order
        self.accept_safety = accept_safety
        self.eps = eps
        self.errs: list[float] = []

    def propose_step(self, error: float) -> bool:
        """Scale ``h`` by the controller factor; True when the step that produced ``error`` is accepted."""
        inv_error = 1 / (float(error) + self.eps)
        if not self.errs:
            self.errs = [inv_error, inv_error, inv_error]
        self.errs[0] = inv_error
        factor = self.errs[0] ** self.b1 * self.errs[1] ** self.b2 * self.errs[2] ** self.b3
        factor = 1 + math.atan(factor - 1)
        accept = factor >= self.accept_safety
        if accept:
            self.errs[2] = self.errs[1]
            self.errs[1] = self.errs[0]
        self.h *= factor
        return accept


@torch.no_grad()
def sample_dpm_adaptive(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *,
                        callback: StepCallback | None = None, noise_sampler: NoiseSampler | None = None,
                        order: int = 3, rtol: float = 0.05, atol: float = 0.0078, h_init: float = 0.05,
                        pcoeff: float = 0.0, icoeff: float = 1.0, dcoeff: float = 0.0,
                        accept_safety: float = 0.81) -> torch.Tensor:
    """Adaptive DPM-Solver-23: embedded 2nd/3rd-order pair, error-controlled steps in t."""
    if len(sigmas) <= 1:
        return x
    sigma_max, sigma_min = _endpoints(sigmas)
    solver = _Solver(model, x)
    t_end = solver.t(sigma_min)
    s = solver.t(sigma_max)
    atol_t = torch.tensor(atol)
    rtol_t = torch.tensor(rtol)
    x_prev = x
    pid = PIDStepSizeController(abs(h_init), pcoeff, icoeff, dcoeff, order, accept_safety)
    step = 0
    while s < t_end - 1e-5:
        cache: dict[str, torch.Tensor] = {}
        t = torch.minimum(t_end, s + pid.h)
        eps = solver.eps(cache, "eps", x, s)
        if callback is not None:
            callback(StepInfo(step, len(sigmas) - 1, x, solver.sigma(s), x - solver.sigma(s) * eps))
        if order == 2:
            x_low = solver.step_1(x, s, t, cache)
            x_high = solver.step_2(x, s, t, cache)
        else:
            x_low = solver.step_2(x, s, t, cache, r1=1 / 3)
            x_high = solver.step_3(x, s, t, cache)
        delta = torch.maximum(atol_t, rtol_t * torch.maximum(x_low.abs(), x_prev.abs()))
        error = torch.linalg.norm((x_low - x_high) / delta) / x.numel() ** 0.5
        if pid.propose_step(float(error)):
            x_prev = x_low
            x = x_high
            s = t
        step += 1
    return x
