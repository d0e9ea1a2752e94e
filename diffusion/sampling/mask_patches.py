"""Denoise-mask patches of MODEL values (applied by noise-mask inpainting before every model call)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from diffusion.models.model_options import MaskArgs


@dataclass(frozen=True)
class DifferentialDiffusionMask:
    """Differential Diffusion (Levin & Fried 2023, arXiv:2306.00950): a soft mask is a per-cell strength. At
    each step only cells whose mask value reaches the sampling progress are repainted, so a cell at 0.3 is
    regenerated during the last 30 % of the schedule (progress measured in model timesteps between the first
    σ and the last σ above 0, or σ_min). ``strength`` < 1 blends the binary mask with the soft one."""

    strength: float = 1.0

    def __call__(self, mask: torch.Tensor, args: MaskArgs) -> torch.Tensor:
        sigma_to = max(args.sigma_min, float(args.sigmas[-1]))
        ts_from = float(args.timestep(args.sigmas[0].reshape(1)))
        ts_to = float(args.timestep(torch.tensor([sigma_to])))
        current = float(args.timestep(args.sigma.reshape(-1)[:1]))
        threshold = (current - ts_to) / (ts_from - ts_to)
        binary = (mask >= threshold).to(mask.dtype)
        if self.strength and self.strength < 1:
            return self.strength * binary + (1 - self.strength) * mask
        return binary
