"""Latent arithmetic, compositing and transform nodes with ComfyUI's names, inputs, defaults and outputs.

A LATENT is {"samples": [B, C, h, w], "noise_mask"?, "batch_index"?}; every node returns a new dict that keeps
the other keys of its first input, as ComfyUI does.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch

from diffusion.sampling.latent_ops import upscale_latent
from graph.sockets import Socket
from graph.spec import Outputs, node
from graph.widgets import MAX_RESOLUTION, OptionalInput, Range
from imaging.batching import as_latent_samples, as_mask_batch, repeat_to_batch
from imaging.composite import composite
from nodes.sockets import LATENT, LatentDict

Offset8 = Annotated[int, Range(0, MAX_RESOLUTION, step=8)]
ADVANCED = "latent/advanced"


class LatentResult(Outputs):
    latent: LATENT


def _with_samples(latent: LatentDict, samples: torch.Tensor) -> LatentResult:
    out = dict(latent)
    out["samples"] = samples
    return LatentResult(out)


def same_channels(node_id: str, first: torch.Tensor, second: torch.Tensor) -> None:
    """Refuse two latents of different channel counts (different model families) with a clear message."""
    if first.shape[1] != second.shape[1]:
        raise ValueError(f"{node_id}: the latents have {first.shape[1]} and {second.shape[1]} channels "
                         "(from different model families?)")


def resized_like(target: torch.Tensor, other: torch.Tensor, node_id: str, repeat_batch: bool = True) -> torch.Tensor:
    """`other` resized (bilinear, centre crop) to `target`'s cells and, by default, cycled to its batch."""
    same_channels(node_id, target, other)
    if other.shape[2:] != target.shape[2:]:
        other = upscale_latent(other, target.shape[3], target.shape[2], "bilinear", "center")
    return repeat_to_batch(other, target.shape[0]) if repeat_batch else other


@node("LatentAdd", category=ADVANCED)
def latent_add(samples1: LATENT, samples2: LATENT) -> LatentResult:
    """samples1 + samples2 (the second resized and cycled to the first)."""
    first = as_latent_samples("LatentAdd", samples1, "samples1")
    second = resized_like(first, as_latent_samples("LatentAdd", samples2, "samples2"), "LatentAdd")
    return _with_samples(samples1, first + second)


@node("LatentSubtract", category=ADVANCED)
def latent_subtract(samples1: LATENT, samples2: LATENT) -> LatentResult:
    """samples1 − samples2 (the second resized and cycled to the first)."""
    first = as_latent_samples("LatentSubtract", samples1, "samples1")
    second = resized_like(first, as_latent_samples("LatentSubtract", samples2, "samples2"), "LatentSubtract")
    return _with_samples(samples1, first - second)


@node("LatentMultiply", category=ADVANCED)
def latent_multiply(
    samples: LATENT, multiplier: Annotated[float, Range(-10.0, 10.0, step=0.01)] = 1.0
) -> LatentResult:
    """samples · multiplier."""
    return _with_samples(samples, as_latent_samples("LatentMultiply", samples) * multiplier)


@node("LatentInterpolate", category=ADVANCED)
def latent_interpolate(
    samples1: LATENT, samples2: LATENT, ratio: Annotated[float, Range(0.0, 1.0, step=0.01)] = 1.0
) -> LatentResult:
    """Per-cell interpolation of direction and length separately (ratio 1 = samples1).

    The channel vectors are normalised, mixed and renormalised, then scaled by the mixed lengths, so halfway
    between two latents of equal norm keeps that norm (a plain lerp would shrink it).
    """
    first = as_latent_samples("LatentInterpolate", samples1, "samples1")
    second = resized_like(first, as_latent_samples("LatentInterpolate", samples2, "samples2"), "LatentInterpolate")
    norm1 = torch.linalg.vector_norm(first, dim=1, keepdim=True)
    norm2 = torch.linalg.vector_norm(second, dim=1, keepdim=True)
    mixed = torch.nan_to_num(first / norm1) * ratio + torch.nan_to_num(second / norm2) * (1.0 - ratio)
    direction = torch.nan_to_num(mixed / torch.linalg.vector_norm(mixed, dim=1, keepdim=True))
    return _with_samples(samples1, direction * (norm1 * ratio + norm2 * (1.0 - ratio)))


@node("LatentBatch", category="latent/batch", display_name="Batch Latents", deprecated=True)
def latent_batch(samples1: LATENT, samples2: LATENT) -> LatentResult:
    """samples1 followed by samples2 (resized to the first); batch indices are concatenated."""
    first = as_latent_samples("LatentBatch", samples1, "samples1")
    second = resized_like(first, as_latent_samples("LatentBatch", samples2, "samples2"), "LatentBatch",
                          repeat_batch=False)
    out = dict(samples1)
    out["samples"] = torch.cat((first, second), dim=0)
    out["batch_index"] = list(samples1.get("batch_index", range(first.shape[0]))) + list(
        samples2.get("batch_index", range(second.shape[0]))
    )
    return LatentResult(out)


@node("LatentBatchSeedBehavior", category=ADVANCED)
def latent_batch_seed_behavior(samples: LATENT, seed_behavior: Literal["random", "fixed"] = "fixed") -> LatentResult:
    """fixed: every item gets the first item's noise; random: each its own (the batch index is dropped)."""
    latent = as_latent_samples("LatentBatchSeedBehavior", samples)
    out = dict(samples)
    if seed_behavior == "random":
        out.pop("batch_index", None)
    else:
        first = next(iter(out.get("batch_index", [0])))
        out["batch_index"] = [first] * latent.shape[0]
    return LatentResult(out)


