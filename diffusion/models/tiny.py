"""Tiny random SD-architecture models written as real single-file checkpoints (nothing downloaded).

Used by the test fixtures (tests/fixtures/tiny_models.py) and by `python server.py demo-model`, which
installs one so a newcomer can try the whole pipeline in seconds (it draws noise: the weights are random).

Builders return the diffusers/transformers modules *and* write them in the original LDM layout
through our own diffusers->LDM key mapping, so tests can compare a load against the source
modules tensor for tensor. Every tensor is perturbed so no weight is zero-initialised
(ControlNet zero-convs included). Same seed -> bit-identical files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from transformers import CLIPTextConfig

from diffusion.models import convert
from diffusion.models.architectures import (
    build_controlnet,
    build_text_encoder,
    build_unet,
    build_vae,
    family_config,
)
from diffusion.types import Family

#: Small enough that building and writing a whole checkpoint takes well under a second.
TINY_UNET_CHANNELS = [32, 64, 64, 64]
TINY_VAE_CHANNELS = [32, 64, 64, 64]
TINY_TEXT_WIDTH = 32


@dataclass
class TinyModel:
    """The source modules of a tiny checkpoint (for comparisons) and its LDM-layout tensors."""

    family: Family
    unet: torch.nn.Module
    vae: torch.nn.Module
    text_encoders: list[torch.nn.Module]
    unet_config: dict[str, Any]
    vae_config: dict[str, Any]
    ldm_state: dict[str, torch.Tensor] = field(default_factory=dict)


def perturb_(module: torch.nn.Module, generator: torch.Generator, scale: float = 0.05) -> None:
    """Add seeded noise to every parameter so nothing stays at its (often zero) initial value."""
    with torch.no_grad():
        for _, param in sorted(module.named_parameters()):
            noise = torch.randn(param.shape, generator=generator, dtype=torch.float32)
            param.add_(noise.to(param.dtype) * scale)


def _text_config(layers: int, act: str, projection: bool, width: int = TINY_TEXT_WIDTH) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=49408,
        hidden_size=width,
        intermediate_size=width * 2,
        num_hidden_layers=layers,
        num_attention_heads=1,  # max(1, width // 64), the loader's rule
        max_position_embeddings=77,
        hidden_act=act,
        projection_dim=width,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=1,
    )


def _schedule_tensors() -> dict[str, torch.Tensor]:
    # Real single files carry these; loaders must ignore them.
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    return {"betas": betas.float(), "alphas_cumprod": torch.cumprod(1.0 - betas, 0).float()}


def _unet_config(family: Family) -> dict[str, Any]:
    config = dict(family_config(family)["unet"])
    if family in ("sd1", "sd2"):
        config.update(block_out_channels=TINY_UNET_CHANNELS, sample_size=8)
        config["cross_attention_dim"] = TINY_TEXT_WIDTH
        config["attention_head_dim"] = 8 if family == "sd1" else [1, 1, 1, 1]
        config["transformer_layers_per_block"] = 1
    elif family == "sdxl":
        config.update(
            block_out_channels=[32, 64, 64],
            sample_size=8,
            attention_head_dim=[1, 1, 1],
            transformer_layers_per_block=[1, 1, 2],
            cross_attention_dim=TINY_TEXT_WIDTH * 2,
            addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=6 * 8 + TINY_TEXT_WIDTH,
        )
    else:  # sdxl_refiner: OpenCLIP-G only, 5 time ids (size, crop, aesthetic score)
        config.update(
            block_out_channels=TINY_UNET_CHANNELS,
            sample_size=8,
            attention_head_dim=[1, 1, 1, 1],
            transformer_layers_per_block=1,
            cross_attention_dim=TINY_TEXT_WIDTH,
            addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=5 * 8 + TINY_TEXT_WIDTH,
        )
    return config


def _vae_config(family: Family) -> dict[str, Any]:
    config = dict(family_config(family)["vae"])
    config.update(block_out_channels=TINY_VAE_CHANNELS, sample_size=64)
    return config


def build_tiny(family: Family, seed: int = 0, *, v_prediction: bool = False, in_channels: int = 4) -> TinyModel:
    """Build tiny random modules of ``family`` and their LDM-layout state dict.

    ``in_channels`` 8 makes an InstructPix2Pix UNet, 9 an inpainting UNet (latent + concat conditioning).
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    unet_config, vae_config = _unet_config(family), _vae_config(family)
    unet_config["in_channels"] = in_channels
    unet, vae = build_unet(unet_config, empty=False), build_vae(vae_config, empty=False)
    encoders_spec = family_config(family)["text_encoders"]
    encoders = []
    for spec in encoders_spec:
        text_config = _text_config(
            layers=3 if spec["layout"] == "open_clip" else 2,
            act=spec["hidden_act"],
            projection=spec["with_projection"],
        )
        encoders.append(build_text_encoder(text_config, with_projection=spec["with_projection"], empty=False))
    for module in (unet, vae, *encoders):
        perturb_(module, generator)
        module.eval()
    if v_prediction:
        _mark_v_prediction(unet)
    state: dict[str, torch.Tensor] = {}
    state.update(convert.to_ldm("unet", unet.state_dict(), unet_config, "model.diffusion_model."))
    state.update(convert.to_ldm("vae", vae.state_dict(), vae_config, "first_stage_model."))
    for spec, encoder in zip(encoders_spec, encoders, strict=True):
        state.update(convert.to_ldm(spec["layout"], encoder.state_dict(), {}, spec["prefix"]))
        if spec["layout"] == "clip":
            ids = torch.arange(77, dtype=torch.int64)[None]
            state[spec["prefix"] + "text_model.embeddings.position_ids"] = ids
    state.update(_schedule_tensors())
    return TinyModel(family, unet, vae, encoders, unet_config, vae_config, state)


