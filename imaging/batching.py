"""Batch and shape helpers shared by the image, mask and latent op nodes (ComfyUI's conventions)."""

from __future__ import annotations

import math

import torch


def repeat_to_batch(tensor: torch.Tensor, batch: int) -> torch.Tensor:
    """Cut or cycle `tensor` along dim 0 to exactly `batch` items (ComfyUI's repeat_to_batch_size)."""
    if tensor.shape[0] > batch:
        return tensor[:batch]
    if tensor.shape[0] < batch:
        times = math.ceil(batch / tensor.shape[0])
        return tensor.repeat((times,) + (1,) * (tensor.ndim - 1))[:batch]
    return tensor


def match_alpha(first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Give two IMAGE batches the same channel count: an RGB one gains an opaque alpha next to an RGBA one."""
    channels = max(first.shape[-1], second.shape[-1])

    def pad(image: torch.Tensor) -> torch.Tensor:
        missing = channels - image.shape[-1]
        return torch.nn.functional.pad(image, (0, missing), value=1.0) if missing > 0 else image

    return pad(first), pad(second)


def as_mask_batch(node_id: str, mask: torch.Tensor, input_name: str = "mask") -> torch.Tensor:
    """A MASK as [B, H, W] float; [H, W] and [B, 1, H, W] are accepted, anything else is a clear error."""
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3, 4) or (mask.ndim == 4 and mask.shape[1] != 1):
        got = list(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"{node_id}: input {input_name!r} expected a MASK [B, H, W], received {got}")
    return mask.reshape(-1, mask.shape[-2], mask.shape[-1]).float()


def as_image_batch(node_id: str, image: torch.Tensor, input_name: str = "image") -> torch.Tensor:
    """An IMAGE as [B, H, W, C] with C in 1, 3, 4; anything else is a clear error naming the node and input."""
    if (
        not isinstance(image, torch.Tensor)
        or image.ndim != 4
        or image.shape[-1] not in (1, 3, 4)
        or not image.is_floating_point()
    ):
        got = f"{list(image.shape)} {image.dtype}" if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"{node_id}: input {input_name!r} expected an IMAGE float [B, H, W, C], received {got}")
    return image


def as_latent_samples(node_id: str, latent: object, input_name: str = "samples") -> torch.Tensor:
    """The samples tensor [B, C, h, w] of a LATENT dict; anything else is a clear error."""
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.ndim != 4:
        got = list(samples.shape) if isinstance(samples, torch.Tensor) else type(samples).__name__
        raise ValueError(f"{node_id}: input {input_name!r} expected a LATENT with samples [B, C, h, w], "
                         f"received {got}")
    return samples
