"""Pasting one batch into another at an offset, through an optional mask (ComfyUI's compositing semantics).

Used by ImageCompositeMasked (pixels, `multiplier` 1) and LatentCompositeMasked (latents, offsets given in
pixels and divided by 8). Tensors are channels-first [B, C, H, W].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from imaging.batching import repeat_to_batch


def composite(
    destination: torch.Tensor,
    source: torch.Tensor,
    x: int,
    y: int,
    mask: torch.Tensor | None = None,
    multiplier: int = 1,
    resize_source: bool = False,
) -> torch.Tensor:
    """`destination` with `source` pasted at pixel offset (x, y), blended by `mask` (1 = source).

    The source is cycled to the destination's batch; a mask is resized (bilinear) to the source's size and
    cycled to its batch. Parts of the source that fall outside the destination are dropped.
    """
    out = destination.clone()
    source = source.to(out.device, out.dtype)
    if resize_source:
        source = F.interpolate(source, size=out.shape[-2:], mode="bilinear")
    source = repeat_to_batch(source, out.shape[0])
    x = max(-source.shape[-1] * multiplier, min(x, out.shape[-1] * multiplier))
    y = max(-source.shape[-2] * multiplier, min(y, out.shape[-2] * multiplier))
    left, top = x // multiplier, y // multiplier
    right, bottom = left + source.shape[-1], top + source.shape[-2]
    if mask is None:
        weights = torch.ones_like(source)
    else:
        weights = mask.to(out.device, out.dtype).reshape(-1, 1, mask.shape[-2], mask.shape[-1])
        weights = F.interpolate(weights, size=source.shape[-2:], mode="bilinear")
        weights = repeat_to_batch(weights, source.shape[0])
    visible_width = out.shape[-1] - left + min(0, x)
    visible_height = out.shape[-2] - top + min(0, y)
    if visible_width <= 0 or visible_height <= 0:
        return out
    weights = weights[..., :visible_height, :visible_width]
    pasted = weights * source[..., :visible_height, :visible_width]
    kept = (1.0 - weights) * out[..., top:bottom, left:right]
    out[..., top:bottom, left:right] = pasted + kept
    return out
