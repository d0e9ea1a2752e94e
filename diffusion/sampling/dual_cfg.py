"""Three-way guidance over (cond1, cond2, negative): ComfyUI's DualCFGGuider, InstructPix2Pix's two scales.

With ε_n, ε_2, ε_1 the predictions for negative, cond2 and cond1 (Brooks et al. 2023, arXiv:2211.09800, eq. 3,
with cond1 = text + image, cond2 = image only, negative = neither):

* regular: ``ε_n + cfg_cond2_negative·(ε_2 − ε_n) + cfg_conds·(ε_1 − ε_2)``;
* nested:  ``ε_n + cfg_cond2_negative·(ε_2 + cfg_conds·(ε_1 − ε_2) − ε_n)``.

Both are affine with weights summing to 1, so they are applied to the denoised (x0) predictions, which equals
applying them to ε. As in ComfyUI, regular guidance skips the negative when cfg_cond2_negative is 1 and also
cond2 when cfg_conds is 1 too (their weights are then 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from diffusion.sampling.guidance import CFGDenoiser
from diffusion.sampling.ksampler import GuidanceContext, ProgressCallback, model_sampling_for, run_sampler
from diffusion.types import Conditioning, DiffusionModel


class DualCFGDenoiser:
    """D(x; σ) for three conditionings: one single-conditioning denoiser each, combined as above."""

    def __init__(self, ctx: GuidanceContext, cond1: Conditioning, cond2: Conditioning, negative: Conditioning,
                 cfg_conds: float, cfg_cond2_negative: float, *, nested: bool) -> None:
        self.cfg1, self.cfg2, self.nested = float(cfg_conds), float(cfg_cond2_negative), nested
        skip_negative = not nested and math.isclose(self.cfg2, 1.0)
        skip_middle = skip_negative and math.isclose(self.cfg1, 1.0)

        def single(conditioning: Conditioning, name: str) -> CFGDenoiser:
            # cfg 1 evaluates the conditioning alone; errors name it as the guider's input.
            try:
                return CFGDenoiser(ctx.unet, ctx.model_sampling, conditioning, [], 1.0,
                                   latent_shape=ctx.latent_shape, dtype=ctx.dtype, device=ctx.device,
                                   refiner=ctx.refiner, interrupt=ctx.interrupt, concat=ctx.concat)
            except ValueError as exc:
                raise ValueError(str(exc).replace("positive", name, 1)) from exc

        self.cond1 = single(cond1, "cond1")
        self.cond2 = None if skip_middle else single(cond2, "cond2")
        self.negative = None if skip_negative else single(negative, "negative")

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        d1 = self.cond1(x, sigma)
        if self.cond2 is None:
            return d1
        d2 = self.cond2(x, sigma)
        if self.negative is None:
            return d2 + (d1 - d2) * self.cfg1
        dn = self.negative(x, sigma)
        if self.nested:
            return dn + (d2 + (d1 - d2) * self.cfg1 - dn) * self.cfg2
        return dn + (d2 - dn) * self.cfg2 + (d1 - d2) * self.cfg1


@dataclass(frozen=True)
class DualCFG:
    """A model with its three conditionings and two scales (the value of DualCFGGuider's GUIDER)."""

    model: DiffusionModel
    cond1: Conditioning
    cond2: Conditioning
    negative: Conditioning
    cfg_conds: float
    cfg_cond2_negative: float
    nested: bool = False

    def denoiser(self, ctx: GuidanceContext) -> DualCFGDenoiser:
        """The denoiser for one sampling run (see :class:`GuidanceContext`)."""
        return DualCFGDenoiser(ctx, self.cond1, self.cond2, self.negative, self.cfg_conds,
                               self.cfg_cond2_negative, nested=self.nested)

    def sample(self, sampler_name: str, sigmas: torch.Tensor, noise: torch.Tensor, latent_image: torch.Tensor,
               *, seed: int, noise_mask: torch.Tensor | None = None, progress: ProgressCallback | None = None,
               interrupt: Callable[[], None] | None = None) -> torch.Tensor:
        """Sample raw ``noise`` + raw ``latent_image`` along ``sigmas``; the raw latent on the CPU."""
        return run_sampler(self.model, model_sampling_for(self.model), sampler_name, sigmas, noise, latent_image,
                           self.cond1, self.negative, 1.0, seed, noise_mask=noise_mask, progress=progress,
                           interrupt=interrupt, guidance=self.denoiser)
