"""Image geometry and batch nodes with ComfyUI's names, inputs, defaults and outputs: pad for outpainting,
scale to total pixels, crop, flip, rotate, empty images, sizes and batches. IMAGE is float [B, H, W, C]."""

from __future__ import annotations

import math
from typing import Annotated, Literal

import torch

from graph.sockets import Socket
from graph.spec import Outputs, node
from graph.widgets import MAX_RESOLUTION, Allocates, Label, Range
from imaging.batching import as_image_batch, match_alpha
from imaging.resize import ImageUpscaleMethod, center_crop_to_aspect, resize_images
from nodes.sockets import IMAGE, MASK

Offset = Annotated[int, Range(0, MAX_RESOLUTION, step=1)]
Side = Annotated[int, Range(1, MAX_RESOLUTION, step=1)]
Padding = Annotated[int, Range(0, MAX_RESOLUTION, step=8)]
Rotation = Literal["none", "90 degrees", "180 degrees", "270 degrees"]
FlipMethod = Literal["x-axis: vertically", "y-axis: horizontally"]


class ImageResult(Outputs):
    image: IMAGE


class PaddedImage(Outputs):
    image: IMAGE
    mask: MASK


class ImageSize(Outputs):
    width: Annotated[int, Socket("INT"), Label("width")]
    height: Annotated[int, Socket("INT"), Label("height")]
    batch_size: Annotated[int, Socket("INT"), Label("batch_size")]


def outpaint_mask(height: int, width: int, sides: tuple[int, int, int, int], feathering: int) -> torch.Tensor:
    """The mask over the original pixels: 0 inside, rising as (1 − d/f)² within f pixels of a padded side.

    `sides` is (left, top, right, bottom); d is the distance to the nearest padded side, and no feathering
    happens unless the image is more than twice `feathering` in both directions (ComfyUI's rule).
    """
    left, top, right, bottom = sides
    if feathering <= 0 or feathering * 2 >= height or feathering * 2 >= width:
        return torch.zeros(height, width)
    rows = torch.arange(height, dtype=torch.float64)[:, None].expand(height, width)
    cols = torch.arange(width, dtype=torch.float64)[None, :].expand(height, width)
    far_rows, far_cols = torch.full_like(rows, height), torch.full_like(cols, width)
    distance = torch.minimum(
        torch.minimum(rows if top else far_rows, height - rows if bottom else far_rows),
        torch.minimum(cols if left else far_cols, width - cols if right else far_cols),
    )
    ramp = (feathering - distance) / feathering
    return torch.where(distance < feathering, ramp * ramp, torch.zeros_like(ramp)).float()


@node("ImagePadForOutpaint", category="image/transform", display_name="Pad Image for Outpainting")
def image_pad_for_outpaint(
    image: IMAGE,
    left: Padding = 0,
    top: Padding = 0,
    right: Padding = 0,
    bottom: Padding = 0,
    feathering: Annotated[int, Range(0, MAX_RESOLUTION, step=1)] = 40,
) -> PaddedImage:
    """Grow the canvas with mid-grey borders; the mask is 1 on the new area and fades into the old edges."""
    images = as_image_batch("ImagePadForOutpaint", image)
    batch, height, width, channels = images.shape
    out = torch.full((batch, height + top + bottom, width + left + right, channels), 0.5, dtype=torch.float32)
    out[:, top : top + height, left : left + width, :] = images.float()
    mask = torch.ones(height + top + bottom, width + left + right)
    mask[top : top + height, left : left + width] = outpaint_mask(height, width, (left, top, right, bottom), feathering)
    return PaddedImage(out, mask.unsqueeze(0))


