"""Image filter and compositing nodes with ComfyUI's names, inputs, defaults and outputs: blend, blur, sharpen
and masked compositing. IMAGE is float [B, H, W, C] in 0..1."""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F

from graph.sockets import Socket
from graph.spec import Outputs, node
from graph.widgets import MAX_RESOLUTION, OptionalInput, Range
from imaging.batching import as_image_batch, as_mask_batch, match_alpha
from imaging.composite import composite
from imaging.filters import BlendMode, blend_layers, blur, sharpen
from imaging.resize import center_crop_to_aspect
from nodes.sockets import IMAGE

Radius = Annotated[int, Range(1, 31, step=1)]
Offset = Annotated[int, Range(0, MAX_RESOLUTION, step=1)]


class ImageResult(Outputs):
    image: IMAGE


@node("ImageBlend", category="image/filters", display_name="Blend Images")
def image_blend(
    image1: IMAGE,
    image2: IMAGE,
    blend_factor: Annotated[float, Range(0.0, 1.0, step=0.01)] = 0.5,
    blend_mode: BlendMode = "normal",
) -> ImageResult:
    """image1·(1 − f) + mode(image1, image2)·f, clamped; image2 is resized (bicubic, centre crop) to image1."""
    base, layer = match_alpha(as_image_batch("ImageBlend", image1, "image1"),
                              as_image_batch("ImageBlend", image2, "image2"))
    layer = layer.to(base.device, base.dtype)
    if base.shape != layer.shape:
        cropped = center_crop_to_aspect(layer, base.shape[1], base.shape[2]).movedim(-1, 1)
        layer = F.interpolate(cropped, size=(base.shape[1], base.shape[2]), mode="bicubic").movedim(1, -1)
    if layer.shape[0] not in (1, base.shape[0]):
        raise ValueError(f"ImageBlend: image2 has {layer.shape[0]} images and image1 {base.shape[0]}; "
                         "expected the same number or one")
    mixed = (base * (1 - blend_factor) + blend_layers(base, layer, blend_mode) * blend_factor).clamp(0.0, 1.0)
    if base.shape[-1] == 4:  # alpha is transparency, not a colour to blend
        mixed[..., 3] = base[..., 3]
    return ImageResult(mixed)


@node("ImageBlur", category="image/filters", display_name="Blur Image")
def image_blur(
    image: IMAGE, blur_radius: Radius = 1, sigma: Annotated[float, Range(0.1, 10.0, step=0.1)] = 1.0
) -> ImageResult:
    """Gaussian blur over a (2·radius+1)² window; sigma is relative to the radius (ComfyUI's kernel)."""
    return ImageResult(blur(as_image_batch("ImageBlur", image), blur_radius, sigma))


@node("ImageSharpen", category="image/filters", display_name="Sharpen Image")
def image_sharpen(
    image: IMAGE,
    sharpen_radius: Radius = 1,
    sigma: Annotated[float, Range(0.1, 10.0, step=0.01)] = 1.0,
    alpha: Annotated[float, Range(0.0, 5.0, step=0.01)] = 1.0,
) -> ImageResult:
    """Unsharp-mask style sharpening of strength `alpha` (0 leaves the image unchanged)."""
    return ImageResult(sharpen(as_image_batch("ImageSharpen", image), sharpen_radius, sigma, alpha))


@node("ImageCompositeMasked", category="image/compositing", display_name="Image Composite Masked")
def image_composite_masked(
    destination: IMAGE,
    source: IMAGE,
    x: Offset = 0,
    y: Offset = 0,
    resize_source: bool = False,
    mask: Annotated[torch.Tensor | None, Socket("MASK"), OptionalInput()] = None,
) -> ImageResult:
    """Paste `source` onto `destination` at (x, y), through `mask` (resized to the source) when given."""
    below, above = match_alpha(as_image_batch("ImageCompositeMasked", destination, "destination"),
                               as_image_batch("ImageCompositeMasked", source, "source"))
    weights = None if mask is None else as_mask_batch("ImageCompositeMasked", mask)
    out = composite(below.movedim(-1, 1), above.movedim(-1, 1), x, y, weights, 1, resize_source)
    return ImageResult(out.movedim(1, -1))
