"""Cheap step previews: latent → RGB by a fixed linear map (no VAE), as a small PIL image.

The factors are the widely used least-squares fits of VAE-decoded colour against the 4 latent channels
(in the model's scaled latent space) for the SD1.x/SD2.x and SDXL VAEs.
"""

from __future__ import annotations

import torch
from PIL import Image

from diffusion.types import Family

_SD15_FACTORS = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)
_SD15_BIAS = (0.0, 0.0, 0.0)
_SDXL_FACTORS = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.2188),
)
_SDXL_BIAS = (0.1084, -0.0175, -0.0011)


def latent_rgb_factors(family: Family) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``[4, 3]`` factor matrix and ``[3]`` bias for a model family."""
    if family in ("sdxl", "sdxl_refiner"):
        return torch.tensor(_SDXL_FACTORS), torch.tensor(_SDXL_BIAS)
    return torch.tensor(_SD15_FACTORS), torch.tensor(_SD15_BIAS)


def latent_to_rgb(latent: torch.Tensor, family: Family = "sd1") -> torch.Tensor:
    """One scaled latent ``[C, h, w]`` (or the first of a batch) → uint8 ``[h, w, 3]`` on the CPU."""
    if latent.ndim == 4:
        latent = latent[0]
    if latent.ndim != 3 or latent.shape[0] != 4:
        raise ValueError(f"preview: expected a latent [4, h, w], received {tuple(latent.shape)}")
    factors, bias = latent_rgb_factors(family)
    rgb = torch.einsum("chw,cr->hwr", latent.detach().float().cpu(), factors) + bias
    return (((rgb + 1.0) / 2.0).clamp(0, 1) * 255).round().to(torch.uint8)


def preview_image(latent: torch.Tensor, family: Family = "sd1", max_size: int = 512) -> Image.Image:
    """A PIL preview of a scaled latent, upscaled ×8 (nearest) and capped at ``max_size`` per side."""
    rgb = latent_to_rgb(latent, family)
    image = Image.fromarray(rgb.numpy(), mode="RGB")
    h, w = rgb.shape[0], rgb.shape[1]
    scale = min(8.0, max_size / max(h, w))
    size = (max(1, int(w * scale)), max(1, int(h * scale)))
    return image.resize(size, Image.Resampling.NEAREST) if size != (w, h) else image
