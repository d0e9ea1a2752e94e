"""LoRA files -> weight patches for the UNet and text encoders (kohya/LDM and diffusers/PEFT key styles).

Accepted spellings of one layer (``<stem>`` names a Linear/Conv module):

* kohya: ``lora_unet_<diffusers or LDM module path with _>`` / ``lora_te_``, ``lora_te1_``, ``lora_te2_``
  with ``.lora_down.weight``, ``.lora_up.weight`` and optional ``.alpha``;
* diffusers/PEFT: ``unet.<path>`` / ``text_encoder.<path>`` / ``text_encoder_2.<path>`` with
  ``.lora_A.weight``/``.lora_B.weight`` or ``.lora.down.weight``/``.lora.up.weight`` (optional ``.alpha``).
ΔW = up @ down · alpha/rank (alpha defaults to rank). Keys that match nothing are reported; a file of
which nothing matches is an error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from diffusion.models.architectures import text_state_key
from diffusion.models.files import read_state_dict
from diffusion.models.ldm_keys import unet_key_to_ldm
from diffusion.models.model import UnetModel
from diffusion.models.patches import LowRankDelta, WeightPatch
from diffusion.text.clip import Clip
from graph.fingerprint import file_fingerprint

log = logging.getLogger(__name__)

_SUFFIXES = (
    (".lora_down.weight", "down"),
    (".lora_up.weight", "up"),
    (".lora_A.weight", "down"),
    (".lora_B.weight", "up"),
    (".lora.down.weight", "down"),
    (".lora.up.weight", "up"),
    (".alpha", "alpha"),
)


#: Tensor-name markers of LoRA variants whose update is not ``up @ down`` (refused rather than misapplied).
_UNSUPPORTED = {
    ".lora_mid.weight": "LoCon with CP decomposition",
    ".dora_scale": "DoRA",
    ".hada_w1_a": "LoHa",
    ".lokr_w1": "LoKr",
    ".diff": "full-weight diff",
}


class LoraError(ValueError):
    """A LoRA file that does not fit the model it is applied to."""


@dataclass(frozen=True)
class LoraLayer:
    """One layer's factors as stored in the file."""

    up: torch.Tensor
    down: torch.Tensor
    alpha: float | None

    def delta(self) -> LowRankDelta:
        """The low-rank update with the alpha/rank scale."""
        rank = self.down.shape[0]
        return LowRankDelta(self.up, self.down, (self.alpha if self.alpha is not None else rank) / rank)


def group_layers(tensors: Mapping[str, torch.Tensor], source: str) -> dict[str, LoraLayer]:
    """Group a LoRA file's tensors by layer stem."""
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key in tensors:
        for marker, variant in _UNSUPPORTED.items():
            if key.endswith(marker) or f"{marker}." in key:
                raise LoraError(f"{source}: {variant} layers ({key}) are not supported; only plain LoRA (up/down)")
    for key, tensor in tensors.items():
        for suffix, role in _SUFFIXES:
            if key.endswith(suffix):
                parts.setdefault(key[: -len(suffix)], {})[role] = tensor
                break
    layers: dict[str, LoraLayer] = {}
    for stem, found in parts.items():
        if "up" not in found or "down" not in found:
            raise LoraError(f"{source}: LoRA layer {stem} lacks its {'up' if 'up' not in found else 'down'} factor")
        alpha = found.get("alpha")
        layers[stem] = LoraLayer(found["up"], found["down"], float(alpha) if alpha is not None else None)
    if not layers:
        raise LoraError(f"{source}: no LoRA layers found (expected lora_up/lora_down or lora_A/lora_B tensors)")
    return layers


@lru_cache(maxsize=8)
def _read_layers(fingerprint: str, path: Path) -> dict[str, LoraLayer]:
    del fingerprint  # cache key only
    return group_layers(read_state_dict(path), str(path))


def read_lora(path: str | Path) -> dict[str, LoraLayer]:
    """The layers of a LoRA file (cached by file fingerprint)."""
    path = Path(path)
    return _read_layers(file_fingerprint(path), path)


