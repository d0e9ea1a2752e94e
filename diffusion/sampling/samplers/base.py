"""The shared sampler signature and small helpers.

Every sampler is ``sampler(model, x, sigmas, *, callback=None, noise_sampler=None) -> Tensor``:

* ``model(x, sigma)`` is the denoiser D(x; σ) of Karras et al. 2022 (arXiv:2206.00364): it returns the x0
  estimate for the VE-space sample ``x = x0 + σ·ε`` at the scalar noise level ``sigma``;
* ``x`` is the start sample, already scaled to ``sigmas[0]``; ``sigmas`` is the descending schedule;
* ``callback(StepInfo)`` is called once per step; ``noise_sampler(σ, σ_next)`` supplies unit-variance noise
  (required by the stochastic samplers, ignored by the deterministic ones).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from diffusion.sampling.noise import NoiseSampler


class Denoiser(Protocol):
    """D(x; σ): the x0 estimate."""

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class StepInfo:
    """What a sampler reports after each step."""

    step: int
    total_steps: int
    x: torch.Tensor
    sigma: torch.Tensor
    denoised: torch.Tensor


StepCallback = Callable[[StepInfo], None]


class Sampler(Protocol):
    def __call__(
        self,
        model: Denoiser,
        x: torch.Tensor,
        sigmas: torch.Tensor,
        *,
        callback: StepCallback | None = None,
        noise_sampler: NoiseSampler | None = None,
    ) -> torch.Tensor: ...


def report(callback: StepCallback | None, step: int, sigmas: torch.Tensor, x: torch.Tensor,
           denoised: torch.Tensor) -> None:
    """Call the per-step callback, if any."""
    if callback is not None:
        callback(StepInfo(step, len(sigmas) - 1, x, sigmas[step], denoised))


def to_d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """The probability-flow ODE derivative dx/dσ = (x − D(x; σ))/σ (Karras et al. 2022, eq. 4 with σ(t)=t)."""
    return (x - denoised) / sigma


def ancestral_step(sigma_from: torch.Tensor, sigma_to: torch.Tensor, eta: float = 1.0
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Split σ_from → σ_to into a deterministic step to σ_down plus fresh noise of std σ_up (DDPM posterior)."""
    if not eta:
        return sigma_to, torch.zeros_like(sigma_to)
    sigma_up = torch.minimum(
        sigma_to, eta * (sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2) ** 0.5
    )
    sigma_down = (sigma_to**2 - sigma_up**2) ** 0.5
    return sigma_down, sigma_up


def require_noise(noise_sampler: NoiseSampler | None, name: str) -> NoiseSampler:
    """Stochastic samplers need a noise source; say so clearly instead of sampling from global RNG."""
    if noise_sampler is None:
        raise ValueError(f"sampler {name!r} is stochastic and needs a noise_sampler")
    return noise_sampler


def neg_log(sigma: torch.Tensor) -> torch.Tensor:
    """t = −log σ (the DPM-Solver time variable; λ = t for VE/eps models)."""
    return sigma.log().neg()


def sigma_of(t: torch.Tensor) -> torch.Tensor:
    """σ = exp(−t)."""
    return t.neg().exp()