def _mark_v_prediction(unet: torch.nn.Module) -> None:
    """Make the tensor ComfyUI inspects for SD2 v-prediction (std > 0.09) look like a 768-v model."""
    name = "up_blocks.3.attentions.2.transformer_blocks.0.norm1.bias"
    param = dict(unet.named_parameters())[name]
    with torch.no_grad():
        param.copy_(torch.linspace(-1.0, 1.0, param.numel()))


def write_checkpoint(model: TinyModel, path: Path, dtype: torch.dtype = torch.float32) -> Path:
    """Write ``model`` as one LDM-layout ``.safetensors`` file (float tensors cast to ``dtype``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in model.ldm_state.items()}
    save_file(tensors, str(path), metadata={"format": "pt"})
    return path


def write_tiny_sd1_checkpoint(path: Path, seed: int = 0) -> Path:
    """Write a tiny random SD1.x checkpoint to ``path`` (used by tests and the demo-model command)."""
    return write_checkpoint(build_tiny("sd1", seed), path)


def install_demo_checkpoint(base_dir: Path, name: str = "tiny_sd1.safetensors", seed: int = 0) -> Path:
    """Write a tiny SD1.x checkpoint into ``<base_dir>/models/checkpoints/`` and return its path."""
    return write_tiny_sd1_checkpoint(base_dir / "models" / "checkpoints" / name, seed)


# --------------------------------------------------------------------------- ControlNet and LoRA


@dataclass
class TinyControlNet:
    """A tiny ControlNet derived from a tiny UNet, and its LDM tensors (``control_model.`` prefix)."""

    module: torch.nn.Module
    config: dict[str, Any]
    ldm_state: dict[str, torch.Tensor]


def build_tiny_controlnet(model: TinyModel, seed: int = 1) -> TinyControlNet:
    """A ControlNet with the encoder of ``model``'s UNet, every tensor (zero-convs too) random."""
    from diffusers import ControlNetModel

    cn = ControlNetModel.from_unet(model.unet, conditioning_embedding_out_channels=(16, 32, 96, 256))
    perturb_(cn, torch.Generator().manual_seed(seed))
    cn.eval()
    config = dict(cn.config)
    rebuilt = build_controlnet(config, empty=False)  # proves the config alone rebuilds the module
    rebuilt.load_state_dict(cn.state_dict())
    state = convert.to_ldm("controlnet", cn.state_dict(), config, "control_model.")
    return TinyControlNet(rebuilt.eval(), config, state)


