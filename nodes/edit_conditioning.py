"""Instruction editing and inpainting-model conditioning with ComfyUI's names, inputs and outputs.

Both nodes attach a VAE-encoded image to every conditioning entry (``concat_latent_image``); the sampler feeds it
to the UNet's extra input channels (diffusion/sampling/concat.py). InstructPix2Pix models (8 input channels) take
the image latent as it is; inpainting models (9) take [mask | masked-image latent].
"""

from __future__ import annotations

from typing import Annotated, Any

import torch
import torch.nn.functional as F

from diffusion.sampling.concat import CONCAT_KIND, CONCAT_LATENT, CONCAT_MASK
from diffusion.types import Conditioning
from graph.spec import Outputs, node
from graph.widgets import Label, Tooltip
from nodes.sockets import CONDITIONING, IMAGE, LATENT, MASK, VAE, LatentDict


class EditConditioning(Outputs):
    positive: Annotated[CONDITIONING, Label("positive")]
    negative: Annotated[CONDITIONING, Label("negative")]
    latent: Annotated[LATENT, Label("latent")]


def _pixels(node_id: str, pixels: torch.Tensor) -> torch.Tensor:
    if not isinstance(pixels, torch.Tensor) or pixels.ndim != 4 or pixels.shape[-1] < 3:
        got = list(pixels.shape) if isinstance(pixels, torch.Tensor) else type(pixels).__name__
        raise ValueError(f"{node_id}: input 'pixels' expected an IMAGE [B, H, W, 3], received {got}")
    if pixels.shape[1] < 8 or pixels.shape[2] < 8:
        raise ValueError(f"{node_id}: input 'pixels' expected an image of at least 8x8 pixels, "
                         f"received {pixels.shape[2]}x{pixels.shape[1]}")
    return pixels[..., :3]


def _crop_offsets(height: int, width: int) -> tuple[int, int, int, int]:
    """(y0, x0, h, w) of the centred crop to multiples of 8 that ComfyUI's VAE encode makes."""
    h, w = (height // 8) * 8, (width // 8) * 8
    return (height % 8) // 2, (width % 8) // 2, h, w


def _with_values(conditioning: Conditioning, values: dict[str, Any]) -> Conditioning:
    return [entry.with_changes(extras={**entry.extras, **values}) for entry in conditioning]


@node("InstructPixToPixConditioning", category="conditioning/instructpix2pix")
def instruct_pix_to_pix_conditioning(
    positive: CONDITIONING, negative: CONDITIONING, vae: VAE, pixels: IMAGE
) -> EditConditioning:
    """Attach the image to edit to both conditionings (for InstructPix2Pix models); the latent is an empty one
    of the image's size. For three-way guidance, give DualCFGGuider's negative the plain negative prompt."""
    pixels = _pixels("InstructPixToPixConditioning", pixels)
    y0, x0, h, w = _crop_offsets(int(pixels.shape[1]), int(pixels.shape[2]))
    image_latent = vae.encode(pixels[:, y0:y0 + h, x0:x0 + w, :])
    values = {CONCAT_LATENT: image_latent, CONCAT_KIND: "instructpix2pix"}
    return EditConditioning(_with_values(positive, values), _with_values(negative, values),
                            {"samples": torch.zeros_like(image_latent)})


@node("InpaintModelConditioning", category="conditioning/inpaint")
def inpaint_model_conditioning(
    positive: CONDITIONING,
    negative: CONDITIONING,
    vae: VAE,
    pixels: IMAGE,
    mask: MASK,
    noise_mask: Annotated[bool, Tooltip(
        "Add a noise mask to the latent so sampling will only happen within the mask. "
        "Might improve results or completely break things depending on the model.")] = True,
) -> EditConditioning:
    """Attach the mask and the masked image (masked area grey) for inpainting models; the latent is the
    encoded image, with the mask as its noise mask when noise_mask is on. A mask of another size is resized
    to the image (bilinear), as ComfyUI does."""
    node_id = "InpaintModelConditioning"
    pixels = _pixels(node_id, pixels)
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3, 4) or mask.numel() == 0:
        got = list(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"{node_id}: input 'mask' expected a MASK [B, H, W] or [H, W], received {got}")
    m = mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1]).float()
    if m.shape[0] not in (1, pixels.shape[0]):
        raise ValueError(f"{node_id}: input 'mask' expected 1 or {pixels.shape[0]} masks (one per image in "
                         f"'pixels'), received {m.shape[0]}")
    m = F.interpolate(m, size=(int(pixels.shape[1]), int(pixels.shape[2])), mode="bilinear")
    y0, x0, h, w = _crop_offsets(int(pixels.shape[1]), int(pixels.shape[2]))
    pixels, m = pixels[:, y0:y0 + h, x0:x0 + w, :], m[:, :, y0:y0 + h, x0:x0 + w]
    keep = (1.0 - m.round()).squeeze(1).unsqueeze(-1)
    masked = (pixels - 0.5) * keep + 0.5
    concat_latent = vae.encode(masked)
    latent: LatentDict = {"samples": vae.encode(pixels)}
    if noise_mask:
        latent["noise_mask"] = m
    values = {CONCAT_LATENT: concat_latent, CONCAT_MASK: m, CONCAT_KIND: "inpaint"}
    return EditConditioning(_with_values(positive, values), _with_values(negative, values), latent)
