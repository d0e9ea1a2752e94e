"""CFG patches of MODEL values: functions that replace or follow the CFG combination."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from diffusion.models.model_options import CfgArgs


@dataclass(frozen=True)
class RescaleCfg:
    """CFG rescale (Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are Flawed",
    arXiv:2305.08891, Alg. 2): guidance is done on the v-prediction, rescaled so its per-sample std matches
    the positive prediction's, and blended with the plain result by ``multiplier``."""

    multiplier: float

    def __call__(self, args: CfgArgs) -> torch.Tensor:
        x, sigma = args.x, args.sigma.reshape(-1, *([1] * (args.x.ndim - 1)))
        # x0 → v for the VE sample x = x0 + σε: v = (x − (σ²+1)·x0) / (σ·√(σ²+1)).
        norm = (sigma**2 + 1.0) ** 0.5

        def to_v(x0: torch.Tensor) -> torch.Tensor:
            return (x - (sigma**2 + 1.0) * x0) / (sigma * norm)

        cond_v, uncond_v = to_v(args.cond_denoised), to_v(args.uncond_denoised)
        v_cfg = uncond_v + args.cond_scale * (cond_v - uncond_v)
        dims = tuple(range(1, x.ndim))
        v_rescaled = v_cfg * (cond_v.std(dim=dims, keepdim=True) / v_cfg.std(dim=dims, keepdim=True))
        v_final = self.multiplier * v_rescaled + (1.0 - self.multiplier) * v_cfg
        # v → x0: x0 = x/(σ²+1) − v·σ/√(σ²+1).
        return x / (sigma**2 + 1.0) - v_final * sigma / norm


