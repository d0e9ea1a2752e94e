"""Tensor conversion between diffusers/transformers state dicts and the LDM single-file layout.

``from_ldm`` is strict: every tensor the model needs must be present with the right shape, and it
reports which file keys it consumed so the caller can refuse leftovers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import torch

from diffusion.models import ldm_keys
from diffusion.models.architectures import text_state_key

ComponentKind = Literal["unet", "controlnet", "vae", "clip", "open_clip"]


class CheckpointKeyError(ValueError):
    """A checkpoint lacks tensors the model needs, has tensors of the wrong shape, or has extras."""


def _key_function(kind: ComponentKind, config: Mapping[str, Any]) -> Callable[[str], str]:
    if kind == "unet":
        return lambda key: ldm_keys.unet_key_to_ldm(key, config)
    if kind == "controlnet":
        return lambda key: ldm_keys.controlnet_key_to_ldm(key, config)
    if kind == "vae":
        return lambda key: ldm_keys.vae_key_to_ldm(key, config)
    if kind == "open_clip":
        return lambda key: ldm_keys.open_clip_key_to_ldm(text_state_key(key))
    return text_state_key  # transformers CLIP keeps its names under the LDM prefix


def to_ldm(
    kind: ComponentKind, state: Mapping[str, torch.Tensor], config: Mapping[str, Any], prefix: str
) -> dict[str, torch.Tensor]:
    """Turn a diffusers/transformers state dict into LDM-layout tensors under ``prefix``."""
    name_of = _key_function(kind, config)
    out: dict[str, torch.Tensor] = {}
    fused: dict[str, list[torch.Tensor | None]] = {}
    for key, tensor in state.items():
        if key.endswith("position_ids"):
            continue
        ldm = prefix + name_of(key)
        if kind == "open_clip" and (third := ldm_keys.open_clip_qkv_index(key)) is not None:
            fused.setdefault(ldm, [None, None, None])[third] = tensor
        elif kind == "open_clip" and key == "text_projection.weight":
            out[ldm] = tensor.t().contiguous()
        elif kind == "vae" and ldm_keys.is_vae_attention_projection(ldm):
            out[ldm] = tensor.reshape(*tensor.shape, 1, 1).contiguous()
        else:
            out[ldm] = tensor.contiguous()
    for ldm, parts in fused.items():
        if any(p is None for p in parts):
            raise CheckpointKeyError(f"incomplete q/k/v for {ldm}")
        out[ldm] = torch.cat([p for p in parts if p is not None]).contiguous()
    return out


def from_ldm(
    kind: ComponentKind,
    model_shapes: Mapping[str, torch.Size],
    ldm: Mapping[str, torch.Tensor],
    config: Mapping[str, Any],
    prefix: str,
    *,
    source: str,
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Collect the tensors a diffusers model with ``model_shapes`` needs from an LDM state dict.

    Returns the diffusers-keyed state dict and, per diffusers key, the LDM key it came from.
    Raises :class:`CheckpointKeyError` naming ``source`` when anything is missing or misshapen.
    """
    name_of = _key_function(kind, config)
    out: dict[str, torch.Tensor] = {}
    sources: dict[str, str] = {}
    missing: list[str] = []
    for key, shape in model_shapes.items():
        ldm_key = prefix + name_of(key)
        tensor = ldm.get(ldm_key)
        if tensor is None:
            missing.append(ldm_key)
            continue
        sources[key] = ldm_key
        if kind == "open_clip" and (third := ldm_keys.open_clip_qkv_index(key)) is not None:
            rows = tensor.shape[0] // 3
            tensor = tensor[third * rows : (third + 1) * rows]
        elif kind == "open_clip" and key == "text_projection.weight":
            tensor = tensor.t()
        elif kind == "vae" and ldm_keys.is_vae_attention_projection(ldm_key) and tensor.ndim == 4:
            tensor = tensor.reshape(tensor.shape[0], tensor.shape[1])
        if tuple(tensor.shape) != tuple(shape):
            raise CheckpointKeyError(
                f"{source}: tensor {ldm_key} has shape {list(tensor.shape)}, the {kind} needs {list(shape)}"
            )
        out[key] = tensor
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise CheckpointKeyError(f"{source}: the {kind} is missing {len(missing)} tensors: {shown}")
    return out, sources
