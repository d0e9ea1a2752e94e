"""Tiny random SD3/SD3.5 checkpoints in ComfyUI's single-file key layout (for tests; nothing downloaded).

The MMDiT is written through :func:`sd3_transformer_to_comfy`, the inverse of diffusers' single-file
converter (a test checks that the round trip is exact). The tiny MMDiT has qk RMS-norm and a dual-attention
layer, as SD3.5 Medium does, so those paths are exercised too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from diffusers import SD3Transformer2DModel
from safetensors.torch import save_file
from transformers import T5Config, T5EncoderModel

from diffusion.models import convert
from diffusion.models.architectures import build_text_encoder, build_vae, family_config
from diffusion.models.tiny import TINY_VAE_CHANNELS, _text_config, perturb_

T5_VOCAB = 32128  # T5 v1.1's embedding rows (the tokenizer's 32,100 ids plus padding rows)


@dataclass
class TinySd3:
    """Source modules (for comparisons) and the ComfyUI-layout tensors of a tiny SD3 checkpoint."""

    transformer: torch.nn.Module
    clip_l: torch.nn.Module
    clip_g: torch.nn.Module
    t5: torch.nn.Module
    vae: torch.nn.Module
    vae_config: dict[str, Any]
    state: dict[str, torch.Tensor] = field(default_factory=dict)


def _swap_halves(t: torch.Tensor) -> torch.Tensor:
    """diffusers orders adaLN (scale, shift) where the reference has (shift, scale): the swap is its own inverse."""
    first, second = t.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def sd3_transformer_to_comfy(sd: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    """diffusers ``SD3Transformer2DModel`` state dict -> reference MMDiT keys (without the model prefix)."""
    out: dict[str, torch.Tensor] = {"pos_embed": sd["pos_embed.pos_embed"]}
    renames = {
        "pos_embed.proj": "x_embedder.proj", "context_embedder": "context_embedder",
        "time_text_embed.timestep_embedder.linear_1": "t_embedder.mlp.0",
        "time_text_embed.timestep_embedder.linear_2": "t_embedder.mlp.2",
        "time_text_embed.text_embedder.linear_1": "y_embedder.mlp.0",
        "time_text_embed.text_embedder.linear_2": "y_embedder.mlp.2", "proj_out": "final_layer.linear",
    }  # fmt: skip
    for src, dst in renames.items():
        for kind in ("weight", "bias"):
            out[f"{dst}.{kind}"] = sd[f"{src}.{kind}"]
    for kind in ("weight", "bias"):
        out[f"final_layer.adaLN_modulation.1.{kind}"] = _swap_halves(sd[f"norm_out.linear.{kind}"])
    for i in range(layers):
        b, j = f"transformer_blocks.{i}.", f"joint_blocks.{i}."
        last = i == layers - 1
        for kind in ("weight", "bias"):
            out[f"{j}x_block.attn.qkv.{kind}"] = torch.cat([sd[f"{b}attn.to_{x}.{kind}"] for x in "qkv"])
            out[f"{j}context_block.attn.qkv.{kind}"] = torch.cat([sd[f"{b}attn.add_{x}_proj.{kind}"] for x in "qkv"])
            out[f"{j}x_block.attn.proj.{kind}"] = sd[f"{b}attn.to_out.0.{kind}"]
            out[f"{j}x_block.adaLN_modulation.1.{kind}"] = sd[f"{b}norm1.linear.{kind}"]
            context_mod = sd[f"{b}norm1_context.linear.{kind}"]
            out[f"{j}context_block.adaLN_modulation.1.{kind}"] = _swap_halves(context_mod) if last else context_mod
            out[f"{j}x_block.mlp.fc1.{kind}"] = sd[f"{b}ff.net.0.proj.{kind}"]
            out[f"{j}x_block.mlp.fc2.{kind}"] = sd[f"{b}ff.net.2.{kind}"]
            if not last:
                out[f"{j}context_block.attn.proj.{kind}"] = sd[f"{b}attn.to_add_out.{kind}"]
                out[f"{j}context_block.mlp.fc1.{kind}"] = sd[f"{b}ff_context.net.0.proj.{kind}"]
                out[f"{j}context_block.mlp.fc2.{kind}"] = sd[f"{b}ff_context.net.2.{kind}"]
            if f"{b}attn2.to_q.{kind}" in sd:
                out[f"{j}x_block.attn2.qkv.{kind}"] = torch.cat([sd[f"{b}attn2.to_{x}.{kind}"] for x in "qkv"])
                out[f"{j}x_block.attn2.proj.{kind}"] = sd[f"{b}attn2.to_out.0.{kind}"]
        norms = {"attn.norm_q": "x_block.attn.ln_q", "attn.norm_k": "x_block.attn.ln_k",
                 "attn.norm_added_q": "context_block.attn.ln_q", "attn.norm_added_k": "context_block.attn.ln_k",
                 "attn2.norm_q": "x_block.attn2.ln_q", "attn2.norm_k": "x_block.attn2.ln_k"}  # fmt: skip
        for src, dst in norms.items():
            if f"{b}{src}.weight" in sd:
                out[f"{j}{dst}.weight"] = sd[f"{b}{src}.weight"]
    return out


def tiny_t5(seed: int = 0) -> torch.nn.Module:
    """A 2-layer T5 v1.1 encoder (gated GELU) with the real vocabulary size."""
    torch.manual_seed(seed)
    config = T5Config(vocab_size=T5_VOCAB, d_model=64, d_kv=16, d_ff=96, num_layers=2, num_heads=4,
                      feed_forward_proj="gated-gelu", is_encoder_decoder=False, use_cache=False)
    module = T5EncoderModel(config)
    perturb_(module, torch.Generator().manual_seed(seed), scale=0.2)
    module.train(False)
    return module


def build_tiny_sd3(seed: int = 0, *, with_t5: bool = True) -> TinySd3:
    """Tiny random SD3.5-style checkpoint: MMDiT (2 blocks, 2×64-wide heads, qk-norm, dual attention in block 0),
    CLIP-L/CLIP-G (32 wide, projected), T5 (64 wide) and a 16-channel VAE."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    transformer: Any = SD3Transformer2DModel(  # type: ignore[no-untyped-call]
        sample_size=16, patch_size=2, in_channels=16, num_layers=2, attention_head_dim=64, num_attention_heads=2,
        joint_attention_dim=64, caption_projection_dim=128, pooled_projection_dim=64, out_channels=16,
        pos_embed_max_size=16, qk_norm="rms_norm", dual_attention_layers=(0,),
    )
    vae_config = dict(family_config("sd3")["vae"])
    vae_config.update(block_out_channels=TINY_VAE_CHANNELS, sample_size=64)
    vae = build_vae(vae_config, empty=False)
    specs = {s["name"]: s for s in family_config("sd3")["text_encoders"]}
    # CLIP-G gets 32 layers: separate text-encoder files are told apart by depth (31+ layers = CLIP-G).
    clips = {name: build_text_encoder(_text_config(layers=32 if name == "clip_g" else 2, act=spec["hidden_act"],
                                                   projection=True),
                                      with_projection=True, empty=False) for name, spec in specs.items()}
    t5 = tiny_t5(seed)
    modules: list[torch.nn.Module] = [transformer, vae, *clips.values()]
    for module in modules:
        perturb_(module, generator)
        module.eval()
    state = {f"model.diffusion_model.{k}": v
             for k, v in sd3_transformer_to_comfy(transformer.state_dict(), 2).items()}
    state.update(convert.to_ldm("vae", vae.state_dict(), vae_config, "first_stage_model."))
    for name, module in clips.items():
        state.update(convert.to_ldm("clip", module.state_dict(), {}, specs[name]["prefix"]))
    if with_t5:
        t5_prefix = family_config("sd3")["t5"]["prefix"]
        state.update({t5_prefix + k: v for k, v in t5.state_dict().items() if k != "encoder.embed_tokens.weight"})
    return TinySd3(transformer, clips["clip_l"], clips["clip_g"], t5, vae, vae_config, state)


def write_tiny_sd3(path: Path, seed: int = 0, *, with_t5: bool = True) -> TinySd3:
    """Write a tiny SD3 checkpoint file (float32) and return its source modules."""
    model = build_tiny_sd3(seed, with_t5=with_t5)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state.items()}, str(path), metadata={"format": "pt"})
    return model
