"""Standalone VAE files (VAELoader): LDM layout with or without ``first_stage_model.``, or diffusers layout."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch

from diffusion import devices
from diffusion.models import architectures as arch
from diffusion.models.convert import CheckpointKeyError, from_ldm, to_ldm
from diffusion.models.files import read_state_dict
from diffusion.vae import Vae

_IGNORED = re.compile(r"^(model_ema\.|loss\.|discriminator\.)|(^|\.)position_ids$")


def _as_ldm(state: Mapping[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """The VAE tensors with bare LDM names (``encoder.down.0...``)."""
    if any(k.startswith("first_stage_model.encoder.") for k in state):
        return {k.removeprefix("first_stage_model."): v for k, v in state.items() if k.startswith("first_stage_model.")}
    if any(k.startswith("encoder.down_blocks.") for k in state):
        levels = arch.count_indices(state, r"encoder\.down_blocks\.(\d+)\.")
        return to_ldm("vae", state, {"block_out_channels": [0] * levels}, "")
    if any(k.startswith("encoder.down.") for k in state):
        return dict(state)
    raise arch.UnknownModelLayout(f"{source}: not a VAE (no encoder.down / encoder.down_blocks tensors; "
                                  f"{len(state)} tensors)")  # fmt: skip


def load_vae_state(state: Mapping[str, torch.Tensor], *, source: str, device: torch.device | None = None) -> Vae:
    """Build the VAE value from a standalone VAE state dict; strict about keys."""
    device = device or devices.default_device()
    ldm = _as_ldm(state, source)
    try:
        config = arch.derive_vae_config("sd1", ldm, "")
    except (KeyError, IndexError) as exc:
        raise CheckpointKeyError(f"{source}: cannot read the VAE architecture ({exc!r})") from exc
    module = arch.build_vae(config, empty=True)
    shapes = {k: v.shape for k, v in module.state_dict().items()}
    tensors, sources = from_ldm("vae", shapes, ldm, config, "", source=source)
    used_keys = set(sources.values())
    extra = sorted(k for k in ldm if k not in used_keys and not _IGNORED.search(k))
    if extra:
        raise CheckpointKeyError(f"{source}: {len(extra)} unexpected tensors in the VAE, e.g. {extra[:3]}")
    dtype = devices.vae_dtype(device)
    module.load_state_dict(
        {k: v.to(device=device, dtype=dtype).contiguous() for k, v in tensors.items()}, strict=True, assign=True
    )
    module.eval().requires_grad_(False)
    return Vae(module=module, latent_channels=int(config["latent_channels"]), source=source)


def load_vae(path: str | Path, *, device: torch.device | None = None) -> Vae:
    """VAELoader: read a VAE file (safetensors, or ckpt/pt with ``weights_only``)."""
    return load_vae_state(read_state_dict(path), source=str(path), device=device)