def write_controlnet(cn: TinyControlNet, path: Path, *, layout: str = "ldm") -> Path:
    """Write the ControlNet as ``ldm`` (``control_model.*``), ``ldm_bare`` (no prefix) or ``diffusers``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if layout == "ldm":
        tensors = cn.ldm_state
    elif layout == "ldm_bare":
        tensors = {k.removeprefix("control_model."): v for k, v in cn.ldm_state.items()}
    else:
        tensors = {k: v.contiguous() for k, v in cn.module.state_dict().items()}
    save_file(dict(tensors), str(path))
    return path


def lora_targets(unet: torch.nn.Module, text_encoder: torch.nn.Module) -> list[tuple[str, str]]:
    """(component, diffusers module path) pairs a typical LoRA trains: attention q/k/v/out, CLIP attn."""
    targets = [
        ("unet", name)
        for name, mod in unet.named_modules()
        if isinstance(mod, torch.nn.Linear) and name.split(".")[-1] in ("to_q", "to_k", "to_v", "0") and ".attn" in name
    ]
    targets += [
        ("te", name)
        for name, mod in text_encoder.named_modules()
        if isinstance(mod, torch.nn.Linear) and name.endswith(("q_proj", "v_proj"))
    ]
    return targets


def build_tiny_lora(
    model: TinyModel, rank: int = 4, seed: int = 2, alpha: float = 2.0
) -> dict[str, dict[str, torch.Tensor]]:
    """Random LoRA factors keyed by (component-prefixed) diffusers module path: {"up", "down", "alpha"}."""
    generator = torch.Generator().manual_seed(seed)
    factors: dict[str, dict[str, torch.Tensor]] = {}
    unet_modules = dict(model.unet.named_modules())
    te_modules = dict(model.text_encoders[0].named_modules())
    for component, name in lora_targets(model.unet, model.text_encoders[0]):
        linear = (unet_modules if component == "unet" else te_modules)[name]
        assert isinstance(linear, torch.nn.Linear)
        down = torch.randn(rank, linear.in_features, generator=generator) * 0.1
        up = torch.randn(linear.out_features, rank, generator=generator) * 0.1
        factors[f"{component}:{name}"] = {"up": up, "down": down, "alpha": torch.tensor(alpha)}
    return factors


def write_lora(factors: dict[str, dict[str, torch.Tensor]], path: Path, *, layout: str = "kohya") -> Path:
    """Write LoRA factors as ``kohya`` (``lora_unet_*``/``lora_te_*``) or ``peft`` (diffusers) keys."""
    tensors: dict[str, torch.Tensor] = {}
    for target, f in factors.items():
        component, name = target.split(":")
        if layout == "kohya":
            module = name if component == "unet" else f"text_model.{name}"
            stem = f"lora_{component}_" + module.replace(".", "_")
            tensors[f"{stem}.lora_up.weight"] = f["up"]
            tensors[f"{stem}.lora_down.weight"] = f["down"]
            tensors[f"{stem}.alpha"] = f["alpha"]
        else:
            module = f"unet.{name}" if component == "unet" else f"text_encoder.text_model.{name}"
            rank = f["down"].shape[0]
            # PEFT files carry no alpha; fold alpha/rank into B so the delta is the same.
            tensors[f"{module}.lora_A.weight"] = f["down"]
            tensors[f"{module}.lora_B.weight"] = f["up"] * (f["alpha"] / rank)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path
