"""Where a conditioning entry applies on the latent, and with what weight (ComfyUI's semantics, our code).

* ``area`` (ConditioningSetArea, pixels) → latent cells by ``// 8``; ``area_percent``
  (ConditioningSetAreaPercentage) → cells by ``round(fraction · size)`` (at least one cell);
  an area is clipped to the latent and its inner edges are feathered over up to 8 cells (a quarter of the
  area's size at most);
* ``mask`` (ConditioningSetMask) is resized bilinearly to the latent, weighted by ``mask_strength`` and not
  feathered; with ``set_area_to_bounds`` ("mask bounds") the area becomes the bounding box of the mask
  cells above 0.5 (at least 8×8 cells), which is what lets a small masked region be sampled at a higher
  effective resolution;
* the weight is multiplied by ``strength`` (ConditioningSetAreaStrength / the area nodes).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from diffusion.types import ConditioningEntry

_FEATHER_CELLS = 8
_MIN_BOUNDS_CELLS = 8


@dataclass(frozen=True)
class Region:
    """An entry's area in latent cells ``(h, w, y, x)`` and its weight map ``[1 or B, 1, h, w]``."""

    area: tuple[int, int, int, int]
    mult: torch.Tensor


def _mask_on_latent(mask: torch.Tensor, latent_hw: tuple[int, int]) -> torch.Tensor:
    m = mask.float()
    if m.ndim == 2:
        m = m.unsqueeze(0)
    if tuple(m.shape[1:]) != latent_hw:
        m = F.interpolate(m.unsqueeze(1), size=latent_hw, mode="bilinear", align_corners=False).squeeze(1)
    return m


def _bounds_area(mask: torch.Tensor) -> tuple[int, int, int, int]:
    above = mask.abs().amax(dim=0) > 0.5
    if not bool(above.any()):
        # An all-zero mask contributes nothing: keep the evaluation as small as possible.
        return (_MIN_BOUNDS_CELLS, _MIN_BOUNDS_CELLS, 0, 0)
    ys, xs = torch.where(above)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())
    return (max(_MIN_BOUNDS_CELLS, y1 - y0 + 1), max(_MIN_BOUNDS_CELLS, x1 - x0 + 1), y0, x0)


def _requested_area(entry: ConditioningEntry, latent_hw: tuple[int, int], downscale: int
                    ) -> tuple[int, int, int, int] | None:
    lh, lw = latent_hw
    if entry.area_percent is not None:
        ph, pw, py, px = entry.area_percent
        return (max(1, round(ph * lh)), max(1, round(pw * lw)), round(py * lh), round(px * lw))
    if entry.area is not None:
        height, width, y, x = entry.area
        return (height // downscale, width // downscale, y // downscale, x // downscale)
    return None


def _feather(mult: torch.Tensor, area: tuple[int, int, int, int], latent_hw: tuple[int, int]) -> None:
    h, w, y, x = area
    for dim, (size, offset, full) in enumerate(((h, y, latent_hw[0]), (w, x, latent_hw[1]))):
        ramp_len = min(_FEATHER_CELLS, size // 4)
        for t in range(ramp_len):
            factor = (1.0 / ramp_len) * (t + 1)
            if offset != 0:
                mult.narrow(dim + 2, t, 1).mul_(factor)
            if size + offset < full:
                mult.narrow(dim + 2, size - 1 - t, 1).mul_(factor)


def resolve_region(entry: ConditioningEntry, latent_hw: tuple[int, int], downscale: int) -> Region:
    """The clipped area and the weight map of ``entry`` on a latent of ``latent_hw`` cells."""
    lh, lw = latent_hw
    mask = _mask_on_latent(entry.mask, latent_hw) if entry.mask is not None else None
    requested = _requested_area(entry, latent_hw, downscale)
    if mask is not None and entry.set_area_to_bounds:
        requested = _bounds_area(mask)
    if requested is None:
        area = (lh, lw, 0, 0)
    else:
        h, w, y0, x0 = requested
        area = (min(h, lh - y0), min(w, lw - x0), y0, x0)
        if area[0] <= 0 or area[1] <= 0:
            raise ValueError(
                f"conditioning area: expected an area overlapping the {lw * downscale}x{lh * downscale} image, "
                f"received (height, width, y, x) = {entry.area or entry.area_percent}"
            )
    h, w, y0, x0 = area
    if mask is not None:
        mult = (mask[:, y0:y0 + h, x0:x0 + w] * entry.mask_strength * entry.strength).unsqueeze(1)
        return Region(area, mult)
    mult = torch.full((1, 1, h, w), float(entry.strength))
    if requested is not None:
        _feather(mult, area, latent_hw)
    return Region(area, mult)
