"""Diffusion-model-only files (UNETLoader): SD3/SD3.5 MMDiTs in ComfyUI's layout, bare or under
``model.diffusion_model.``.

``weight_dtype`` fp8_e4m3fn / fp8_e4m3fn_fast / fp8_e5m2 rounds every floating weight through that fp8 format,
so results carry fp8 weight precision as in ComfyUI; the weights are then held in the compute dtype (the memory
saving of keeping fp8 in memory with per-layer upcast is not implemented yet).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch

from diffusion import devices
from diffusion.models import architectures as arch
from diffusion.models import sd3
from diffusion.models.checkpoint import _check_leftovers, sd3_model
from diffusion.models.files import read_state_dict
from diffusion.models.model import UnetModel

WeightDtype = Literal["default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"]
_FP8: dict[str, torch.dtype] = {
    "fp8_e4m3fn": torch.float8_e4m3fn, "fp8_e4m3fn_fast": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2,
}


def _prefix_of(state: dict[str, torch.Tensor]) -> str:
    for prefix in ("model.diffusion_model.", ""):
        if sd3.is_sd3(state, prefix):
            return prefix
    raise arch.UnknownModelLayout(
        f"not a supported diffusion model (SD3/SD3.5 MMDiT joint_blocks expected); {len(state)} tensors, e.g. "
        f"{sorted(state)[:3]}")


def load_diffusion_model_state(
    state: dict[str, torch.Tensor], *, source: str, weight_dtype: WeightDtype = "default",
    device: torch.device | None = None,
) -> UnetModel:
    """Build the MODEL value of a diffusion-model-only state dict."""
    device = device or devices.default_device()
    try:
        prefix = _prefix_of(state)
    except arch.UnknownModelLayout as exc:
        raise arch.UnknownModelLayout(f"{source}: {exc}") from exc
    if weight_dtype in _FP8:
        fp8 = _FP8[weight_dtype]
        state = {k: v.to(fp8).to(torch.float32) if v.is_floating_point() else v for k, v in state.items()}
    used: set[str] = set()
    transformer = sd3.load_sd3_transformer(state, prefix, used, device=device, dtype=devices.unet_dtype(device),
                                           source=source)
    _check_leftovers(state, used, source)
    return sd3_model(transformer, source)


def load_diffusion_model(path: str | Path, weight_dtype: WeightDtype = "default", *,
                         device: torch.device | None = None) -> UnetModel:
    """UNETLoader: read a diffusion-model file (safetensors, or ckpt/pt with ``weights_only``)."""
    return load_diffusion_model_state(read_state_dict(path), source=str(path), weight_dtype=weight_dtype,
                                      device=device)
