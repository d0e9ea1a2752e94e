"""Key names: diffusers/transformers module layout <-> original LDM/CompVis single-file layout.

One function per component maps a diffusers state-dict key to its LDM key (or raises ``KeyError``).
Loading uses the inverse: build the diffusers model on the meta device, map each of its keys to
the LDM name, and fetch that tensor. Writing (test fixtures) uses it forwards.
Only layout facts live here; shapes that differ between layouts (VAE attention stored as 1x1
convs, OpenCLIP's fused q/k/v) are handled by :mod:`diffusion.models.convert`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}


def _resnet(rest: str) -> str:
    part, _, tail = rest.partition(".")
    return f"{_RESNET[part]}.{tail}"


def _has_attention(block_type: str) -> bool:
    return "CrossAttn" in block_type


def unet_key_to_ldm(key: str, config: Mapping[str, Any]) -> str:
    """Map a ``UNet2DConditionModel`` (or ControlNet encoder) key to the LDM ``openaimodel`` key."""
    per_level = int(config["layers_per_block"])
    fixed = {
        "time_embedding.linear_1.": "time_embed.0.",
        "time_embedding.linear_2.": "time_embed.2.",
        "add_embedding.linear_1.": "label_emb.0.0.",
        "add_embedding.linear_2.": "label_emb.0.2.",
        "conv_in.": "input_blocks.0.0.",
        "conv_norm_out.": "out.0.",
        "conv_out.": "out.2.",
    }
    for prefix, ldm in fixed.items():
        if key.startswith(prefix):
            return ldm + key[len(prefix) :]
    if m := re.fullmatch(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
        level, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        index = 1 + level * (per_level + 1) + j
        return f"input_blocks.{index}.0.{_resnet(rest)}" if kind == "resnets" else f"input_blocks.{index}.1.{rest}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
        index = 1 + int(m[1]) * (per_level + 1) + per_level
        return f"input_blocks.{index}.0.op.{m[2]}"
    if m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", key):
        return f"middle_block.{2 * int(m[1])}.{_resnet(m[2])}"
    if m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", key):
        return f"middle_block.1.{m[1]}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
        level, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        index = level * (per_level + 1) + j
        return f"output_blocks.{index}.0.{_resnet(rest)}" if kind == "resnets" else f"output_blocks.{index}.1.{rest}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
        level = int(m[1])
        index = level * (per_level + 1) + per_level
        sub = 2 if _has_attention(config["up_block_types"][level]) else 1
        return f"output_blocks.{index}.{sub}.conv.{m[2]}"
    raise KeyError(f"no LDM name for UNet key {key!r}")


def controlnet_key_to_ldm(key: str, config: Mapping[str, Any]) -> str:
    """Map a diffusers ``ControlNetModel`` key to the LDM ``cldm`` key (without ``control_model.``)."""
    if key.startswith("controlnet_cond_embedding."):
        rest = key[len("controlnet_cond_embedding.") :]
        if rest.startswith("conv_in."):
            return "input_hint_block.0." + rest[len("conv_in.") :]
        if m := re.fullmatch(r"blocks\.(\d+)\.(.+)", rest):
            return f"input_hint_block.{2 * (int(m[1]) + 1)}.{m[2]}"
        if rest.startswith("conv_out."):
            blocks = 2 * (len(config["conditioning_embedding_out_channels"]) - 1)
            return f"input_hint_block.{2 * (blocks + 1)}." + rest[len("conv_out.") :]
    if m := re.fullmatch(r"controlnet_down_blocks\.(\d+)\.(.+)", key):
        return f"zero_convs.{m[1]}.0.{m[2]}"
    if key.startswith("controlnet_mid_block."):
        return "middle_block_out.0." + key[len("controlnet_mid_block.") :]
    # The encoder half uses the UNet names; up_block_types is irrelevant for these keys.
    return unet_key_to_ldm(key, {**config, "up_block_types": ()})


_VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _vae_resnet(rest: str) -> str:
    return rest.replace("conv_shortcut.", "nin_shortcut.")


def vae_key_to_ldm(key: str, config: Mapping[str, Any]) -> str:
    """Map an ``AutoencoderKL`` key to the LDM ``first_stage_model`` key (without the prefix)."""
    levels = len(config["block_out_channels"])
    if key.split(".")[0] in ("quant_conv", "post_quant_conv"):
        return key
    coder, _, rest = key.partition(".")
    if coder not in ("encoder", "decoder"):
        raise KeyError(f"no LDM name for VAE key {key!r}")
    for name in ("conv_in.", "conv_out."):
        if rest.startswith(name):
            return key
    if rest.startswith("conv_norm_out."):
        return f"{coder}.norm_out.{rest[len('conv_norm_out.') :]}"
    if m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", rest):
        return f"{coder}.mid.block_{int(m[1]) + 1}.{_vae_resnet(m[2])}"
    if m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)\.(weight|bias)", rest):
        return f"{coder}.mid.attn_1.{_VAE_ATTENTION[m[1]]}.{m[2]}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", rest):
        return f"encoder.down.{m[1]}.block.{m[2]}.{_vae_resnet(m[3])}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", rest):
        return f"encoder.down.{m[1]}.downsample.conv.{m[2]}"
    # The LDM decoder numbers its levels from the lowest resolution up; diffusers from the top down.
    if m := re.fullmatch(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", rest):
        return f"decoder.up.{levels - 1 - int(m[1])}.block.{m[2]}.{_vae_resnet(m[3])}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", rest):
        return f"decoder.up.{levels - 1 - int(m[1])}.upsample.conv.{m[2]}"
    raise KeyError(f"no LDM name for VAE key {key!r}")


def is_vae_attention_projection(ldm_key: str) -> bool:
    """LDM stores the VAE mid-block attention projections as 1x1 convs; diffusers as linears."""
    return bool(re.search(r"mid\.attn_1\.(q|k|v|proj_out)\.weight$", ldm_key))


_OPEN_CLIP_LAYER = {
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
    "self_attn.out_proj": "attn.out_proj",
}


def open_clip_key_to_ldm(key: str) -> str:
    """Map a transformers ``CLIPTextModel(WithProjection)`` key to OpenCLIP's layout.

    The q/k/v projections map to the fused ``attn.in_proj_{weight,bias}`` (rows q, k, v in that
    order); ``text_projection.weight`` maps to ``text_projection``, stored transposed.
    """
    fixed = {
        "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
        "text_model.embeddings.position_embedding.weight": "positional_embedding",
        "text_model.final_layer_norm.weight": "ln_final.weight",
        "text_model.final_layer_norm.bias": "ln_final.bias",
        "text_projection.weight": "text_projection",
    }
    if key in fixed:
        return fixed[key]
    m = re.fullmatch(r"text_model\.encoder\.layers\.(\d+)\.(.+)\.(weight|bias)", key)
    if m is None:
        raise KeyError(f"no OpenCLIP name for text-encoder key {key!r}")
    layer, module, kind = m[1], m[2], m[3]
    if module in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
        return f"transformer.resblocks.{layer}.attn.in_proj_{kind}"
    return f"transformer.resblocks.{layer}.{_OPEN_CLIP_LAYER[module]}.{kind}"


OPEN_CLIP_QKV_ORDER = {"self_attn.q_proj": 0, "self_attn.k_proj": 1, "self_attn.v_proj": 2}


def open_clip_qkv_index(key: str) -> int | None:
    """Which third (0=q, 1=k, 2=v) of the fused projection a transformers key is, or None."""
    for module, index in OPEN_CLIP_QKV_ORDER.items():
        if f".{module}." in key:
            return index
    return None
