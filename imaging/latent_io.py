"""`.latent` files as ComfyUI writes them: safetensors with `latent_tensor` and a format-version marker.

SD's VAE latents were once stored pre-multiplied by the SD1 scale factor; a file without the
`latent_format_version_0` tensor is that older format, and its samples are divided by 0.18215 on load.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

LATENT_TENSOR = "latent_tensor"
FORMAT_VERSION_MARKER = "latent_format_version_0"
#: Older files hold samples scaled by SD1's latent scale factor.
LEGACY_SCALE = 0.18215


class LatentFileError(ValueError):
    """A `.latent` file is unreadable or lacks its tensor; the message names the file."""


def latent_file_bytes(
    samples: torch.Tensor,
    *,
    prompt: Mapping[str, Any] | None = None,
    extra_pnginfo: Mapping[str, Any] | None = None,
) -> bytes:
    """A `.latent` file's bytes: samples [B, C, h, w] plus `prompt` and extra_pnginfo keys as JSON metadata."""
    metadata: dict[str, str] = {}
    if prompt is not None:
        metadata["prompt"] = json.dumps(prompt)
    for key, value in (extra_pnginfo or {}).items():
        metadata[key] = json.dumps(value)
    tensors = {LATENT_TENSOR: samples.detach().to("cpu").contiguous(), FORMAT_VERSION_MARKER: torch.tensor([])}
    return save(tensors, metadata=metadata or None)


def load_latent(path: Path) -> torch.Tensor:
    """The samples of a `.latent` file as float32, older-format files rescaled by 1/0.18215."""
    try:
        tensors = load_file(str(path), device="cpu")
    except (OSError, SafetensorError, ValueError) as error:
        raise LatentFileError(f"cannot read latent file {path.name}: {error}") from error
    if LATENT_TENSOR not in tensors:
        raise LatentFileError(
            f"latent file {path.name} has no {LATENT_TENSOR!r} tensor (found: {', '.join(sorted(tensors)) or 'none'})"
        )
    multiplier = 1.0 if FORMAT_VERSION_MARKER in tensors else 1.0 / LEGACY_SCALE
    return tensors[LATENT_TENSOR].float() * multiplier
