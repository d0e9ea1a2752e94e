"""Architecture configs: the shipped per-family JSON plus the sizes read from a checkpoint's shapes.

Per-family JSON (``configs/<family>.json``) carries what shapes cannot tell (activation, heads rule,
scaling factor, schedule, which text-encoder layer to use); block widths, depths and context
sizes are read from the tensors, so the same code loads full-size and tiny test models.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from functools import cache
from importlib import resources
from typing import Any

import torch
from accelerate import init_empty_weights
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from diffusion.types import Family

StateDict = Mapping[str, torch.Tensor]


class UnknownModelLayout(ValueError):
    """The tensors do not match any supported architecture."""


@cache
def _family_json(family: str) -> str:
    return resources.files("diffusion.models").joinpath("configs", f"{family}.json").read_text()


def family_config(family: Family) -> dict[str, Any]:
    """A fresh copy of the shipped config for ``family``."""
    config: dict[str, Any] = json.loads(_family_json(family))
    return config


def count_indices(state: StateDict, pattern: str) -> int:
    """How many distinct integers fill ``{n}`` in keys matching ``pattern`` (a regex with one group)."""
    rx = re.compile(pattern)
    return len({m[1] for key in state if (m := rx.match(key))})


def _heads(family: str, channels: list[int]) -> int | list[int]:
    # SD1 configs fix 8 heads; SD2/SDXL fix a head width of 64 (at least one head for tiny models).
    return 8 if family == "sd1" else [max(1, c // 64) for c in channels]


def _encoder_layout(state: StateDict, p: str) -> tuple[list[int], list[int], int, int]:
    """(channels per level, transformer depth per level, resnets per level, mid-block depth)."""
    levels: list[list[tuple[int, int]]] = [[]]
    index = 1
    while True:
        if f"{p}input_blocks.{index}.0.op.weight" in state:
            levels.append([])
        elif f"{p}input_blocks.{index}.0.in_layers.0.weight" in state:
            channels = state[f"{p}input_blocks.{index}.0.out_layers.3.weight"].shape[0]
            depth = count_indices(state, rf"{re.escape(p)}input_blocks\.{index}\.1\.transformer_blocks\.(\d+)\.")
            levels[-1].append((int(channels), depth))
        else:
            break
        index += 1
    if not levels[0]:
        raise UnknownModelLayout(f"no UNet input blocks under {p!r}")
    mid_depth = count_indices(state, rf"{re.escape(p)}middle_block\.1\.transformer_blocks\.(\d+)\.")
    return [lv[0][0] for lv in levels], [lv[0][1] for lv in levels], len(levels[0]), mid_depth


def _encoder_config(family: Family, state: StateDict, p: str, config: dict[str, Any]) -> list[int]:
    """Fill the settings UNet and ControlNet share (encoder half); returns the per-level depths."""
    channels, depths, per_level, mid_depth = _encoder_layout(state, p)
    context_keys = [k for k in state if k.startswith(p) and k.endswith("attn2.to_k.weight")]
    proj_in = next(state[k] for k in state if k.startswith(p) and k.endswith(".1.proj_in.weight"))
    config.update(
        in_channels=int(state[f"{p}input_blocks.0.0.weight"].shape[1]),
        block_out_channels=channels,
        layers_per_block=per_level,
        down_block_types=["CrossAttnDownBlock2D" if d else "DownBlock2D" for d in depths],
        cross_attention_dim=int(state[context_keys[0]].shape[1]),
        use_linear_projection=proj_in.ndim == 2,
        attention_head_dim=_heads(family, channels),
    )
    attention_depths = {d for d in depths if d} | {mid_depth}
    if len(attention_depths) > 1:
        config["transformer_layers_per_block"] = [d or 1 for d in depths]
        if depths[-1] != mid_depth:
            raise UnknownModelLayout(f"mid-block depth {mid_depth} differs from the last level's {depths[-1]}")
    else:
        config["transformer_layers_per_block"] = mid_depth
    return depths


def _addition_embedding(
    family: Family, state: StateDict, p: str, config: dict[str, Any], pooled_dim: int | None
) -> None:
    label = state.get(f"{p}label_emb.0.0.weight")
    if label is None:
        return
    in_dim = int(label.shape[1])
    time_ids = int(family_config(family)["time_ids"])
    if in_dim != config["projection_class_embeddings_input_dim"]:
        if pooled_dim is None or (in_dim - pooled_dim) % time_ids:
            raise UnknownModelLayout(f"cannot split the {in_dim}-wide SDXL class embedding input")
        config["addition_time_embed_dim"] = (in_dim - pooled_dim) // time_ids
    config["projection_class_embeddings_input_dim"] = in_dim


def derive_unet_config(
    family: Family, state: StateDict, prefix: str, *, pooled_dim: int | None = None
) -> dict[str, Any]:
    """Diffusers UNet config for the LDM UNet under ``prefix`` (sizes from shapes, rest from JSON)."""
    config: dict[str, Any] = dict(family_config(family)["unet"])
    depths = _encoder_config(family, state, prefix, config)
    config["out_channels"] = int(state[f"{prefix}out.2.weight"].shape[0])
    config["up_block_types"] = ["CrossAttnUpBlock2D" if d else "UpBlock2D" for d in reversed(depths)]
    _addition_embedding(family, state, prefix, config, pooled_dim)
    return config


_CONTROLNET_KEYS = (
    "in_channels", "flip_sin_to_cos", "freq_shift", "down_block_types", "block_out_channels", "layers_per_block",
    "downsample_padding", "mid_block_scale_factor", "act_fn", "norm_num_groups", "norm_eps", "cross_attention_dim",
    "transformer_layers_per_block", "attention_head_dim", "use_linear_projection", "addition_embed_type",
    "addition_time_embed_dim", "projection_class_embeddings_input_dim", "upcast_attention",
)  # fmt: skip


def controlnet_family(state: StateDict, prefix: str) -> Family:
    """SDXL if it has the SDXL class embedding, SD2 if its attention projections are linear, else SD1."""
    if f"{prefix}label_emb.0.0.weight" in state:
        return "sdxl"
    proj_in = next((state[k] for k in state if k.startswith(prefix) and k.endswith(".1.proj_in.weight")), None)
    return "sd2" if proj_in is not None and proj_in.ndim == 2 else "sd1"


def derive_controlnet_config(state: StateDict, prefix: str, *, pooled_dim: int | None = None) -> dict[str, Any]:
    """Diffusers ControlNetModel config for the LDM ``cldm`` ControlNet under ``prefix``."""
    family = controlnet_family(state, prefix)
    unet: dict[str, Any] = dict(family_config(family)["unet"])
    _encoder_config(family, state, prefix, unet)
    if family == "sdxl":
        # SDXL ControlNets are trained against the base model: pooled width 1280 unless told otherwise.
        _addition_embedding(family, state, prefix, unet, pooled_dim or 1280)
    config = {k: unet[k] for k in _CONTROLNET_KEYS if k in unet}
    hint = sorted(
        int(m[1]) for k in state if (m := re.fullmatch(rf"{re.escape(prefix)}input_hint_block\.(\d+)\.weight", k))
    )
    outs = [int(state[f"{prefix}input_hint_block.{i}.weight"].shape[0]) for i in hint]
    config["conditioning_embedding_out_channels"] = [outs[0], *outs[2:-1:2]]
    config["conditioning_channels"] = int(state[f"{prefix}input_hint_block.0.weight"].shape[1])
    return config


def derive_vae_config(family: Family, state: StateDict, prefix: str) -> dict[str, Any]:
    """Diffusers AutoencoderKL config for the LDM VAE under ``prefix``."""
    config: dict[str, Any] = dict(family_config(family)["vae"])
    p = prefix
    levels = count_indices(state, rf"{re.escape(p)}encoder\.down\.(\d+)\.")
    if levels == 0:
        raise UnknownModelLayout(f"no VAE encoder blocks under {prefix!r}")
    config.update(
        block_out_channels=[int(state[f"{p}encoder.down.{i}.block.0.conv1.weight"].shape[0]) for i in range(levels)],
        layers_per_block=count_indices(state, rf"{re.escape(p)}encoder\.down\.0\.block\.(\d+)\."),
        # SD3/Flux VAEs have no quant convs: the latent width is the decoder's input.
        latent_channels=int(state[f"{p}post_quant_conv.weight"].shape[0] if f"{p}post_quant_conv.weight" in state
                            else state[f"{p}decoder.conv_in.weight"].shape[1]),
        in_channels=int(state[f"{p}encoder.conv_in.weight"].shape[1]),
        out_channels=int(state[f"{p}decoder.conv_out.weight"].shape[0]),
        down_block_types=["DownEncoderBlock2D"] * levels,
        up_block_types=["UpDecoderBlock2D"] * levels,
    )
    if f"{p}quant_conv.weight" not in state:
        config.update(use_quant_conv=False, use_post_quant_conv=False)
    return config


def derive_text_config(encoder: Mapping[str, Any], state: StateDict, prefix: str) -> CLIPTextConfig:
    """transformers CLIPTextConfig for a text encoder stored in ``clip`` or ``open_clip`` layout."""
    p = prefix
    if encoder["layout"] == "clip":
        p = p + "text_model."
        token = state[f"{p}embeddings.token_embedding.weight"]
        positions = state[f"{p}embeddings.position_embedding.weight"]
        layers = count_indices(state, rf"{re.escape(p)}encoder\.layers\.(\d+)\.")
        inner = state[f"{p}encoder.layers.0.mlp.fc1.weight"]
        projection = state.get(prefix + "text_projection.weight")
        projection_dim = int(projection.shape[0]) if projection is not None else int(token.shape[1])
    else:
        token = state[f"{p}token_embedding.weight"]
        positions = state[f"{p}positional_embedding"]
        layers = count_indices(state, rf"{re.escape(p)}transformer\.resblocks\.(\d+)\.")
        inner = state[f"{p}transformer.resblocks.0.mlp.c_fc.weight"]
        projection = state.get(f"{p}text_projection")
        projection_dim = int(projection.shape[1]) if projection is not None else int(token.shape[1])
    hidden = int(token.shape[1])
    return CLIPTextConfig(
        vocab_size=int(token.shape[0]),
        hidden_size=hidden,
        intermediate_size=int(inner.shape[0]),
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // int(encoder["head_dim"])),
        max_position_embeddings=int(positions.shape[0]),
        hidden_act=encoder["hidden_act"],
        projection_dim=projection_dim,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=1,
    )


def _empty_weights(empty: bool) -> AbstractContextManager[None]:
    # Buffers stay real: non-persistent ones (CLIP position_ids) are never in a checkpoint.
    return init_empty_weights(include_buffers=False) if empty else nullcontext()


def _from_config(model_class: Any, config: Mapping[str, Any], empty: bool) -> torch.nn.Module:
    # model_class is Any: diffusers' ConfigMixin.from_config is untyped.
    with _empty_weights(empty):
        module: torch.nn.Module = model_class.from_config(dict(config))
    return module


def build_unet(config: Mapping[str, Any], *, empty: bool) -> torch.nn.Module:
    """A diffusers UNet2DConditionModel from ``config``; ``empty`` puts parameters on the meta device."""
    return _from_config(UNet2DConditionModel, config, empty)


def build_vae(config: Mapping[str, Any], *, empty: bool) -> torch.nn.Module:
    """A diffusers AutoencoderKL from ``config`` (meta parameters when ``empty``)."""
    return _from_config(AutoencoderKL, config, empty)


def build_controlnet(config: Mapping[str, Any], *, empty: bool) -> torch.nn.Module:
    """A diffusers ControlNetModel from ``config`` (meta parameters when ``empty``)."""
    return _from_config(ControlNetModel, config, empty)


def build_text_encoder(config: CLIPTextConfig, *, with_projection: bool, empty: bool) -> torch.nn.Module:
    """A transformers CLIP text tower (meta parameters when ``empty``)."""
    with _empty_weights(empty):
        if with_projection:
            return CLIPTextModelWithProjection(config)
        return CLIPTextModel(config)


def text_state_key(key: str) -> str:
    """Name a CLIP text-model key as the LDM layout does (transformers 5 dropped ``text_model.``)."""
    if key.startswith(("text_model.", "text_projection.")):
        return key
    return "text_model." + key
