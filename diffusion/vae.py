"""The VAE value: decode/encode between raw latents and IMAGE tensors, tiling when memory runs out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from diffusion.devices import empty_cache, is_out_of_memory

log = logging.getLogger(__name__)


def _no_free() -> None:
    return None


@dataclass(frozen=True, eq=False)
class Vae:
    """Implements :class:`diffusion.types.VaeModel` around a diffusers ``AutoencoderKL``."""

    #: The diffusers ``AutoencoderKL`` (typed as a Module: diffusers is untyped).
    module: torch.nn.Module
    latent_channels: int
    downscale_factor: int = 8
    #: Scaling factor of the latent space (kept for nodes that need it; LATENT stays unscaled).
    scaling_factor: float = 0.18215
    #: Called before the tiled retry to unload other models (set by the model cache).
    free_memory: Callable[[], None] = _no_free
    source: str = ""

    @property
    def _vae(self) -> Any:
        return self.module

    @property
    def device(self) -> torch.device:
        """Device of the VAE weights."""
        return next(self.module.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """dtype of the VAE weights."""
        return next(self.module.parameters()).dtype

    def _with_tiling_fallback(
        self, whole: Callable[[], torch.Tensor], tiled: Callable[[], torch.Tensor]
    ) -> torch.Tensor:
        try:
            return whole()
        except Exception as exc:  # only out-of-memory is handled; the rest propagates unchanged
            if not is_out_of_memory(exc):
                raise
        log.warning("VAE ran out of memory; freeing models and retrying with tiles")
        self.free_memory()
        empty_cache()
        return tiled()

    @torch.no_grad()
    def decode(self, samples: torch.Tensor) -> torch.Tensor:
        """Raw latent ``[B, C, h, w]`` -> IMAGE ``[B, 8h, 8w, 3]`` float32 in 0..1 on CPU."""
        if samples.ndim != 4 or samples.shape[1] != self.latent_channels:
            raise ValueError(
                f"VAE decode expects a latent [B, {self.latent_channels}, h, w], received {list(samples.shape)}"
            )
        z = samples.to(self.device, self.dtype)
        pixels = self._with_tiling_fallback(
            lambda: self._vae.decode(z).sample, lambda: self._vae.tiled_decode(z).sample
        )
        return ((pixels.float() + 1.0) / 2.0).clamp(0.0, 1.0).movedim(1, -1).cpu()

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """IMAGE ``[B, H, W, C]`` in 0..1 -> raw latent ``[B, C, H/8, W/8]`` (posterior mean), float32 CPU."""
        if images.ndim != 4 or images.shape[-1] < 3:
            raise ValueError(f"VAE encode expects an IMAGE [B, H, W, 3], received {list(images.shape)}")
        x = (images[..., :3].movedim(-1, 1).to(self.device, self.dtype) * 2.0) - 1.0
        latent = self._with_tiling_fallback(
            lambda: self._vae.encode(x).latent_dist.mean, lambda: self._vae.tiled_encode(x).latent_dist.mean
        )
        return latent.float().cpu()
