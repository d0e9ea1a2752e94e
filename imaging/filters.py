"""Pixel filters of ComfyUI's post-processing nodes: Gaussian blur, unsharp sharpening and blend modes.

The Gaussian kernel is ComfyUI's: sampled on a [-1, 1] grid of `size` points (not in pixel units), so `sigma` is
relative to the radius. Edges are reflected before filtering. Images are [B, H, W, C] in 0..1.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

BlendMode = Literal["normal", "multiply", "screen", "overlay", "soft_light", "difference"]


def gaussian_kernel(size: int, sigma: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A normalised size x size Gaussian over the grid linspace(-1, 1, size)² (ComfyUI's kernel)."""
    axis = torch.linspace(-1.0, 1.0, size)
    rows, cols = torch.meshgrid(axis, axis, indexing="ij")
    weights = torch.exp(-(rows * rows + cols * cols) / (2.0 * sigma * sigma))
    return (weights / weights.sum()).to(dtype)


def _filter(images: torch.Tensor, kernel: torch.Tensor, radius: int) -> torch.Tensor:
    """Depthwise-convolve [B, H, W, C] with a (2r+1)² kernel after reflecting r pixels at every edge."""
    channels = images.shape[-1]
    weight = kernel.to(images.device, images.dtype).repeat(channels, 1, 1).unsqueeze(1)
    padded = F.pad(images.movedim(-1, 1), (radius, radius, radius, radius), mode="reflect")
    return F.conv2d(padded, weight, groups=channels).movedim(1, -1)


def blur(images: torch.Tensor, radius: int, sigma: float) -> torch.Tensor:
    """ImageBlur: Gaussian blur with a (2·radius+1)² kernel."""
    return _filter(images, gaussian_kernel(2 * radius + 1, sigma, images.dtype), radius)


def sharpen(images: torch.Tensor, radius: int, sigma: float, alpha: float) -> torch.Tensor:
    """ImageSharpen: convolve with δ·(1 + 10α) − 10α·G (the kernel sums to 1), clamped to 0..1."""
    kernel = gaussian_kernel(2 * radius + 1, sigma, images.dtype) * -(alpha * 10)
    kernel[radius, radius] = kernel[radius, radius] - kernel.sum() + 1.0
    return _filter(images, kernel, radius).clamp(0.0, 1.0)


def _soft_light_curve(x: torch.Tensor) -> torch.Tensor:
    # The W3C compositing spec's D(x) for soft-light.
    return torch.where(x <= 0.25, ((16 * x - 12) * x + 4) * x, torch.sqrt(x))


def blend_layers(base: torch.Tensor, layer: torch.Tensor, mode: BlendMode) -> torch.Tensor:
    """The blend mode's result of `layer` over `base` (before mixing by the blend factor)."""
    if mode == "normal":
        return layer
    if mode == "multiply":
        return base * layer
    if mode == "screen":
        return 1 - (1 - base) * (1 - layer)
    if mode == "overlay":
        return torch.where(base <= 0.5, 2 * base * layer, 1 - 2 * (1 - base) * (1 - layer))
    if mode == "soft_light":
        darker = base - (1 - 2 * layer) * base * (1 - base)
        lighter = base + (2 * layer - 1) * (_soft_light_curve(base) - base)
        return torch.where(layer <= 0.5, darker, lighter)
    if mode == "difference":
        return base - layer
    raise ValueError(f"unknown blend mode {mode!r}")
