"""IMAGE/MASK tensors <-> PIL images, following ComfyUI's conventions.

IMAGE is float32 [B, H, W, C] in 0..1 (C = 3); MASK is float32 [B, H, W] in 0..1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, ImageSequence

#: ComfyUI returns this mask shape for images without alpha (downstream nodes resize masks anyway).
EMPTY_MASK_SIZE = 64


class ImageFileError(ValueError):
    """An image file could not be decoded; the message names the file."""


def check_image_tensor(images: torch.Tensor, what: str = "images") -> None:
    """Raise a clear error unless `images` is an IMAGE batch: float [B, H, W, C] with C in 1, 3, 4."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{what}: expected an IMAGE tensor [B, H, W, C], received {type(images).__name__}")
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4) or images.shape[1] == 0 or images.shape[2] == 0:
        raise ValueError(f"{what}: expected an IMAGE tensor [B, H, W, C] with C 1, 3 or 4, received shape "
                         f"{list(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(f"{what}: expected a float IMAGE tensor in 0..1, received dtype {images.dtype}")


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """One IMAGE [H, W, C] in 0..1 -> an 8-bit PIL image (RGB, RGBA or L); values truncate as ComfyUI's do."""
    array = np.clip(255.0 * image.detach().to("cpu", torch.float32).numpy(), 0, 255).astype(np.uint8)
    channels = array.shape[-1]
    # uint8 arrays of shape [H, W], [H, W, 3], [H, W, 4] become L, RGB, RGBA
    return Image.fromarray(array[..., 0] if channels == 1 else array)


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """A PIL image -> one IMAGE [H, W, 3] float32 in 0..1 (converted to RGB)."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array.copy())


def alpha_mask(frame: Image.Image) -> torch.Tensor | None:
    """MASK [H, W] = 1 - alpha for a frame with transparency, else None (ComfyUI's LoadImage rule)."""
    if "A" in frame.getbands():
        alpha = frame.getchannel("A")
    elif frame.mode == "P" and "transparency" in frame.info:
        alpha = frame.convert("RGBA").getchannel("A")
    else:
        return None
    return 1.0 - torch.from_numpy(np.asarray(alpha, dtype=np.float32) / 255.0)


def load_image_frames(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """IMAGE [B, H, W, 3] and MASK [B, H, W] from an image file, as ComfyUI's LoadImage reads it.

    Every frame of an animated file becomes a batch entry (frames of another size are skipped; MPO files
    give only their first image); EXIF orientation is applied; 32-bit integer images are scaled by 1/255.
    """
    try:
        with Image.open(path) as opened:
            frames: list[torch.Tensor] = []
            masks: list[torch.Tensor | None] = []
            size: tuple[int, int] | None = None
            for raw in ImageSequence.Iterator(opened):
                frame = ImageOps.exif_transpose(raw) or raw
                if frame.mode.startswith("I;16"):
                    frame = frame.convert("I")
                if frame.mode == "I":
                    frame = frame.point(lambda value: value * (1 / 255))
                size = size or frame.size
                if frame.size != size:
                    continue
                frames.append(pil_to_tensor(frame))
                masks.append(alpha_mask(frame))
                if opened.format == "MPO":
                    break
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ImageFileError(f"cannot decode image {path.name}: {error}") from error
    if not frames:
        raise ImageFileError(f"image {path.name} has no frames")
    height, width = frames[0].shape[:2]
    # ComfyUI's 64x64 empty mask, unless some frame has alpha: then the batch needs one shape.
    blank = (height, width) if any(mask is not None for mask in masks) else (EMPTY_MASK_SIZE, EMPTY_MASK_SIZE)
    stacked_masks = [mask if mask is not None else torch.zeros(blank, dtype=torch.float32) for mask in masks]
    return torch.stack(frames), torch.stack(stacked_masks)


def load_mask_channel(path: Path, channel: str) -> torch.Tensor:
    """MASK [1, H, W] from one channel of an image file; alpha is inverted (1 - a), as ComfyUI's LoadImageMask.

    The file is converted to RGBA first, so an opaque image's alpha mask is all zeros at full size.
    """
    letter = {"alpha": "A", "red": "R", "green": "G", "blue": "B"}[channel]
    try:
        with Image.open(path) as opened:
            frame = ImageOps.exif_transpose(opened) or opened
            if frame.getbands() != ("R", "G", "B", "A"):
                if frame.mode.startswith("I;16"):
                    frame = frame.convert("I")
                if frame.mode == "I":
                    frame = frame.point(lambda value: value * (1 / 255))
                frame = frame.convert("RGBA")
            values = np.asarray(frame.getchannel(letter), dtype=np.float32) / 255.0
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ImageFileError(f"cannot decode image {path.name}: {error}") from error
    mask = torch.from_numpy(values.copy())
    return (1.0 - mask if letter == "A" else mask).unsqueeze(0)
