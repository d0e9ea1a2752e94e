"""Mask morphology and edge fading for the mask nodes (GrowMask, FeatherMask). Masks are [B, H, W] in 0..1."""

from __future__ import annotations

import numpy as np
import scipy.ndimage
import torch


def grow(masks: torch.Tensor, expand: int, tapered_corners: bool) -> torch.Tensor:
    """Grey dilation (expand > 0) or erosion (< 0), |expand| times with a 3x3 cross or square footprint.

    The cross ("tapered corners") grows diamonds, the square grows squares, as ComfyUI's GrowMask does with
    scipy's grey morphology (edges treated as `reflect`).
    """
    corner = 0 if tapered_corners else 1
    footprint = np.array([[corner, 1, corner], [1, 1, 1], [corner, 1, corner]], dtype=bool)
    operation = scipy.ndimage.grey_dilation if expand > 0 else scipy.ndimage.grey_erosion
    out = []
    for mask in masks.detach().to("cpu", torch.float32).numpy():
        for _ in range(abs(expand)):
            mask = operation(mask, footprint=footprint)
        out.append(torch.from_numpy(np.ascontiguousarray(mask)))
    return torch.stack(out).to(masks.device)


def _ramp(size: int, length: int) -> torch.Tensor:
    """Per-position factors for fading `length` pixels in from the start of an axis of `size` pixels."""
    factors = torch.ones(size)
    if length > 0:
        factors[:length] = torch.arange(1, length + 1, dtype=torch.float32) / length
    return factors


def feather(masks: torch.Tensor, left: int, top: int, right: int, bottom: int) -> torch.Tensor:
    """Fade each edge linearly over its width: the outermost pixel keeps 1/n of its value, the n-th all of it.

    Overlapping fades multiply (a narrow mask fed wide fades gets both).
    """
    height, width = masks.shape[-2], masks.shape[-1]
    left, right, top, bottom = min(left, width), min(right, width), min(top, height), min(bottom, height)
    columns = _ramp(width, left) * _ramp(width, right).flip(0)
    rows = _ramp(height, top) * _ramp(height, bottom).flip(0)
    return masks * (rows[:, None] * columns[None, :]).to(masks.device, masks.dtype)
