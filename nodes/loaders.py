"""Model loader nodes with ComfyUI's names, inputs and defaults (checkpoints, VAE, ControlNet, LoRA)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import folders
from diffusion.models.cache import MODEL_CACHE
from diffusion.models.checkpoint import load_checkpoint
from diffusion.models.controlnet import load_controlnet
from diffusion.models.lora import apply_lora
from diffusion.models.vae_loader import load_vae
from graph.fingerprint import file_fingerprint
from graph.spec import Effects, Outputs, node
from graph.widgets import Choices, Range
from nodes.sockets import CLIP, CONTROL_NET, MODEL, VAE

LoraStrength = Annotated[float, Range(-100.0, 100.0, step=0.01)]

EMBEDDING_EXTENSIONS = ("", ".safetensors", ".pt", ".bin")
# Prompts name embeddings as `embedding:NAME`; no combo lists them, so the folder is declared here.
folders.declare_reader("embeddings", "every text encoder (embedding:NAME in a prompt)")


def _files(kind: str) -> Callable[[], list[str]]:
    def provider() -> list[str]:
        return folders.list_model_files(kind)

    provider.__name__ = f"list_{kind}"
    return provider


def _model_choices(kind: str) -> Choices:
    """The files of a model folder as a combo; an empty folder's error says where files go and what loads."""
    return Choices(_files(kind), source=kind, empty_hint=lambda: folders.missing_model_hint(kind))


def _fingerprint(kind: str, input_name: str) -> Callable[[Mapping[str, Any]], str]:
    def fingerprint(values: Mapping[str, Any]) -> str:
        return file_fingerprint(folders.model_path(kind, str(values[input_name])))

    return fingerprint


def resolve_embedding(name: str) -> Path | None:
    """``embedding:name`` -> the file in the embeddings folders (name with or without extension), or None."""
    for extension in EMBEDDING_EXTENSIONS:
        try:
            path = folders.resolve_path("embeddings", name + extension)
        except (folders.FolderError, OSError):
            continue
        if path.is_file():
            return path
    return None


class CheckpointOutputs(Outputs):
    model: MODEL
    clip: CLIP
    vae: VAE


@node(
    "CheckpointLoaderSimple",
    category="loaders",
    display_name="Load Checkpoint",
    effects=Effects.READS_FILES,
    fingerprint=_fingerprint("checkpoints", "ckpt_name"),
)
def checkpoint_loader_simple(
    ckpt_name: Annotated[str, _model_choices("checkpoints")],
) -> CheckpointOutputs:
    """Load a Stable Diffusion checkpoint (SD1.x, SD2.x, SDXL): the diffusion model, its CLIP and its VAE."""
    path = folders.model_path("checkpoints", ckpt_name)
    model, clip, vae = MODEL_CACHE.get("checkpoint", path, load_checkpoint)
    return CheckpointOutputs(model=model, clip=clip.with_embeddings(resolve_embedding), vae=vae)


class VaeOutputs(Outputs):
    vae: VAE


@node(
    "VAELoader",
    category="loaders",
    display_name="Load VAE",
    effects=Effects.READS_FILES,
    fingerprint=_fingerprint("vae", "vae_name"),
)
def vae_loader(vae_name: Annotated[str, _model_choices("vae")]) -> VaeOutputs:
    """Load a standalone VAE file."""
    return VaeOutputs(vae=MODEL_CACHE.get("vae", folders.model_path("vae", vae_name), load_vae))


class ControlNetOutputs(Outputs):
    control_net: CONTROL_NET


@node(
    "ControlNetLoader",
    category="loaders",
    display_name="Load ControlNet Model",
    effects=Effects.READS_FILES,
    fingerprint=_fingerprint("controlnet", "control_net_name"),
)
def controlnet_loader(
    control_net_name: Annotated[str, _model_choices("controlnet")],
) -> ControlNetOutputs:
    """Load a ControlNet (SD1.x, SD2.x or SDXL; LDM or diffusers layout)."""
    path = folders.model_path("controlnet", control_net_name)
    return ControlNetOutputs(control_net=MODEL_CACHE.get("controlnet", path, load_controlnet))


class LoraOutputs(Outputs):
    model: MODEL
    clip: CLIP


@node(
    "LoraLoader",
    category="loaders",
    display_name="Load LoRA",
    effects=Effects.READS_FILES,
    fingerprint=_fingerprint("loras", "lora_name"),
)
def lora_loader(
    model: MODEL,
    clip: CLIP,
    lora_name: Annotated[str, _model_choices("loras")],
    strength_model: LoraStrength = 1.0,
    strength_clip: LoraStrength = 1.0,
) -> LoraOutputs:
    """Apply a LoRA to the model and the CLIP with separate strengths (the loaded base stays untouched)."""
    if strength_model == 0 and strength_clip == 0:
        return LoraOutputs(model=model, clip=clip)
    new_model, new_clip = apply_lora(model, clip, folders.model_path("loras", lora_name), strength_model,
                                     strength_clip)  # fmt: skip
    assert new_model is not None and new_clip is not None
    return LoraOutputs(model=new_model, clip=new_clip)


class ModelOutputs(Outputs):
    model: MODEL


@node(
    "LoraLoaderModelOnly",
    category="loaders",
    effects=Effects.READS_FILES,
    fingerprint=_fingerprint("loras", "lora_name"),
)
def lora_loader_model_only(
    model: MODEL,
    lora_name: Annotated[str, _model_choices("loras")],
    strength_model: LoraStrength = 1.0,
) -> ModelOutputs:
    """Apply a LoRA to the diffusion model only."""
    if strength_model == 0:
        return ModelOutputs(model=model)
    new_model, _ = apply_lora(model, None, folders.model_path("loras", lora_name), strength_model, 0.0)
    assert new_model is not None
    return ModelOutputs(model=new_model)
