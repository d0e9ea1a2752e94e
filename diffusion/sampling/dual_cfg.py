"""Three-way guidance over (cond1, cond2, negative): ComfyUI's DualCFGGuider, InstructPix2Pix's two scales.

With D_n, D_2, D_1 the x0 estimates for negative, cond2 and cond1 (Brooks et al. 2023, arXiv:2211.09800,
eq. 3, with cond1 = text + image, cond2 = image only, negative = neither; behaviour as ComfyUI's Guider_DualCFG):

* regular: ``D_n + cfg_cond2_negative·(D_2 − D_n) + cfg_conds·(D_1 − D_2)``;
* nested:  ``D_n + cfg_cond2_negative·(D_2 + cfg_conds·(D_1 − D_2) − D_n)``.

Both are affine with weights summing to 1, so applying them to x0 equals applying them to ε (diffusers'
pipeline). Regular guidance skips the negative when cfg_cond2_negative is 1, and cond2 too when cfg_conds is
also 1 (their weights are then 0). The MODEL's CFG patches (RescaleCFG, PAG, ...) act on the inner
(cond2 vs negative) step, as in ComfyUI.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from diffusion.models.model_options import CfgArgs, PostCfgArgs, UnetHook, hooks_installed, options_of
from diffusion.sampling.guidance import CondPredictor
from diffusion.sampling.guiders import GuideContext
from diffusion.sampling.samplers import Denoiser
from diffusion.types import Conditioning, DiffusionModel

_COND1, _COND2, _NEGATIVE = 0, 1, 2


class DualCFGDenoiser:
    """D(x; σ) for three conditionings evaluated in batched UNet calls (one CondPredictor, three slots)."""

    def __init__(self, guider: DualCFGGuider, ctx: GuideContext) -> None:
        self.cfg1, self.cfg2, self.nested = float(guider.cfg_conds), float(guider.cfg_cond2_negative), guider.nested
        skip_negative = not self.nested and math.isclose(self.cfg2, 1.0)
        skip_middle = skip_negative and math.isclose(self.cfg1, 1.0)
        for name, conditioning in (("cond1", guider.cond1), ("cond2", guider.cond2), ("negative", guider.negative)):
            if not conditioning:
                raise ValueError(f"DualCFGGuider: input {name!r} expected at least one conditioning entry, "
                                 f"received none")
        slots = [guider.cond1, [] if skip_middle else guider.cond2, [] if skip_negative else guider.negative]
        self.wanted = [_COND1] + ([] if skip_middle else [_COND2]) + ([] if skip_negative else [_NEGATIVE])
        self.options = options_of(guider.model)
        self.unet = ctx.unet
        self.predictor = CondPredictor(
            ctx.unet, ctx.model_sampling, slots, latent_shape=ctx.latent_shape, dtype=ctx.dtype,
            device=ctx.device, refiner=guider.model.family == "sdxl_refiner", interrupt=ctx.interrupt,
            concat=ctx.concat, slot_names=("cond1", "cond2", "negative"),
        )

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        p = self.predictor
        preds = p.predict(x, sigma, slots=self.wanted)
        d1 = p.denoised(sigma, preds[_COND1], x)
        if _COND2 not in self.wanted:
            return d1
        d2 = p.denoised(sigma, preds[_COND2], x)
        if _NEGATIVE not in self.wanted:
            return d2 + (d1 - d2) * self.cfg1
        dn = p.denoised(sigma, preds[_NEGATIVE], x)
        if self.nested:
            return dn + (self._cfg(x, sigma, d1, d2, self.cfg1, _COND1) - dn) * self.cfg2
        return self._cfg(x, sigma, d2, dn, self.cfg2, _COND2) + (d1 - d2) * self.cfg1

    def _cfg(self, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor, uncond: torch.Tensor, scale: float,
             cond_slot: int) -> torch.Tensor:
        """``uncond + (cond − uncond)·scale`` or the MODEL's CFG function, then its post-CFG functions."""
        if self.options.cfg_function is not None:
            result = self.options.cfg_function(CfgArgs(x, sigma, cond, uncond, scale))
        else:
            result = uncond + (cond - uncond) * scale
        for post in self.options.post_cfg:
            result = post(PostCfgArgs(x, sigma, result, cond, self._predict_with(x, sigma, cond_slot)))
        return result

    def _predict_with(self, x: torch.Tensor, sigma: torch.Tensor, slot: int
                      ) -> Callable[[Sequence[UnetHook]], torch.Tensor]:
        def predict(hooks: Sequence[UnetHook]) -> torch.Tensor:
            with hooks_installed(self.unet, hooks):
                return self.predictor.denoised(sigma, self.predictor.predict(x, sigma, slots=[slot])[slot], x)

        return predict


@dataclass(frozen=True)
class DualCFGGuider:
    """The GUIDER of DualCFGGuider: a MODEL, three conditionings and two scales."""

    model: DiffusionModel
    cond1: Conditioning
    cond2: Conditioning
    negative: Conditioning
    cfg_conds: float
    cfg_cond2_negative: float
    nested: bool = False

    def denoiser(self, ctx: GuideContext) -> Denoiser:
        return DualCFGDenoiser(self, ctx)
