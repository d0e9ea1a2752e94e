"""Standalone text-encoder files (CLIPLoader, DualCLIPLoader, TripleCLIPLoader) and the CLIP values they form.

A file holds one encoder in transformers layout, with or without a prefix: CLIP-L or CLIP-G
(``text_model.encoder.layers.*``; CLIP-G when it has 31+ layers, ComfyUI's rule) or T5 v1.1
(``encoder.block.*``). Files are cached one by one, so the same T5 file serves SD3 and Flux workflows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from diffusion import devices
from diffusion.models import architectures as arch
from diffusion.models import sd3
from diffusion.models.checkpoint import _text_encoders
from diffusion.models.convert import CheckpointKeyError
from diffusion.models.files import read_state_dict
from diffusion.text.clip import Clip, TextEncoder
from diffusion.text.t5 import T5Encoder
from diffusion.types import Family

TextPart = TextEncoder | T5Encoder

_CLIP_PREFIXES = {"clip_l": "text_encoders.clip_l.transformer.", "clip_g": "text_encoders.clip_g.transformer."}


def _strip(state: Mapping[str, torch.Tensor], marker: str) -> dict[str, torch.Tensor] | None:
    """The tensors re-rooted at the prefix before ``marker`` (None when no key contains it)."""
    head = next((k[: k.index(marker)] for k in state if marker in k), None)
    if head is None:
        return None
    return {k[len(head):]: v for k, v in state.items() if k.startswith(head)}


def load_text_encoder_state(
    state: Mapping[str, torch.Tensor], *, source: str, device: torch.device | None = None
) -> TextPart:
    """One text encoder from a standalone file's tensors."""
    device = device or devices.default_device()
    t5 = _strip(state, "encoder.block.0.layer.0.SelfAttention.q.weight")
    if t5 is not None:
        module = sd3.load_t5(t5, "", set(), device=device, dtype=sd3.text_dtype(device), source=source)
        return T5Encoder(module)
    clip = _strip(state, "text_model.encoder.layers.0.")
    if clip is None:
        raise arch.UnknownModelLayout(
            f"{source}: not a supported text encoder (expected CLIP text_model.* or T5 encoder.block.* tensors)")
    layers = arch.count_indices(clip, r"text_model\.encoder\.layers\.(\d+)\.")
    name = "clip_g" if layers >= 31 else "clip_l"
    prefixed = {_CLIP_PREFIXES[name] + k: v for k, v in clip.items()}
    if _CLIP_PREFIXES[name] + "text_projection.weight" not in prefixed:
        raise CheckpointKeyError(f"{source}: {name} file without text_projection.weight (SD3 needs the projection)")
    encoders = _text_encoders("sd3", prefixed, set(), device, source)
    return next(e for e in encoders if e.name == name)


def load_text_encoder(path: str | Path, *, device: torch.device | None = None) -> TextPart:
    """Read one text-encoder file (safetensors, or ckpt/pt with ``weights_only``)."""
    return load_text_encoder_state(read_state_dict(path), source=str(path), device=device)


def clip_from_parts(node_id: str, clip_type: str, parts: Sequence[tuple[str, TextPart]]) -> Clip:
    """Assemble the CLIP value of ``clip_type`` from loaded parts (input name, part); clear errors otherwise."""
    family: Family
    if clip_type == "sd3":
        family = "sd3"
    else:
        raise ValueError(f"{node_id}: input 'type' {clip_type!r} is not supported yet (supported: sd3)")
    encoders: dict[str, TextEncoder] = {}
    t5: T5Encoder | None = None
    for input_name, part in parts:
        if isinstance(part, T5Encoder):
            if t5 is not None:
                raise ValueError(f"{node_id}: input '{input_name}' is a second T5 encoder")
            t5 = part
            continue
        if part.name in encoders:
            raise ValueError(f"{node_id}: input '{input_name}' is a second {part.name} encoder")
        encoders[part.name] = part
    ordered = tuple(encoders[n] for n in ("clip_l", "clip_g") if n in encoders)
    return Clip(family=family, encoders=ordered, t5=t5)