@node("ImageScaleToTotalPixels", category="image/upscaling", display_name="Scale Image to Total Pixels")
def image_scale_to_total_pixels(
    image: IMAGE,
    upscale_method: ImageUpscaleMethod,
    megapixels: Annotated[float, Range(0.01, 16.0, step=0.01)] = 1.0,
    resolution_steps: Annotated[int, Range(1, 256)] = 1,
) -> ImageResult:
    """Resize keeping the aspect ratio so width×height ≈ megapixels·2²⁰, sides rounded to `resolution_steps`."""
    images = as_image_batch("ImageScaleToTotalPixels", image)
    height, width = images.shape[1], images.shape[2]
    scale = math.sqrt(megapixels * 1024 * 1024 / (width * height))
    new_width = round(width * scale / resolution_steps) * resolution_steps
    new_height = round(height * scale / resolution_steps) * resolution_steps
    if new_width < 1 or new_height < 1:
        raise ValueError(f"ImageScaleToTotalPixels: {megapixels} megapixels in steps of {resolution_steps} "
                         f"gives a {new_width}x{new_height} image")
    return ImageResult(resize_images(images, new_height, new_width, upscale_method))


@node("ImageCrop", category="image/transform", display_name="Crop Image", deprecated=True)
def image_crop(image: IMAGE, width: Side = 512, height: Side = 512, x: Offset = 0, y: Offset = 0) -> ImageResult:
    """The width×height region at (x, y); x and y stop at the last pixel, the region at the image's edge."""
    images = as_image_batch("ImageCrop", image)
    x, y = min(x, images.shape[2] - 1), min(y, images.shape[1] - 1)
    return ImageResult(images[:, y : y + height, x : x + width, :].clone())


@node("ImageFlip", category="image/transform", display_name="Flip Image")
def image_flip(image: IMAGE, flip_method: FlipMethod) -> ImageResult:
    """Mirror top-bottom (x-axis) or left-right (y-axis)."""
    images = as_image_batch("ImageFlip", image)
    return ImageResult(torch.flip(images, dims=[1] if flip_method.startswith("x") else [2]))


@node("ImageRotate", category="image/transform", display_name="Rotate Image")
def image_rotate(image: IMAGE, rotation: Rotation) -> ImageResult:
    """Rotate clockwise by a multiple of 90 degrees."""
    images = as_image_batch("ImageRotate", image)
    turns = {"none": 0, "90 degrees": 1, "180 degrees": 2, "270 degrees": 3}[rotation]
    return ImageResult(torch.rot90(images, k=turns, dims=[2, 1]))


@node("EmptyImage", category="image", display_name="Empty Image")
def empty_image(
    width: Annotated[Side, Allocates("width")] = 512,
    height: Annotated[Side, Allocates("height")] = 512,
    batch_size: Annotated[int, Range(1, 4096), Allocates("batch")] = 1,
    color: Annotated[int, Range(0, 0xFFFFFF, step=1)] = 0,
) -> ImageResult:
    """A batch of one solid colour given as 0xRRGGBB."""
    rgb = torch.tensor([(color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF], dtype=torch.float32) / 0xFF
    return ImageResult(rgb.expand(batch_size, height, width, 3).contiguous())


@node("GetImageSize", category="image", display_name="Get Image Size")
def get_image_size(image: IMAGE) -> ImageSize:
    """The image's width, height and batch size."""
    images = as_image_batch("GetImageSize", image)
    return ImageSize(int(images.shape[2]), int(images.shape[1]), int(images.shape[0]))


@node("ImageBatch", category="image/batch", display_name="Batch Images", deprecated=True)
def image_batch(image1: IMAGE, image2: IMAGE) -> ImageResult:
    """image1 followed by image2; image2 is resized (bilinear, centre crop) to image1's size if it differs."""
    first, second = match_alpha(as_image_batch("ImageBatch", image1, "image1"),
                                as_image_batch("ImageBatch", image2, "image2"))
    if first.shape[1:] != second.shape[1:]:
        cropped = center_crop_to_aspect(second, first.shape[1], first.shape[2])
        second = resize_images(cropped, first.shape[1], first.shape[2], "bilinear")
    return ImageResult(torch.cat((first, second.to(first.dtype)), dim=0))


@node("RepeatImageBatch", category="image/batch", display_name="Repeat Image Batch")
def repeat_image_batch(image: IMAGE, amount: Annotated[int, Range(1, 4096)] = 1) -> ImageResult:
    """The whole batch `amount` times."""
    return ImageResult(as_image_batch("RepeatImageBatch", image).repeat((amount, 1, 1, 1)))
