"""Latent and VAE nodes with ComfyUI's names, inputs and defaults: empty latents, VAE encode/decode,
inpainting masks, latent upscaling and batch handling."""

from __future__ import annotations

import math
from typing import Annotated, Literal

import torch
import torch.nn.functional as F

from diffusion.sampling.latent_ops import upscale_latent
from graph.spec import Outputs, node
from graph.widgets import MAX_RESOLUTION, Allocates, Range
from imaging.batching import as_latent_samples
from nodes.sockets import IMAGE, LATENT, MASK, VAE, LatentDict

LatentUpscaleMethod = Literal["nearest-exact", "bilinear", "area", "bicubic", "bislerp"]


class LatentResult(Outputs):
    latent: LATENT


class ImageResult(Outputs):
    image: IMAGE


def _samples(node_id: str, latent: LatentDict, input_name: str = "samples") -> torch.Tensor:
    return as_latent_samples(node_id, latent, input_name)


def _image(node_id: str, image: torch.Tensor, input_name: str = "pixels") -> torch.Tensor:
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[-1] < 3:
        got = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"{node_id}: input {input_name!r} expected an IMAGE [B, H, W, 3], received {got}")
    return image


def _mask(node_id: str, mask: torch.Tensor) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3, 4):
        got = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"{node_id}: input 'mask' expected a MASK [B, H, W] or [H, W], received {got}")
    return mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1]).float()


Dimension = Annotated[int, Range(16, MAX_RESOLUTION, step=8)]
BatchSize = Annotated[int, Range(1, 4096), Allocates("batch")]


