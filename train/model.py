"""Loom Mini's architecture: SD1.x modules at a size a CPU trains in an hour, and the LDM export.

Configs start from the shipped SD1 family JSON so the loader's rules (8 heads, 32 norm groups,
quick-GELU CLIP, 0.18215 latent scale) hold by construction; only widths and depths shrink.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import CLIPTextConfig

from diffusion.models import convert
from diffusion.models.architectures import build_controlnet, build_text_encoder, build_unet, build_vae, family_config
from diffusion.text.tokenizer import END_TOKEN, START_TOKEN, VOCAB_SIZE, clip_tokenizer

IMAGE_SIZE = 128
LATENT_SIZE = IMAGE_SIZE // 8
TEXT_WIDTH = 64
TEXT_LAYERS = 2
UNET_CHANNELS = [32, 64, 96, 96]
#: Cross-attention on the 8×8 and 4×4 levels only: attention over 16×16 tokens costs most of a CPU step.
UNET_ATTENTION = [False, True, True, False]
VAE_CHANNELS = [32, 64, 64, 64]
LATENT_SCALE = 0.18215
SCHEDULE = family_config("sd1")["schedule"]


def unet_config() -> dict[str, Any]:
    config = dict(family_config("sd1")["unet"])
    config.update(
        block_out_channels=UNET_CHANNELS,
        layers_per_block=1,
        cross_attention_dim=TEXT_WIDTH,
        sample_size=LATENT_SIZE,
        down_block_types=["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in UNET_ATTENTION],
        up_block_types=["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(UNET_ATTENTION)],
        transformer_layers_per_block=1,
    )
    return config


def vae_config() -> dict[str, Any]:
    config = dict(family_config("sd1")["vae"])
    config.update(block_out_channels=VAE_CHANNELS, layers_per_block=1, sample_size=IMAGE_SIZE)
    return config


def text_config() -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=TEXT_WIDTH,
        intermediate_size=TEXT_WIDTH * 4,
        num_hidden_layers=TEXT_LAYERS,
        num_attention_heads=max(1, TEXT_WIDTH // 64),  # the loader's rule for SD1's CLIP-L (64-wide heads)
        max_position_embeddings=77,
        hidden_act="quick_gelu",
        projection_dim=TEXT_WIDTH,
        bos_token_id=START_TOKEN,
        eos_token_id=END_TOKEN,
        pad_token_id=1,
    )


def build_modules() -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
    """Fresh (unet, vae, text encoder) with diffusers/transformers default initialisation."""
    unet = build_unet(unet_config(), empty=False)
    vae = build_vae(vae_config(), empty=False)
    text = build_text_encoder(text_config(), with_projection=False, empty=False)
    return unet, vae, text


def tokenize(captions: list[str]) -> torch.Tensor:
    """Token ids [n, 77] exactly as the runtime's CLIP-L path builds them: start, words, end, end-padding."""
    tokenizer = clip_tokenizer()
    rows = []
    for caption in captions:
        ids: list[int] = tokenizer(caption, add_special_tokens=False)["input_ids"][:75]
        row = [START_TOKEN, *ids, END_TOKEN]
        rows.append(row + [END_TOKEN] * (77 - len(row)))
    return torch.tensor(rows, dtype=torch.int64)


def _palette_axis() -> torch.Tensor:
    """The RGB direction along which the world's colours spread most (first principal component)."""
    from train.world import COLOURS

    colours = torch.tensor(list(COLOURS.values()), dtype=torch.float64) / 127.5 - 1.0
    centred = colours - colours.mean(0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    axis: torch.Tensor = vh[0].float()
    return axis


def _raw_code(images: torch.Tensor) -> torch.Tensor:
    pooled = F.avg_pool2d(images, 8)
    tone = (images * _palette_axis().view(1, 3, 1, 1)).sum(1, keepdim=True)
    # A second grid offset by half a cell: where inside a cell an edge lies, at no extra channel cost.
    shifted = F.avg_pool2d(F.pad(tone, (4, 4, 4, 4), mode="replicate"), 8)[..., : pooled.shape[-2], : pooled.shape[-1]]
    return torch.cat([pooled, shifted], 1)


@cache
def _code_statistics() -> tuple[torch.Tensor, torch.Tensor]:
    from train.world import render_array, sample_scene

    arrays = np.stack([render_array(sample_scene(s)) for s in range(512)])
    images = torch.from_numpy(arrays).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    code = _raw_code(images)
    return code.mean(dim=(0, 2, 3)), code.std(dim=(0, 2, 3))


def analysis_latents(images: torch.Tensor) -> torch.Tensor:
    """The latent code Loom Mini's VAE is trained to produce: [n, 3, H, W] in [-1, 1] -> [n, 4, H/8, W/8].

    Channels: average colour of each 8×8 cell (3) and the colour tone on a half-cell-shifted grid (1),
    standardised over the world; these are *scaled* latents (raw latent × 0.18215). Fixing the code
    up front lets the UNet train on it from the first minute, in parallel with the VAE that learns to
    produce (encoder) and invert (decoder) it; a learned code would serialise the two.
    """
    mean, std = _code_statistics()
    code: torch.Tensor = (_raw_code(images) - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
    return code


def schedule_tensors() -> dict[str, torch.Tensor]:
    betas = torch.linspace(SCHEDULE["beta_start"] ** 0.5, SCHEDULE["beta_end"] ** 0.5, 1000, dtype=torch.float64) ** 2
    return {"betas": betas.float(), "alphas_cumprod": torch.cumprod(1.0 - betas, 0).float()}


def add_noise(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The forward process of the SD1 schedule: sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) ε."""
    alpha = schedule_tensors()["alphas_cumprod"][t].view(-1, 1, 1, 1)
    return alpha.sqrt() * x0 + (1 - alpha).sqrt() * noise


def min_snr_weight(t: torch.Tensor, gamma: float = 5.0) -> torch.Tensor:
    """Min-SNR-γ loss weight for the epsilon objective (Hang et al. 2023): min(SNR, γ) / SNR."""
    alpha = schedule_tensors()["alphas_cumprod"][t]
    snr = alpha / (1 - alpha)
    return torch.clamp(snr, max=gamma) / snr


def ldm_state(unet: torch.nn.Module, vae: torch.nn.Module, text: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The single-file SD1.x layout (model.diffusion_model / first_stage_model / cond_stage_model)."""
    state: dict[str, torch.Tensor] = {}
    state.update(convert.to_ldm("unet", unet.state_dict(), unet_config(), "model.diffusion_model."))
    state.update(convert.to_ldm("vae", vae.state_dict(), vae_config(), "first_stage_model."))
    prefix = family_config("sd1")["text_encoders"][0]["prefix"]
    state.update(convert.to_ldm("clip", text.state_dict(), {}, prefix))
    state[prefix + "text_model.embeddings.position_ids"] = torch.arange(77, dtype=torch.int64)[None]
    state.update(schedule_tensors())
    return state


def write_single_file(state: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> Path:
    """Float tensors as fp16 (the loader casts to the device dtype), everything contiguous."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    save_file(tensors, str(path), metadata={"format": "pt", **metadata})
    return path


def controlnet_from_unet(unet: Any) -> torch.nn.Module:
    """A ControlNet initialised from ``unet``'s encoder (zero convs at zero), as ControlNet training does."""
    from diffusers import ControlNetModel

    cn = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32, 64, 128))
    rebuilt = build_controlnet(dict(cn.config), empty=False)
    rebuilt.load_state_dict(cn.state_dict())
    return rebuilt
