"""Mask nodes with ComfyUI's names, inputs, defaults and outputs: convert, create, invert, crop, combine,
grow, feather and threshold. MASK values are float [B, H, W] in 0..1."""

from __future__ import annotations

from typing import Annotated, Literal

import torch

from graph.spec import Outputs, node
from graph.widgets import MAX_RESOLUTION, Allocates, Range
from imaging.batching import as_image_batch, as_mask_batch
from imaging.masks import feather, grow
from nodes.sockets import IMAGE, MASK

Offset = Annotated[int, Range(0, MAX_RESOLUTION, step=1)]
Side = Annotated[int, Range(1, MAX_RESOLUTION, step=1)]
Unit = Annotated[float, Range(0.0, 1.0, step=0.01)]
CATEGORY = "image/mask"


class MaskResult(Outputs):
    mask: MASK


class ImageResult(Outputs):
    image: IMAGE


@node("MaskToImage", category=CATEGORY, display_name="Convert Mask to Image")
def mask_to_image(mask: MASK) -> ImageResult:
    """A grey RGB image of the mask (each channel = the mask)."""
    masks = as_mask_batch("MaskToImage", mask)
    return ImageResult(masks.unsqueeze(-1).expand(-1, -1, -1, 3).contiguous())


@node("ImageToMask", category=CATEGORY, display_name="Convert Image to Mask")
def image_to_mask(image: IMAGE, channel: Literal["red", "green", "blue", "alpha"]) -> MaskResult:
    """One channel of the image as a mask (alpha needs an RGBA image)."""
    images = as_image_batch("ImageToMask", image)
    index = ("red", "green", "blue", "alpha").index(channel)
    if index >= images.shape[-1]:
        raise ValueError(f"ImageToMask: channel {channel!r} needs an image with {index + 1} channels, "
                         f"received {images.shape[-1]}")
    return MaskResult(images[..., index].clone())


@node("SolidMask", category=CATEGORY, display_name="Create Solid Mask")
def solid_mask(value: Unit = 1.0, width: Annotated[Side, Allocates("width")] = 512,
               height: Annotated[Side, Allocates("height")] = 512) -> MaskResult:
    """A mask of one value everywhere: [1, height, width]."""
    return MaskResult(torch.full((1, height, width), value, dtype=torch.float32))


@node("InvertMask", category=CATEGORY, display_name="Invert Mask")
def invert_mask(mask: MASK) -> MaskResult:
    """1 − mask."""
    return MaskResult(1.0 - as_mask_batch("InvertMask", mask))


@node("CropMask", category=CATEGORY, display_name="Crop Mask")
def crop_mask(mask: MASK, x: Offset = 0, y: Offset = 0, width: Side = 512, height: Side = 512) -> MaskResult:
    """The width×height region at (x, y) (cut short at the mask's edges)."""
    masks = as_mask_batch("CropMask", mask)
    return MaskResult(masks[:, y : y + height, x : x + width].clone())


MaskOperation = Literal["multiply", "add", "subtract", "and", "or", "xor"]


@node("MaskComposite", category=CATEGORY, display_name="Combine Masks")
def mask_composite(
    destination: MASK, source: MASK, x: Offset = 0, y: Offset = 0, operation: MaskOperation = "multiply"
) -> MaskResult:
    """Combine `source` into `destination` at (x, y); the result is clamped to 0..1.

    and/or/xor round both masks to 0/1 first.
    """
    out = as_mask_batch("MaskComposite", destination, "destination").clone()
    src = as_mask_batch("MaskComposite", source, "source").to(out.device)
    if src.shape[0] not in (1, out.shape[0]):
        raise ValueError(f"MaskComposite: source has {src.shape[0]} masks and destination {out.shape[0]}; "
                         "expected the same number or one")
    right, bottom = min(x + src.shape[-1], out.shape[-1]), min(y + src.shape[-2], out.shape[-2])
    if right <= x or bottom <= y:
        return MaskResult(out.clamp(0.0, 1.0))
    below = out[:, y:bottom, x:right]
    above = src[:, : bottom - y, : right - x]
    if operation == "multiply":
        combined = below * above
    elif operation == "add":
        combined = below + above
    elif operation == "subtract":
        combined = below - above
    else:
        logic = {"and": torch.logical_and, "or": torch.logical_or, "xor": torch.logical_xor}[operation]
        combined = logic(below.round().bool(), above.round().bool()).float()
    out[:, y:bottom, x:right] = combined
    return MaskResult(out.clamp(0.0, 1.0))


@node("FeatherMask", category=CATEGORY, display_name="Feather Mask")
def feather_mask(mask: MASK, left: Offset = 0, top: Offset = 0, right: Offset = 0, bottom: Offset = 0) -> MaskResult:
    """Fade the mask linearly towards each edge over the given number of pixels."""
    return MaskResult(feather(as_mask_batch("FeatherMask", mask), left, top, right, bottom))


@node("GrowMask", category=CATEGORY, display_name="Grow Mask")
def grow_mask(
    mask: MASK,
    expand: Annotated[int, Range(-MAX_RESOLUTION, MAX_RESOLUTION, step=1)] = 0,
    tapered_corners: bool = True,
) -> MaskResult:
    """Grow (positive `expand`) or shrink (negative) the mask by that many pixels."""
    return MaskResult(grow(as_mask_batch("GrowMask", mask), expand, tapered_corners))


@node("ThresholdMask", category=CATEGORY, display_name="Threshold Mask")
def threshold_mask(mask: MASK, value: Unit = 0.5) -> MaskResult:
    """1 where the mask is above `value`, else 0."""
    return MaskResult((as_mask_batch("ThresholdMask", mask) > value).float())