@node("LatentComposite", category="latent", display_name="Latent Composite")
def latent_composite(
    samples_to: LATENT, samples_from: LATENT, x: Offset8 = 0, y: Offset8 = 0, feather: Offset8 = 0
) -> LatentResult:
    """Paste samples_from into samples_to at pixel offset (x, y); `feather` pixels fade in at inner edges."""
    target = as_latent_samples("LatentComposite", samples_to, "samples_to")
    source = as_latent_samples("LatentComposite", samples_from, "samples_from")
    same_channels("LatentComposite", target, source)
    left, top, fade = x // 8, y // 8, feather // 8
    out = target.clone()
    source = source[:, :, : max(0, target.shape[2] - top), : max(0, target.shape[3] - left)]
    if source.shape[2] == 0 or source.shape[3] == 0:
        return _with_samples(samples_to, out)
    if source.shape[0] not in (1, target.shape[0]):
        raise ValueError(f"LatentComposite: samples_from has {source.shape[0]} latents and samples_to "
                         f"{target.shape[0]}; expected the same number or one")
    height, width = source.shape[2], source.shape[3]
    weights = torch.ones_like(source)
    for step in range(fade):  # edges that lie inside the target fade in over `fade` cells
        factor = (step + 1) / fade
        if top != 0:
            weights[:, :, step, :] *= factor
        if top + height < target.shape[2]:
            weights[:, :, height - 1 - step, :] *= factor
        if left != 0:
            weights[:, :, :, step] *= factor
        if left + width < target.shape[3]:
            weights[:, :, :, width - 1 - step] *= factor
    region = out[:, :, top : top + height, left : left + width]
    out[:, :, top : top + height, left : left + width] = source * weights + region * (1 - weights)
    return _with_samples(samples_to, out)


@node("LatentCompositeMasked", category="latent", display_name="Latent Composite Masked")
def latent_composite_masked(
    destination: LATENT,
    source: LATENT,
    x: Offset8 = 0,
    y: Offset8 = 0,
    resize_source: bool = False,
    mask: Annotated[torch.Tensor | None, Socket("MASK"), OptionalInput()] = None,
) -> LatentResult:
    """Paste `source` at pixel offset (x, y) through `mask` (resized to the source); 1 in the mask = source."""
    target = as_latent_samples("LatentCompositeMasked", destination, "destination")
    pasted = as_latent_samples("LatentCompositeMasked", source, "source")
    same_channels("LatentCompositeMasked", target, pasted)
    weights = None if mask is None else as_mask_batch("LatentCompositeMasked", mask)
    return _with_samples(destination, composite(target, pasted, x, y, weights, 8, resize_source))


@node("LatentBlend", category="_for_testing", display_name="Latent Blend")
def latent_blend(
    samples1: LATENT, samples2: LATENT, blend_factor: Annotated[float, Range(0, 1, step=0.01)] = 0.5
) -> LatentResult:
    """samples1·f + samples2·(1 − f); samples2 is resized (bicubic, centre crop) to samples1's cells."""
    first = as_latent_samples("LatentBlend", samples1, "samples1")
    second = as_latent_samples("LatentBlend", samples2, "samples2")
    same_channels("LatentBlend", first, second)
    if second.shape[1:] != first.shape[1:]:
        second = upscale_latent(second, first.shape[3], first.shape[2], "bicubic", "center")
    if second.shape[:2] != first.shape[:2] and second.shape[0] != 1:
        raise ValueError(f"LatentBlend: samples2 is {list(second.shape)} and samples1 {list(first.shape)}; "
                         "expected the same batch and channels")
    return _with_samples(samples1, first * blend_factor + second * (1 - blend_factor))


@node("LatentRotate", category="latent/transform", display_name="Rotate Latent")
def latent_rotate(samples: LATENT, rotation: Literal["none", "90 degrees", "180 degrees", "270 degrees"]
                  ) -> LatentResult:
    """Rotate clockwise by a multiple of 90 degrees."""
    turns = {"none": 0, "90 degrees": 1, "180 degrees": 2, "270 degrees": 3}[rotation]
    return _with_samples(samples, torch.rot90(as_latent_samples("LatentRotate", samples), k=turns, dims=[3, 2]))


@node("LatentFlip", category="latent/transform", display_name="Flip Latent")
def latent_flip(samples: LATENT, flip_method: Literal["x-axis: vertically", "y-axis: horizontally"]) -> LatentResult:
    """Mirror top-bottom (x-axis) or left-right (y-axis)."""
    latent = as_latent_samples("LatentFlip", samples)
    return _with_samples(samples, torch.flip(latent, dims=[2] if flip_method.startswith("x") else [3]))


@node("LatentCrop", category="latent/transform", display_name="Crop Latent")
def latent_crop(
    samples: LATENT,
    width: Annotated[int, Range(64, MAX_RESOLUTION, step=8)] = 512,
    height: Annotated[int, Range(64, MAX_RESOLUTION, step=8)] = 512,
    x: Offset8 = 0,
    y: Offset8 = 0,
) -> LatentResult:
    """The width×height pixel region at (x, y); x and y stop 64 pixels before the far edges."""
    latent = as_latent_samples("LatentCrop", samples)
    left, top = min(x // 8, latent.shape[3] - 8), min(y // 8, latent.shape[2] - 8)
    left, top = max(left, 0), max(top, 0)
    return _with_samples(samples, latent[:, :, top : top + height // 8, left : left + width // 8])