@node("EmptyLatentImage", category="latent", display_name="Empty Latent Image")
def empty_latent_image(width: Annotated[Dimension, Allocates("width")] = 512,
                       height: Annotated[Dimension, Allocates("height")] = 512,
                       batch_size: BatchSize = 1) -> LatentResult:
    """A batch of zero latents for width×height images (4 channels, 1/8 resolution)."""
    return LatentResult({"samples": torch.zeros([batch_size, 4, height // 8, width // 8])})


@node("VAEDecode", category="latent", display_name="VAE Decode")
def vae_decode(samples: LATENT, vae: VAE) -> ImageResult:
    """Decode latents to images."""
    images = vae.decode(_samples("VAEDecode", samples))
    if images.ndim == 5:  # video VAEs give [B, T, H, W, C]
        images = images.reshape(-1, *images.shape[-3:])
    return ImageResult(images)


@node("VAEEncode", category="latent", display_name="VAE Encode")
def vae_encode(pixels: IMAGE, vae: VAE) -> LatentResult:
    """Encode images to latents."""
    return LatentResult({"samples": vae.encode(_image("VAEEncode", pixels)[:, :, :, :3])})


@node("VAEEncodeForInpaint", category="latent/inpaint", display_name="VAE Encode (for Inpainting)")
def vae_encode_for_inpaint(pixels: IMAGE, vae: VAE, mask: MASK,
                           grow_mask_by: Annotated[int, Range(0, 64, step=1)] = 6) -> LatentResult:
    """Encode with the masked area greyed out, and a noise mask grown by a few pixels for seamless blending."""
    pixels = _image("VAEEncodeForInpaint", pixels)
    ratio = vae.downscale_factor
    h, w = (pixels.shape[1] // ratio) * ratio, (pixels.shape[2] // ratio) * ratio
    m = F.interpolate(_mask("VAEEncodeForInpaint", mask), size=(pixels.shape[1], pixels.shape[2]), mode="bilinear")
    pixels = pixels.clone()
    if pixels.shape[1] != h or pixels.shape[2] != w:
        y0, x0 = (pixels.shape[1] % ratio) // 2, (pixels.shape[2] % ratio) // 2
        pixels = pixels[:, y0:h + y0, x0:w + x0, :]
        m = m[:, :, y0:h + y0, x0:w + x0]
    if grow_mask_by == 0:
        grown = m
    else:
        kernel = torch.ones((1, 1, grow_mask_by, grow_mask_by))
        padding = math.ceil((grow_mask_by - 1) / 2)
        grown = torch.clamp(F.conv2d(m.round(), kernel, padding=padding), 0, 1)
    keep = (1.0 - m.round()).squeeze(1).unsqueeze(-1)
    pixels = (pixels[:, :, :, :3] - 0.5) * keep + 0.5
    return LatentResult({"samples": vae.encode(pixels), "noise_mask": grown[:, :, :h, :w].round()})


@node("SetLatentNoiseMask", category="latent/inpaint", display_name="Set Latent Noise Mask")
def set_latent_noise_mask(samples: LATENT, mask: MASK) -> LatentResult:
    """Only the masked region is re-noised and denoised by the sampler."""
    _samples("SetLatentNoiseMask", samples)
    out = dict(samples)
    out["noise_mask"] = _mask("SetLatentNoiseMask", mask)
    return LatentResult(out)


def _upscaled(samples: LatentDict, new: torch.Tensor) -> LatentResult:
    out = dict(samples)
    out["samples"] = new
    return LatentResult(out)


@node("LatentUpscale", category="latent", display_name="Upscale Latent")
def latent_upscale(samples: LATENT, upscale_method: LatentUpscaleMethod = "nearest-exact",
                   width: Annotated[int, Range(0, MAX_RESOLUTION, step=8), Allocates("width")] = 512,
                   height: Annotated[int, Range(0, MAX_RESOLUTION, step=8), Allocates("height")] = 512,
                   crop: Literal["disabled", "center"] = "disabled") -> LatentResult:
    """Resize latents to width×height pixels (0 for one side keeps the aspect ratio; at least 64 px)."""
    s = _samples("LatentUpscale", samples)
    if width == 0 and height == 0:
        return LatentResult(samples)
    if width == 0:
        height = max(64, height)
        width = max(64, round(s.shape[-1] * height / s.shape[-2]))
    elif height == 0:
        width = max(64, width)
        height = max(64, round(s.shape[-2] * width / s.shape[-1]))
    else:
        width, height = max(64, width), max(64, height)
    return _upscaled(samples, upscale_latent(s, width // 8, height // 8, upscale_method, crop))


@node("LatentUpscaleBy", category="latent", display_name="Upscale Latent By")
def latent_upscale_by(samples: LATENT, upscale_method: LatentUpscaleMethod = "nearest-exact",
                      scale_by: Annotated[float, Range(0.01, 8.0, step=0.01)] = 1.5) -> LatentResult:
    """Resize latents by a factor."""
    s = _samples("LatentUpscaleBy", samples)
    width, height = round(s.shape[-1] * scale_by), round(s.shape[-2] * scale_by)
    if width < 1 or height < 1:
        raise ValueError(f"LatentUpscaleBy: scale_by {scale_by} makes a latent of {width}x{height} cells")
    return _upscaled(samples, upscale_latent(s, width, height, upscale_method))


def _masks_per_sample(masks: torch.Tensor, batch: int) -> torch.Tensor:
    if masks.shape[0] < batch:
        masks = masks.repeat(math.ceil(batch / masks.shape[0]), 1, 1, 1)[:batch]
    return masks


@node("LatentFromBatch", category="latent/batch", display_name="Latent From Batch")
def latent_from_batch(samples: LATENT, batch_index: Annotated[int, Range(0, 63)] = 0,
                      length: Annotated[int, Range(1, 64)] = 1) -> LatentResult:
    """Pick ``length`` samples from ``batch_index`` on, keeping their batch indices (same noise as in the batch)."""
    s = _samples("LatentFromBatch", samples)
    start = min(s.shape[0] - 1, batch_index)
    length = min(s.shape[0] - start, length)
    out = dict(samples)
    out["samples"] = s[start:start + length].clone()
    if "noise_mask" in samples:
        masks = samples["noise_mask"]
        out["noise_mask"] = masks.clone() if masks.shape[0] == 1 else \
            _masks_per_sample(masks, s.shape[0])[start:start + length].clone()
    if "batch_index" in samples:
        out["batch_index"] = list(samples["batch_index"])[start:start + length]
    else:
        out["batch_index"] = list(range(start, start + length))
    return LatentResult(out)


@node("RepeatLatentBatch", category="latent/batch", display_name="Repeat Latent Batch")
def repeat_latent_batch(samples: LATENT, amount: Annotated[int, Range(1, 64)] = 1) -> LatentResult:
    """Repeat the whole batch ``amount`` times (masks and batch indices too)."""
    s = _samples("RepeatLatentBatch", samples)
    out = dict(samples)
    out["samples"] = s.repeat((amount, 1, 1, 1))
    if "noise_mask" in samples and samples["noise_mask"].shape[0] > 1:
        masks = _masks_per_sample(samples["noise_mask"], s.shape[0])
        out["noise_mask"] = masks.repeat((amount, 1, 1, 1))
    if "batch_index" in samples:
        indices = list(samples["batch_index"])
        offset = max(indices) - min(indices) + 1
        out["batch_index"] = indices + [x + i * offset for i in range(1, amount) for x in indices]
    return LatentResult(out)