def _unet_names(unet: torch.nn.Module, config: Mapping[str, Any]) -> dict[str, str]:
    """Every accepted stem for each UNet weight -> the diffusers parameter name."""
    names: dict[str, str] = {}
    for name, _ in unet.named_parameters():
        if not name.endswith(".weight"):
            continue
        module = name[: -len(".weight")]
        names["unet." + module] = name
        names["lora_unet_" + module.replace(".", "_")] = name
        try:
            ldm = unet_key_to_ldm(name, config)[: -len(".weight")]
        except KeyError:
            continue
        names["lora_unet_" + ldm.replace(".", "_")] = name
    return names


def _text_names(module: torch.nn.Module, kohya: str, diffusers: str) -> dict[str, str]:
    names: dict[str, str] = {}
    for name, _ in module.named_parameters():
        if not name.endswith(".weight"):
            continue
        stem = text_state_key(name)[: -len(".weight")]
        names[f"{kohya}_{stem.replace('.', '_')}"] = name
        names[f"{diffusers}.{stem}"] = name
    return names


def _patches(
    layers: Mapping[str, LoraLayer], names: Mapping[str, str], module: torch.nn.Module, strength: float,
    used: set[str], source: str,
) -> tuple[WeightPatch, ...]:  # fmt: skip
    params = dict(module.named_parameters())
    patches = []
    for stem, layer in layers.items():
        target = names.get(stem)
        if target is None:
            continue
        used.add(stem)
        weight = params[target]
        rows, cols = layer.up.shape[0], layer.down.flatten(start_dim=1).shape[1]
        if rows * cols != weight.numel() or weight.shape[0] != rows:
            raise LoraError(f"{source}: LoRA layer {stem} is {rows}x{cols}, the weight is {list(weight.shape)}")
        patches.append(WeightPatch(target, layer.delta(), strength))
    return tuple(patches)


def _config_of(module: torch.nn.Module) -> Mapping[str, Any]:
    """A diffusers model's config (a FrozenDict attribute diffusers does not type)."""
    config: Mapping[str, Any] = module.__dict__["_internal_dict"]
    return config


def _encoder_prefixes(clip: Clip) -> list[tuple[str, str, str]]:
    """(encoder name, kohya prefix, diffusers prefix) for each text encoder."""
    if len(clip.encoders) == 2:
        return [
            (clip.encoders[0].name, "lora_te1", "text_encoder"),
            (clip.encoders[1].name, "lora_te2", "text_encoder_2"),
        ]
    return [(clip.encoders[0].name, "lora_te", "text_encoder")]


def apply_lora(
    model: UnetModel | None, clip: Clip | None, path: str | Path, strength_model: float, strength_clip: float
) -> tuple[UnetModel | None, Clip | None]:
    """LoraLoader: new MODEL/CLIP values with the LoRA's patches added (the cached bases are untouched)."""
    source = str(path)
    layers = read_lora(path)
    used: set[str] = set()
    new_model, new_clip = model, clip
    if model is not None:
        names = _unet_names(model.unet, _config_of(model.unet))
        new_model = model.with_patches(_patches(layers, names, model.unet, strength_model, used, source))
    if clip is not None:
        for encoder_name, kohya, diffusers in _encoder_prefixes(clip):
            encoder = clip.encoder(encoder_name).module
            names = _text_names(encoder, kohya, diffusers)
            patches = _patches(layers, names, encoder, strength_clip, used, source)
            if new_clip is not None:
                new_clip = new_clip.with_patches(encoder_name, patches)
    if not used:
        raise LoraError(f"{source}: none of its {len(layers)} layers matches this model (wrong model family?)")
    skipped_parts = (() if model is not None else ("lora_unet", "unet.")) + (
        () if clip is not None else ("lora_te", "text_encoder")
    )
    ignored = [stem for stem in layers if stem not in used and not stem.startswith(skipped_parts)]
    if ignored:
        log.warning("%s: %d LoRA layers not applied, e.g. %s", source, len(ignored), ", ".join(ignored[:3]))
    return new_model, new_clip
