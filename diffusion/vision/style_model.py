"""Style models: image embeddings turned into extra conditioning tokens (StyleModelLoader / StyleModelApply).

Two kinds, told apart by their keys as ComfyUI does:

* Flux Redux (`redux_up`, `redux_down`): tokens = down(SiLU(up(SigLIP tokens))), 1152 -> 3·4096 -> 4096.
* The T2I-Adapter style adapter (`style_embedding`, SD1.x): learned style tokens appended to the CLIP vision
  tokens, three CLIP-style residual attention blocks (8 heads, QuickGELU MLP), the style tokens read out,
  layer-normed and projected to the text width (1024 -> 768).

Shapes are read off the weights, so smaller test models load the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from diffusion import devices
from diffusion.models.files import read_state_dict

STYLE_ADAPTER_HEADS = 8


class StyleModelFileError(ValueError):
    """The file is neither a Redux nor a style-adapter model; the message says why."""


class ReduxImageEncoder(nn.Module):
    """Flux Redux: SigLIP token states -> Flux text-width tokens."""

    def __init__(self, vision_width: int = 1152, text_width: int = 4096) -> None:
        super().__init__()
        self.redux_up = nn.Linear(vision_width, text_width * 3)
        self.redux_down = nn.Linear(text_width * 3, text_width)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.redux_down(nn.functional.silu(self.redux_up(tokens)))
        return out


class _Fp32LayerNorm(nn.LayerNorm):
    """CLIP's LayerNorm: computed in float32 whatever the weights' dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).to(x.dtype)


class _QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class _ResidualAttentionBlock(nn.Module):
    """CLIP's transformer block on [tokens, batch, width] (nn.MultiheadAttention's default layout)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = _Fp32LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, width * 4))
        self.mlp.add_module("gelu", _QuickGELU())
        self.mlp.add_module("c_proj", nn.Linear(width * 4, width))
        self.ln_2 = _Fp32LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = self.ln_1(x)
        x = x + self.attn(normed, normed, normed, need_weights=False)[0]
        out: torch.Tensor = x + self.mlp(self.ln_2(x))
        return out


class StyleAdapter(nn.Module):
    """T2I-Adapter style model: CLIP vision tokens -> `num_tokens` tokens of the text width."""

    def __init__(self, width: int = 1024, context_dim: int = 768, heads: int = STYLE_ADAPTER_HEADS, layers: int = 3,
                 num_tokens: int = 8) -> None:
        super().__init__()
        scale = width**-0.5
        self.transformer_layes = nn.Sequential(*[_ResidualAttentionBlock(width, heads) for _ in range(layers)])
        self.num_tokens = num_tokens
        self.style_embedding = nn.Parameter(torch.randn(1, num_tokens, width) * scale)
        self.ln_post = _Fp32LayerNorm(width)
        self.ln_pre = _Fp32LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, context_dim))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        style = self.style_embedding.expand(tokens.shape[0], -1, -1).to(tokens.dtype)
        x = self.ln_pre(torch.cat([tokens, style], dim=1)).permute(1, 0, 2)
        x = self.transformer_layes(x).permute(1, 0, 2)
        out: torch.Tensor = self.ln_post(x[:, -self.num_tokens :, :]) @ self.proj
        return out


class StyleModel:
    """The STYLE_MODEL value."""

    def __init__(self, model: nn.Module, source: str) -> None:
        self.model = model
        self.source = source

    @torch.no_grad()
    def tokens(self, last_hidden_state: torch.Tensor) -> torch.Tensor:
        """Conditioning tokens [B, n, text width] from a CLIP vision output's last_hidden_state (float32, CPU)."""
        parameter = next(self.model.parameters())
        out: torch.Tensor = self.model(last_hidden_state.to(parameter.device, parameter.dtype))
        return out.float().cpu()


def build_style_model(state: dict[str, torch.Tensor], source: str = "<state dict>") -> nn.Module:
    """The module a style-model state dict belongs to, sized from its tensors."""
    if "redux_down.weight" in state and "redux_up.weight" in state:
        up = state["redux_up.weight"]
        return ReduxImageEncoder(vision_width=int(up.shape[1]), text_width=int(state["redux_down.weight"].shape[0]))
    if "style_embedding" in state and "proj" in state:
        layers = {int(m.group(1)) for key in state if (m := re.match(r"transformer_layes\.(\d+)\.", key))}
        _, num_tokens, width = state["style_embedding"].shape
        return StyleAdapter(int(width), int(state["proj"].shape[1]), STYLE_ADAPTER_HEADS, len(layers), int(num_tokens))
    raise StyleModelFileError(f"{source}: not a style model (neither redux_up/redux_down nor style_embedding/proj)")


def load_style_model_state(state: dict[str, torch.Tensor], *, source: str = "<state dict>",
                           device: torch.device | None = None, dtype: torch.dtype | None = None) -> StyleModel:
    """Build and fill the style model of `state`; a tensor that does not fit is a clear error."""
    module = build_style_model(state, source)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise StyleModelFileError(f"{source}: {str(error).splitlines()[0]}") from None
    device = device or devices.default_device()
    dtype = dtype or devices.text_encoder_dtype(device)
    return StyleModel(module.to(device, dtype).eval().requires_grad_(False), source)


def load_style_model(path: str | Path, *, device: torch.device | None = None,
                     dtype: torch.dtype | None = None) -> StyleModel:
    """StyleModelLoader: read a style model file."""
    return load_style_model_state(read_state_dict(path), source=str(path), device=device, dtype=dtype)
