"""Latent resizing: ComfyUI's methods, including "bislerp" (bilinear weights, spherical interpolation)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

LATENT_UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "bislerp")


def _slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of the channel vectors (dim 1), magnitudes interpolated linearly."""
    norm_a = a.norm(dim=1, keepdim=True)
    norm_b = b.norm(dim=1, keepdim=True)
    unit_a = a / norm_a.clamp_min(1e-12)
    unit_b = b / norm_b.clamp_min(1e-12)
    dot = (unit_a * unit_b).sum(dim=1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(dot)
    sin_omega = torch.sin(omega)
    safe = sin_omega.abs() > 1e-6
    wa = torch.where(safe, torch.sin((1 - t) * omega) / sin_omega.clamp_min(1e-6), 1 - t)
    wb = torch.where(safe, torch.sin(t * omega) / sin_omega.clamp_min(1e-6), t)
    direction: torch.Tensor = wa * unit_a + wb * unit_b
    result: torch.Tensor = direction * (norm_a + (norm_b - norm_a) * t)
    return result


def _axis(size_in: int, size_out: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source indices (low, high) and fractions for resizing one axis (half-pixel centres)."""
    pos = ((torch.arange(size_out, dtype=torch.float32) + 0.5) * size_in / size_out - 0.5).clamp(0, size_in - 1)
    low = pos.floor().long()
    high = (low + 1).clamp(max=size_in - 1)
    return low, high, pos - low


def bislerp(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Resize ``[B, C, H, W]`` keeping latent vectors' norms: slerp along x, then along y."""
    x = samples.float()
    lo, hi, frac = _axis(x.shape[3], width)
    x = _slerp(x[:, :, :, lo], x[:, :, :, hi], frac.view(1, 1, 1, -1))
    lo, hi, frac = _axis(x.shape[2], height)
    x = _slerp(x[:, :, lo, :], x[:, :, hi, :], frac.view(1, 1, -1, 1))
    return x.to(samples.dtype)


def upscale_latent(samples: torch.Tensor, width: int, height: int, method: str, crop: str = "disabled"
                   ) -> torch.Tensor:
    """Resize latent samples to ``width``×``height`` cells by ComfyUI method name, optionally centre-cropped."""
    if method not in LATENT_UPSCALE_METHODS:
        raise ValueError(f"upscale_method: expected one of {list(LATENT_UPSCALE_METHODS)}, received {method!r}")
    if crop == "center":
        samples = center_crop(samples, width, height)
    if method == "bislerp":
        return bislerp(samples, width, height)
    return resize(samples, width, height, method)


def center_crop(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Crop ``[B, C, H, W]`` around the centre to the aspect ratio of width×height."""
    old_w, old_h = samples.shape[3], samples.shape[2]
    old_aspect, new_aspect = old_w / old_h, width / height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((old_w - old_w * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((old_h - old_h * (old_aspect / new_aspect)) / 2)
    return samples[:, :, y:old_h - y, x:old_w - x]


def resize(samples: torch.Tensor, width: int, height: int, method: str) -> torch.Tensor:
    """``F.interpolate`` by ComfyUI method name (nearest-exact, bilinear, area, bicubic)."""
    if method in ("nearest-exact", "area"):
        return F.interpolate(samples, size=(height, width), mode=method)
    if method in ("bilinear", "bicubic"):
        return F.interpolate(samples, size=(height, width), mode=method, align_corners=False)
    raise ValueError(f"upscale_method: expected nearest-exact, bilinear, area or bicubic, received {method!r}")
