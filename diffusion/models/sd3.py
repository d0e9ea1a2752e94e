"""SD3/SD3.5 single-file checkpoints (ComfyUI's key layout) -> MODEL, CLIP and VAE.

Layout: the MMDiT under ``model.diffusion_model.`` (``joint_blocks.N.{x,context}_block``), CLIP-L and CLIP-G in
transformers layout under ``text_encoders.clip_{l,g}.transformer.``, T5-XXL under
``text_encoders.t5xxl.transformer.``, the 16-channel VAE under ``first_stage_model.`` (no quant convs). The
MMDiT is converted with diffusers' own single-file converter; sizes come from the tensors' shapes (heads of
width 64, as the reference implementations fix), so full-size and tiny test models load the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any, TypeVar

import torch
from accelerate import init_empty_weights
from diffusers import SD3Transformer2DModel
from diffusers.loaders.single_file_utils import convert_sd3_transformer_checkpoint_to_diffusers
from transformers import T5Config, T5EncoderModel

from diffusion import devices
from diffusion.models import architectures as arch
from diffusion.models.convert import CheckpointKeyError

T = TypeVar("T")
DIT_PREFIX = "model.diffusion_model."
HEAD_WIDTH = 64


def is_sd3(state: Mapping[str, torch.Tensor], prefix: str = DIT_PREFIX) -> bool:
    """An MMDiT (SD3/SD3.5) diffusion model is present under ``prefix``."""
    return f"{prefix}joint_blocks.0.x_block.attn.qkv.weight" in state


def derive_sd3_config(state: Mapping[str, torch.Tensor], prefix: str = DIT_PREFIX) -> dict[str, Any]:
    """diffusers ``SD3Transformer2DModel`` config from the MMDiT tensors' shapes."""
    p = prefix
    proj = state[f"{p}x_embedder.proj.weight"]
    hidden, in_channels, patch = int(proj.shape[0]), int(proj.shape[1]), int(proj.shape[2])
    layers = arch.count_indices(state, rf"{re.escape(p)}joint_blocks\.(\d+)\.")
    attn2 = re.compile(rf"{re.escape(p)}joint_blocks\.(\d+)\.x_block\.attn2\.qkv\.weight")
    dual = sorted(int(m[1]) for k in state if (m := attn2.fullmatch(k)))
    positions = int(state[f"{p}pos_embed"].shape[1])
    side = math.isqrt(positions)
    if side * side != positions:
        raise arch.UnknownModelLayout(f"MMDiT pos_embed has {positions} positions, not a square")
    context = state[f"{p}context_embedder.weight"]
    return {
        "sample_size": 128,
        "patch_size": patch,
        "in_channels": in_channels,
        "num_layers": layers,
        "attention_head_dim": HEAD_WIDTH,
        "num_attention_heads": max(1, hidden // HEAD_WIDTH),
        "joint_attention_dim": int(context.shape[1]),
        "caption_projection_dim": int(context.shape[0]),
        "pooled_projection_dim": int(state[f"{p}y_embedder.mlp.0.weight"].shape[1]),
        "out_channels": int(state[f"{p}final_layer.linear.weight"].shape[0]) // (patch * patch),
        "pos_embed_max_size": side,
        "dual_attention_layers": tuple(dual),
        "qk_norm": "rms_norm" if f"{p}joint_blocks.0.x_block.attn.ln_q.weight" in state else None,
    }


class TransformerAdapter(torch.nn.Module):
    """Gives a diffusers transformer the UNet call signature the sampling stack uses
    (``(x, t, encoder_hidden_states=, added_cond_kwargs={"text_embeds": pooled})``)."""

    needs_pooled = True

    def __init__(self, transformer: torch.nn.Module) -> None:
        super().__init__()
        self.transformer = transformer

    @property
    def config(self) -> SimpleNamespace:
        inner: Any = self.transformer.config
        return SimpleNamespace(in_channels=int(inner.in_channels), addition_embed_type=None)

    def forward(self, x: torch.Tensor, t: torch.Tensor, return_dict: bool = False, *,
                encoder_hidden_states: torch.Tensor, added_cond_kwargs: dict[str, Any],
                **_: Any) -> tuple[torch.Tensor]:
        out = self.transformer(hidden_states=x, timestep=t, encoder_hidden_states=encoder_hidden_states,
                               pooled_projections=added_cond_kwargs["text_embeds"], return_dict=False)[0]
        return (out,)


def _read_config(what: str, source: str, derive: Callable[[], T]) -> T:
    """Run a config derivation; a tensor it needs that is absent becomes a key error naming the file."""
    try:
        return derive()
    except KeyError as exc:
        raise CheckpointKeyError(f"{source}: cannot read the {what} architecture, missing {exc.args[0]}") from exc


def load_sd3_transformer(
    state: Mapping[str, torch.Tensor], prefix: str, used: set[str], *, device: torch.device,
    dtype: torch.dtype, source: str,
) -> torch.nn.Module:
    """Build the MMDiT on the meta device and assign the converted tensors (strict: names and shapes)."""
    config = _read_config("MMDiT", source, lambda: derive_sd3_config(state, prefix))
    keys = [k for k in state if k.startswith(prefix)]
    # diffusers' converter pops what it converts: give it a private dict of our keys, in its own prefix.
    sub = {k[len(prefix):]: state[k] for k in keys}
    try:
        converted: dict[str, torch.Tensor] = convert_sd3_transformer_checkpoint_to_diffusers(sub)  # type: ignore[no-untyped-call]
    except KeyError as exc:
        raise CheckpointKeyError(f"{source}: the SD3 MMDiT is missing {prefix}{exc.args[0]}") from exc
    if sub:
        shown = ", ".join(sorted(prefix + k for k in sub)[:5])
        raise CheckpointKeyError(f"{source}: {len(sub)} unexpected MMDiT tensors: {shown}")
    used.update(keys)
    with init_empty_weights(include_buffers=False):
        module: torch.nn.Module = SD3Transformer2DModel.from_config(config)  # type: ignore[no-untyped-call]
    expected = module.state_dict()
    missing = sorted(set(expected) - set(converted))
    if missing:
        raise CheckpointKeyError(f"{source}: the SD3 MMDiT is missing {len(missing)} tensors: {', '.join(missing[:5])}")
    for key, tensor in converted.items():
        if key in expected and tuple(tensor.shape) != tuple(expected[key].shape):
            raise CheckpointKeyError(
                f"{source}: MMDiT tensor {key} has shape {list(tensor.shape)}, "
                f"the model needs {list(expected[key].shape)}")
    tensors = {k: converted[k].to(device=device, dtype=dtype).contiguous() for k in expected}
    module.load_state_dict(tensors, strict=True, assign=True)
    return module.eval().requires_grad_(False)


def derive_t5_config(state: Mapping[str, torch.Tensor], prefix: str) -> T5Config:
    """transformers T5 v1.1 (gated-GELU) encoder config from the tensors' shapes."""
    p = prefix + "encoder.block."
    bias = state[f"{p}0.layer.0.SelfAttention.relative_attention_bias.weight"]
    heads = int(bias.shape[1])
    embed = state.get(prefix + "shared.weight", state.get(prefix + "encoder.embed_tokens.weight"))
    if embed is None:
        raise KeyError(prefix + "shared.weight")
    return T5Config(
        vocab_size=int(embed.shape[0]),
        d_model=int(embed.shape[1]),
        d_kv=int(state[f"{p}0.layer.0.SelfAttention.q.weight"].shape[0]) // heads,
        d_ff=int(state[f"{p}0.layer.1.DenseReluDense.wi_0.weight"].shape[0]),
        num_layers=arch.count_indices(state, rf"{re.escape(p)}(\d+)\."),
        num_heads=heads,
        relative_attention_num_buckets=int(bias.shape[0]),
        feed_forward_proj="gated-gelu",
        is_encoder_decoder=False,
        use_cache=False,
    )


def load_t5(
    state: Mapping[str, torch.Tensor], prefix: str, used: set[str], *, device: torch.device,
    dtype: torch.dtype, source: str,
) -> torch.nn.Module:
    """A transformers ``T5EncoderModel`` from tensors in transformers layout under ``prefix``."""
    config = _read_config("T5", source, lambda: derive_t5_config(state, prefix))
    with init_empty_weights(include_buffers=False):
        module = T5EncoderModel(config)
    aliases = {"shared.weight": "encoder.embed_tokens.weight", "encoder.embed_tokens.weight": "shared.weight"}
    tensors: dict[str, torch.Tensor] = {}
    for key, param in module.state_dict().items():
        name = prefix + key
        if name not in state and key in aliases:
            name = prefix + aliases[key]
        if name not in state:
            raise CheckpointKeyError(f"{source}: the T5 encoder is missing {prefix + key}")
        tensor = state[name]
        if tuple(tensor.shape) != tuple(param.shape):
            raise CheckpointKeyError(
                f"{source}: T5 tensor {name} has shape {list(tensor.shape)}, needs {list(param.shape)}")
        used.add(name)
        tensors[key] = tensor.to(device=device, dtype=dtype).contiguous()
    used.update(k for k in state if k.startswith(prefix) and k.endswith(tuple(aliases)))
    module.load_state_dict(tensors, strict=True, assign=True)
    module.train(False).requires_grad_(False)
    return module


def text_dtype(device: torch.device) -> torch.dtype:
    """T5 overflows in fp16: bf16 on accelerators that have it, else the text-encoder dtype."""
    dtype = devices.text_encoder_dtype(device)
    if dtype == torch.float16 and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return dtype
