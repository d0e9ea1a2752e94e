"""Diffusers-format model folders (``model_index.json`` + ``unet/ vae/ text_encoder/ ...``), offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTextModelWithProjection

from diffusion import devices
from diffusion.models import architectures as arch
from diffusion.models.model import UnetModel, UnknownVariant, model_variant, training_alphas_cumprod
from diffusion.text.clip import Clip, TextEncoder
from diffusion.text.tokenizer import END_TOKEN
from diffusion.types import Family, PredictionType
from diffusion.vae import Vae


def _json(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise arch.UnknownModelLayout(f"{path}: cannot read the diffusers config ({exc})") from exc
    return data


def _family(folder: Path, index: dict[str, Any], unet_config: dict[str, Any]) -> Family:
    if "text_encoder_2" in index and index.get("text_encoder_2", [None])[0]:
        has_first = bool(index.get("text_encoder", [None])[0])
        return "sdxl" if has_first else "sdxl_refiner"
    if unet_config.get("addition_embed_type"):
        raise arch.UnknownModelLayout(f"{folder}: SDXL-style UNet without SDXL text encoders in model_index.json")
    # SD2 introduced linear attention projections; SD1 uses 1x1 convolutions.
    return "sd2" if unet_config.get("use_linear_projection") else "sd1"


def _pretrained(model_class: Any, folder: Path, dtype: torch.dtype, device: torch.device) -> torch.nn.Module:
    kwargs: dict[str, Any] = {"local_files_only": True}
    kwargs["torch_dtype" if model_class in (UNet2DConditionModel, AutoencoderKL) else "dtype"] = dtype
    module: torch.nn.Module = model_class.from_pretrained(str(folder), **kwargs)
    return module.to(device).eval().requires_grad_(False)


def load_diffusers_folder(
    folder: Path, *, device: torch.device | None = None, dtype: torch.dtype | None = None
) -> tuple[UnetModel, Clip, Vae]:
    """Load MODEL, CLIP and VAE from a diffusers pipeline folder (no network)."""
    device = device or devices.default_device()
    index = _json(folder / "model_index.json")
    unet_config = _json(folder / "unet" / "config.json")
    family = _family(folder, index, unet_config)
    config = arch.family_config(family)
    unet = _pretrained(UNet2DConditionModel, folder / "unet", dtype or devices.unet_dtype(device), device)
    vae_module = _pretrained(AutoencoderKL, folder / "vae", devices.vae_dtype(device), device)
    subfolders = ["text_encoder", "text_encoder_2"] if family == "sdxl" else (
        ["text_encoder_2"] if family == "sdxl_refiner" else ["text_encoder"])  # fmt: skip
    encoders = []
    for spec, sub in zip(config["text_encoders"], subfolders, strict=True):
        model_class = CLIPTextModelWithProjection if spec["with_projection"] else CLIPTextModel
        module = _pretrained(model_class, folder / sub, devices.text_encoder_dtype(device), device)
        default_layer = int(spec["default_layer"])
        layers = int(_json(folder / sub / "config.json")["num_hidden_layers"])
        if family == "sd2" and layers == 23:
            default_layer = -1  # diffusers ships SD2's OpenCLIP-H without its last layer: penultimate is last
        encoders.append(
            TextEncoder(spec["name"], module, default_layer, bool(spec["layer_norm_hidden_state"]),
                        0 if spec["layout"] == "open_clip" else END_TOKEN, bool(spec["with_projection"]))
        )  # fmt: skip
    scheduler = folder / "scheduler" / "scheduler_config.json"
    prediction: PredictionType = "epsilon"
    if scheduler.is_file() and _json(scheduler).get("prediction_type") == "v_prediction":
        prediction = "v_prediction"
    vae_config = _json(folder / "vae" / "config.json")
    latent_channels = int(vae_config.get("latent_channels", 4))
    try:
        variant = model_variant(int(unet_config.get("in_channels", 4)), latent_channels)
    except UnknownVariant as exc:
        raise arch.UnknownModelLayout(f"{folder}: {exc}") from exc
    model = UnetModel(
        unet=unet,
        family=family,
        prediction_type=prediction,
        alphas_cumprod=training_alphas_cumprod(config["schedule"]),
        latent_scale_factor=float(config["latent_scale_factor"]),
        latent_channels=latent_channels,
        variant=variant,
        source=str(folder),
    )
    vae = Vae(vae_module, latent_channels, source=str(folder))
    return model, Clip(family=family, encoders=tuple(encoders)), vae
