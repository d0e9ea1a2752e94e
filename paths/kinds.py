"""Folder kinds as ComfyUI names them: model folders, user folders, extensions, and what people call them."""

from __future__ import annotations

from collections.abc import Mapping

#: File extensions ComfyUI lists as model files (`supported_pt_extensions`).
MODEL_EXTENSIONS = frozenset({".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"})
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".mpo"})
LATENT_EXTENSIONS = frozenset({".latent"})

#: Model folder kinds -> folder names under `models/` (ComfyUI's keys and paths, in its order).
DEFAULT_MODEL_FOLDERS: Mapping[str, tuple[str, ...]] = {
    "checkpoints": ("checkpoints",),
    "configs": ("configs",),
    "loras": ("loras",),
    "vae": ("vae",),
    "text_encoders": ("text_encoders", "clip"),
    "diffusion_models": ("unet", "diffusion_models"),
    "clip_vision": ("clip_vision",),
    "style_models": ("style_models",),
    "embeddings": ("embeddings",),
    "diffusers": ("diffusers",),
    "vae_approx": ("vae_approx",),
    "controlnet": ("controlnet", "t2i_adapter"),
    "gligen": ("gligen",),
    "upscale_models": ("upscale_models",),
    "hypernetworks": ("hypernetworks",),
    "photomaker": ("photomaker",),
    "classifiers": ("classifiers",),
    "model_patches": ("model_patches",),
    "audio_encoders": ("audio_encoders",),
}
#: Old names ComfyUI still accepts for two kinds (also in extra_model_paths.yaml).
LEGACY_KIND_NAMES: Mapping[str, str] = {"unet": "diffusion_models", "clip": "text_encoders"}
#: Extensions per kind where they differ from MODEL_EXTENSIONS.
KIND_EXTENSIONS: Mapping[str, frozenset[str]] = {"configs": frozenset({".yaml"})}
#: Folders that hold the user's files rather than models.
IO_KINDS = ("input", "output", "temp", "user")
#: main.py in ComfyUI lists saved models from output/ too.
OUTPUT_MODEL_SUBFOLDERS: Mapping[str, str] = {
    "checkpoints": "checkpoints",
    "text_encoders": "clip",
    "vae": "vae",
    "diffusion_models": "diffusion_models",
    "loras": "loras",
}
#: What a human calls each kind, for messages.
KIND_LABELS: Mapping[str, str] = {
    "checkpoints": "checkpoint",
    "loras": "LoRA",
    "vae": "VAE",
    "controlnet": "ControlNet model",
    "embeddings": "textual-inversion embedding",
    "upscale_models": "upscale model",
    "text_encoders": "text encoder",
    "diffusion_models": "diffusion model (UNet)",
}


def label(kind: str) -> str:
    """What a person calls a file of `kind` ("checkpoint", "input file"), for messages."""
    canonical = LEGACY_KIND_NAMES.get(kind, kind)
    if canonical in IO_KINDS:
        return f"{canonical} file"
    return KIND_LABELS.get(canonical, f"{canonical} file")
