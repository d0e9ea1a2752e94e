"""Rectified-flow model sampling (SD3/SD3.5, Flux.1): σ = t, shifted schedules, velocity output.

Follows ComfyUI's ``ModelSamplingDiscreteFlow`` / ``ModelSamplingFlux`` with the ``CONST`` output rule
(behaviour, not code): ``x_σ = σ·ε + (1−σ)·x0``, the model sees ``x_σ`` unscaled and predicts the velocity
``v = ε − x0``, so ``x0 = x_σ − σ·v``. The table holds ``σ(t)`` for ``t = k/N, k = 1..N``; the model is fed
``t·multiplier`` (1000 for SD3, 1 for Flux, whose transformer scales by 1000 itself).

Shifts: SD3 (Esser et al. 2024, arXiv:2403.03206, eq. 23) ``σ = s·t / (1 + (s−1)·t)``; Flux uses the
exponential form ``σ = e^μ / (e^μ + 1/t − 1)`` with ``μ = shift`` (ComfyUI passes the resolution-dependent μ
as the node's ``shift``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from diffusion.sampling.model_sampling import ModelSampling

FlowKind = Literal["sd3", "flux"]


@dataclass(frozen=True)
class FlowParams:
    """What a flow MODEL value carries in ``extras["flow"]`` (set by the loader, changed by ModelSampling* nodes)."""

    kind: FlowKind = "sd3"
    shift: float = 3.0
    multiplier: float = 1000.0


def sd3_time_shift(shift: float, t: torch.Tensor) -> torch.Tensor:
    """``s·t / (1 + (s−1)·t)``; identity for s = 1."""
    if shift == 1.0:
        return t
    return shift * t / (1 + (shift - 1) * t)


def flux_time_shift(mu: float, t: torch.Tensor) -> torch.Tensor:
    """``e^μ / (e^μ + (1/t − 1))``."""
    return math.exp(mu) / (math.exp(mu) + (1 / t - 1))


class FlowModelSampling(ModelSampling):
    """The σ table and conversions of a rectified-flow model (see the module docstring)."""

    def __init__(self, params: FlowParams) -> None:
        self.params = params
        self.prediction_type = "epsilon"  # read as "x − σ·output", which is the CONST rule too
        steps = 10000 if params.kind == "flux" else 1000
        t = torch.arange(1, steps + 1, dtype=torch.float32) / steps
        self.sigmas = self._shift(t).to(torch.float32)
        self.log_sigmas = self.sigmas.log()

    def _shift(self, t: torch.Tensor) -> torch.Tensor:
        if self.params.kind == "flux":
            return flux_time_shift(self.params.shift, t)
        return sd3_time_shift(self.params.shift, t)

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        return sigma.to(torch.float32) * self.params.multiplier

    def sigma(self, timestep: torch.Tensor | float) -> torch.Tensor:
        t = torch.as_tensor(timestep, dtype=torch.float32) / self.params.multiplier
        return self._shift(t)

    def percent_to_sigma(self, percent: float) -> float:
        if percent <= 0.0:
            return 1.0
        if percent >= 1.0:
            return 0.0
        return float(self._shift(torch.tensor(1.0 - percent)))

    def calculate_input(self, sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x

    def calculate_denoised(self, sigma: torch.Tensor, model_output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x - model_output * sigma

    def noise_scaling(  # type: ignore[override]  # an instance method here: the flow mix needs no σ_max rule
        self, sigma: torch.Tensor, noise: torch.Tensor, latent: torch.Tensor, max_denoise: bool = False
    ) -> torch.Tensor:
        """``σ·ε + (1−σ)·latent`` (the flow interpolation; pure noise at σ = 1)."""
        return sigma * noise + (1.0 - sigma) * latent
