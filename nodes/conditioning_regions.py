"""Conditioning by region, strength, mask, time and mix: ConditioningSetAreaPercentage,
ConditioningSetAreaStrength, ConditioningSetMask, ConditioningSetTimestepRange, ConditioningAverage
(ComfyUI's names, inputs, defaults and limits; where they apply is resolved when sampling, see
``diffusion/sampling/cond_regions.py``)."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

import torch

from graph.spec import Outputs, node
from graph.widgets import Range
from nodes.sockets import CONDITIONING, MASK

log = logging.getLogger(__name__)

Fraction = Annotated[float, Range(0.0, 1.0, step=0.01)]
Strength = Annotated[float, Range(0.0, 10.0, step=0.01)]
Percent = Annotated[float, Range(0.0, 1.0, step=0.001)]


class ConditioningOutputs(Outputs):
    conditioning: CONDITIONING


@node("ConditioningSetAreaPercentage", category="conditioning")
def conditioning_set_area_percentage(
    conditioning: CONDITIONING,
    width: Fraction = 1.0,
    height: Fraction = 1.0,
    x: Fraction = 0.0,
    y: Fraction = 0.0,
    strength: Strength = 1.0,
) -> ConditioningOutputs:
    """Restrict each entry to a rectangle given as fractions of the image (resolved on the latent when sampling)."""
    area = (height, width, y, x)
    return ConditioningOutputs([e.with_changes(area_percent=area, area=None, strength=strength,
                                               set_area_to_bounds=False) for e in conditioning])


@node("ConditioningSetAreaStrength", category="conditioning")
def conditioning_set_area_strength(conditioning: CONDITIONING, strength: Strength = 1.0) -> ConditioningOutputs:
    """Set the weight of each entry where it overlaps others."""
    return ConditioningOutputs([e.with_changes(strength=strength) for e in conditioning])


@node("ConditioningSetMask", category="conditioning")
def conditioning_set_mask(
    conditioning: CONDITIONING,
    mask: MASK,
    strength: Strength = 1.0,
    set_cond_area: Literal["default", "mask bounds"] = "default",
) -> ConditioningOutputs:
    """Weight each entry by a mask; "mask bounds" evaluates it on the mask's bounding box only."""
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3):
        got = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"ConditioningSetMask: input 'mask' expected a MASK [B, H, W] or [H, W], received {got}")
    m = mask.float().unsqueeze(0) if mask.ndim == 2 else mask.float()
    bounds = set_cond_area != "default"
    return ConditioningOutputs([e.with_changes(mask=m, mask_strength=strength, set_area_to_bounds=bounds)
                                for e in conditioning])


@node("ConditioningSetTimestepRange", category="advanced/conditioning")
def conditioning_set_timestep_range(conditioning: CONDITIONING, start: Percent = 0.0,
                                    end: Percent = 1.0) -> ConditioningOutputs:
    """Use each entry only between start and end (fractions of the sampling process, 0 = first step)."""
    return ConditioningOutputs([e.with_changes(timestep_range=(start, end)) for e in conditioning])


@node("ConditioningAverage", category="conditioning")
def conditioning_average(
    conditioning_to: CONDITIONING,
    conditioning_from: CONDITIONING,
    conditioning_to_strength: Fraction = 1.0,
) -> ConditioningOutputs:
    """Blend the text embeddings (and pooled outputs) of each ``to`` entry with the first ``from`` entry."""
    if not conditioning_from:
        raise ValueError("ConditioningAverage: input 'conditioning_from' expected at least one entry, received none")
    if len(conditioning_from) > 1:
        log.warning("ConditioningAverage: conditioning_from has %d entries; only the first is used",
                    len(conditioning_from))  # fmt: skip
    source = conditioning_from[0]
    w = conditioning_to_strength
    out = []
    for entry in conditioning_to:
        target = entry.cross_attn
        if source.cross_attn.shape[-1] != target.shape[-1]:
            raise ValueError(f"ConditioningAverage: input 'conditioning_from' expected width {target.shape[-1]}, "
                             f"received {source.cross_attn.shape[-1]}")
        # The source is cut or zero-padded to the target's token count.
        mixed_from = source.cross_attn[:, :target.shape[1]].to(target)
        if mixed_from.shape[1] < target.shape[1]:
            pad = torch.zeros(mixed_from.shape[0], target.shape[1] - mixed_from.shape[1], target.shape[2])
            mixed_from = torch.cat([mixed_from, pad.to(target)], dim=1)
        pooled_to = entry.pooled_output if entry.pooled_output is not None else source.pooled_output
        pooled = pooled_to
        if source.pooled_output is not None and pooled_to is not None:
            pooled = pooled_to * w + source.pooled_output.to(pooled_to) * (1.0 - w)
        out.append(entry.with_changes(cross_attn=target * w + mixed_from * (1.0 - w), pooled_output=pooled))
    return ConditioningOutputs(out)
