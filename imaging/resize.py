"""Resizing IMAGE batches the way ComfyUI's `common_upscale` does (methods, center crop, 0 = keep aspect)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ImageUpscaleMethod = Literal["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
CropMethod = Literal["disabled", "center"]


def target_size(height: int, width: int, new_width: int, new_height: int) -> tuple[int, int]:
    """(height, width) to scale to; a 0 keeps the aspect ratio from the other side, both 0 keep the size."""
    if new_width == 0 and new_height == 0:
        return height, width
    if new_width == 0:
        new_width = max(1, round(width * new_height / height))
    elif new_height == 0:
        new_height = max(1, round(height * new_width / width))
    return new_height, new_width


def center_crop_to_aspect(images: torch.Tensor, new_height: int, new_width: int) -> torch.Tensor:
    """Crop [B, H, W, C] around the centre to the aspect ratio of new_width x new_height."""
    height, width = images.shape[1], images.shape[2]
    old_aspect = width / height
    new_aspect = new_width / new_height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((width - width * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((height - height * (old_aspect / new_aspect)) / 2)
    return images[:, y : height - y, x : width - x, :]


def resize_images(images: torch.Tensor, new_height: int, new_width: int, method: ImageUpscaleMethod) -> torch.Tensor:
    """Resize [B, H, W, C] to new_height x new_width; results stay in 0..1 (bicubic/lanczos overshoot is clipped)."""
    if method == "lanczos":
        return _lanczos(images, new_height, new_width)
    channels_first = images.movedim(-1, 1)
    resized = F.interpolate(channels_first, size=(new_height, new_width), mode=method)
    return resized.movedim(1, -1).clamp(0.0, 1.0)


def _lanczos(images: torch.Tensor, new_height: int, new_width: int) -> torch.Tensor:
    out = []
    for image in images:
        array = np.clip(image.detach().cpu().numpy() * 255.0, 0, 255).astype(np.uint8)
        squeezed = array[..., 0] if array.shape[-1] == 1 else array
        resized = Image.fromarray(squeezed).resize((new_width, new_height), resample=Image.Resampling.LANCZOS)
        values = np.asarray(resized, dtype=np.float32) / 255.0
        out.append(torch.from_numpy(values.reshape(new_height, new_width, -1).copy()))
    return torch.stack(out).to(images.dtype)


def scale_images(
    images: torch.Tensor, method: ImageUpscaleMethod, width: int, height: int, crop: CropMethod
) -> torch.Tensor:
    """ImageScale: resize to width x height (0 keeps aspect), optionally centre-cropping to the new aspect."""
    new_height, new_width = target_size(images.shape[1], images.shape[2], width, height)
    if (new_height, new_width) == (images.shape[1], images.shape[2]) and crop == "disabled":
        return images
    source = center_crop_to_aspect(images, new_height, new_width) if crop == "center" else images
    return resize_images(source, new_height, new_width, method)
