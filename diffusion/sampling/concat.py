"""Concat conditioning: the extra UNet input channels of InstructPix2Pix and inpainting models.

An 8-channel InstructPix2Pix UNet sees ``[noisy latent | image latent]`` and a 9-channel inpainting UNet
``[noisy latent | mask | masked-image latent]``. The extra channels come from the conditioning (set by
InstructPixToPixConditioning / InpaintModelConditioning) with ComfyUI's fallbacks (behaviour, not code):

* InstructPix2Pix: the entry's ``concat_latent_image`` (raw VAE latent, *not* scaled, as the model was trained and
  as diffusers' pipeline feeds it), zeros when the entry has none (the "no image" branch of three-way guidance);
* inpainting: the mask is the entry's ``concat_mask`` or else the sampler's noise mask, resized to the latent and
  rounded; the masked image is the entry's ``concat_latent_image`` scaled into model space, or else the sampled
  latent itself (VAEEncodeForInpaint's grey-filled latent); with no mask at all, mask 1 and a grey image.

Both are resized (bilinear, centre crop to the aspect ratio) to the noise's size and tiled to its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from diffusion.models.model import UnknownVariant, model_variant
from diffusion.sampling.latent_ops import center_crop, resize
from diffusion.types import ConditioningEntry, ModelVariant

#: Conditioning-entry extras set by the nodes (ComfyUI's key names).
CONCAT_LATENT = "concat_latent_image"
CONCAT_MASK = "concat_mask"
#: Which node attached the concat image: "instructpix2pix" or "inpaint" (for run-time refusals).
CONCAT_KIND = "concat_kind"

#: A mid-grey image (pixels 0.5) in SD1/SD2/SDXL scaled latent space: the inpainting "nothing known" fill.
_GREY_LATENT = (0.8223, -0.6876, 0.6364, 0.1380)

_KIND_NAMES = {"instructpix2pix": "InstructPixToPixConditioning", "inpaint": "InpaintModelConditioning"}
_MODEL_NEEDED = {
    "instructpix2pix": "an InstructPix2Pix checkpoint (UNet with {ip2p} input channels)",
    "inpaint": "an inpainting checkpoint (UNet with {inpaint} input channels) or any model with a noise mask",
}


class ConcatMismatch(ValueError):
    """Conditioning made for one kind of model was given to another."""


@dataclass(frozen=True)
class ConcatSource:
    """What the sampler knows that the fallbacks need: the scaled start latent and the noise mask."""

    #: The latent being sampled, in model (scaled) space, ``[B, C, h, w]``.
    latent_image: torch.Tensor | None = None
    #: The sampler's noise mask prepared to ``[B, C, h, w]`` (or None).
    denoise_mask: torch.Tensor | None = None
    #: The model's latent scale factor (process_latent_in for the inpainting masked image).
    scale: float = 1.0


def unet_variant(unet: torch.nn.Module, latent_channels: int) -> ModelVariant:
    """The variant of a diffusers UNet from its configured input channels (plain if it has no config or an
    unknown layout: the loader refuses those, test doubles may have them)."""
    in_channels = getattr(getattr(unet, "config", None), "in_channels", latent_channels)
    try:
        return model_variant(int(in_channels), latent_channels)
    except UnknownVariant:
        return "base"


def check_entries(variant: ModelVariant, entries: Sequence[tuple[str, ConditioningEntry]],
                  latent_channels: int) -> None:
    """Refuse conditioning that the model cannot use, naming the input and the model type needed.

    ComfyUI ignores concat conditioning on plain models; InpaintModelConditioning on a plain model stays allowed
    (its noise mask still inpaints), but an InstructPix2Pix image would be silently dropped, so it is refused.
    """
    for input_name, entry in entries:
        kind = entry.extras.get(CONCAT_KIND)
        if kind is None or kind == variant or (kind == "inpaint" and variant == "base"):
            continue
        if kind == "inpaint" and variant == "instructpix2pix":
            continue  # ComfyUI's InstructPix2Pix model takes any concat_latent_image as its image
        needed = _MODEL_NEEDED[kind].format(ip2p=2 * latent_channels, inpaint=2 * latent_channels + 1)
        have = {"base": f"a plain {latent_channels}-channel model", "inpaint": "an inpainting model",
                "instructpix2pix": "an InstructPix2Pix model"}[variant]
        raise ConcatMismatch(
            f"{input_name}: conditioning from {_KIND_NAMES.get(kind, kind)} needs {needed}, "
            f"but the model is {have}"
        )


def _fit(t: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Resize ``[b, c, h, w]`` to the noise's h×w (bilinear, centre crop) and tile/cut to its batch."""
    t = t.float()
    if tuple(t.shape[-2:]) != tuple(shape[-2:]):
        width, height = int(shape[-1]), int(shape[-2])
        t = resize(center_crop(t, width, height), width, height, "bilinear")
    batch = int(shape[0])
    if t.shape[0] < batch:
        t = t.repeat(-(-batch // t.shape[0]), 1, 1, 1)
    return t[:batch]


def concat_for(entry: ConditioningEntry, variant: ModelVariant, noise_shape: torch.Size, source: ConcatSource
               ) -> torch.Tensor | None:
    """The extra input channels for ``entry`` (``[B, extra, h, w]`` on the CPU), None for plain models."""
    if variant == "base":
        return None
    image = entry.extras.get(CONCAT_LATENT)
    if variant == "instructpix2pix":
        if image is None:
            return torch.zeros(noise_shape)
        return _fit(image, noise_shape)
    mask = entry.extras.get(CONCAT_MASK)
    if mask is None:
        mask = source.denoise_mask
    if image is not None:
        image = image.float() * source.scale
    elif source.latent_image is not None:
        image = source.latent_image.float().cpu()
    else:
        image = torch.zeros(noise_shape)
    image = _fit(image, noise_shape)
    if mask is None:
        grey = torch.tensor(_GREY_LATENT[: noise_shape[1]]).view(1, -1, 1, 1).expand(noise_shape)
        return torch.cat([torch.ones(noise_shape[0], 1, *noise_shape[2:]), grey.clone()], dim=1)
    mask = mask.float().cpu()
    if mask.ndim == 4:
        mask = mask[:, :1]
    mask = _fit(mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1]), noise_shape).round()
    return torch.cat([mask, image], dim=1)
