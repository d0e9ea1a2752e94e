"""ControlNet files -> the CONTROL_NET value (SD1.x/SD2.x/SDXL; LDM with or without prefix, or diffusers)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from diffusion import devices
from diffusion.models import architectures as arch
from diffusion.models.convert import CheckpointKeyError, from_ldm, to_ldm
from diffusion.models.files import MappedTensors, read_state_dict
from diffusion.types import Family

LDM_PREFIX = "control_model."
_IGNORED = re.compile(r"(^|\.)(lora_\w+|position_ids)$")


@dataclass(frozen=True, eq=False)
class ControlNet:
    """The CONTROL_NET socket value: a diffusers ``ControlNetModel`` (``.module``) and its family."""

    #: The diffusers ``ControlNetModel`` (typed as a Module: diffusers is untyped).
    module: torch.nn.Module
    family: Family
    source: str = ""


def _layout(state: Mapping[str, torch.Tensor]) -> str:
    if any(k.startswith(LDM_PREFIX + "input_blocks.") for k in state):
        return "ldm"
    if any(k.startswith("input_blocks.") for k in state) and any(k.startswith("zero_convs.") for k in state):
        return "ldm_bare"
    if any(k.startswith("controlnet_cond_embedding.") for k in state):
        return "diffusers"
    return "unknown"


def _diffusers_to_ldm(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a diffusers-layout ControlNet to the LDM names (tensors are shared, not copied)."""
    per_level = arch.count_indices(state, r"down_blocks\.0\.resnets\.(\d+)\.")
    hint_blocks = arch.count_indices(state, r"controlnet_cond_embedding\.blocks\.(\d+)\.")
    config = {"layers_per_block": per_level, "conditioning_embedding_out_channels": [0] * (hint_blocks // 2 + 1)}
    return to_ldm("controlnet", state, config, LDM_PREFIX)


def load_controlnet_state(
    state: Mapping[str, torch.Tensor], *, source: str, device: torch.device | None = None,
    dtype: torch.dtype | None = None, pooled_dim: int | None = None,
) -> ControlNet:  # fmt: skip
    """Build the ControlNet from a state dict in any supported layout; strict about keys.

    ``pooled_dim`` is only needed for SDXL ControlNets of non-standard width (test models).
    """
    device = device or devices.default_device()
    layout = _layout(state)
    if layout == "unknown":
        raise arch.UnknownModelLayout(f"{source}: not a ControlNet (no control_model.*, zero_convs or "
                                      f"controlnet_cond_embedding tensors; {len(state)} tensors)")  # fmt: skip
    if layout == "ldm_bare":
        state = {LDM_PREFIX + k: v for k, v in state.items()}
    elif layout == "diffusers":
        state = _diffusers_to_ldm(state)
    try:
        config = arch.derive_controlnet_config(state, LDM_PREFIX, pooled_dim=pooled_dim)
    except (KeyError, StopIteration, IndexError) as exc:
        raise CheckpointKeyError(f"{source}: cannot read the ControlNet architecture ({exc!r})") from exc
    module = arch.build_controlnet(config, empty=True)
    shapes = {k: v.shape for k, v in module.state_dict().items()}
    tensors, sources = from_ldm("controlnet", shapes, state, config, LDM_PREFIX, source=source)
    used_keys = set(sources.values())
    extra = sorted(k for k in state if k not in used_keys and not _IGNORED.search(k))
    if extra:
        raise CheckpointKeyError(f"{source}: {len(extra)} unexpected tensors in the ControlNet, e.g. {extra[:3]}")
    target = dtype or devices.unet_dtype(device)
    converted = {k: v.to(device=device, dtype=target if v.is_floating_point() else v.dtype).contiguous()
                 for k, v in tensors.items()}  # fmt: skip
    if isinstance(state, MappedTensors) and device.type == "cpu":
        for key in used_keys:
            if state[key].dtype != target:
                state.release(key)
    module.load_state_dict(converted, strict=True, assign=True)
    return ControlNet(module.eval().requires_grad_(False), arch.controlnet_family(state, LDM_PREFIX), source)


def load_controlnet(
    path: str | Path, *, device: torch.device | None = None, dtype: torch.dtype | None = None,
    pooled_dim: int | None = None,
) -> ControlNet:  # fmt: skip
    """ControlNetLoader: read a ControlNet file (safetensors, or ckpt/pth with ``weights_only``)."""
    state = read_state_dict(path)
    return load_controlnet_state(state, source=str(path), device=device, dtype=dtype, pooled_dim=pooled_dim)
