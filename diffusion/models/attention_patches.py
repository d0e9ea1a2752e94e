"""Attention patches for guidance methods (installed only while a model pass needs them).

PerturbedAttentionGuidance (Ahn et al. 2024, "Self-Rectifying Diffusion Sampling with Perturbed-Attention
Guidance", arXiv:2403.17377) re-runs the positive prediction with the self-attention map of the UNet's
middle block replaced by the identity: each token attends only to itself, so the attention output is the
projected value, ``to_out(to_v(h))``. The guided estimate moves away from that degraded prediction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from diffusion.models.model_options import PostCfgArgs


class IdentitySelfAttention:
    """A diffusers attention processor computing attention with an identity map (output = projected value)."""

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None,
                 *args: Any, **kwargs: Any) -> torch.Tensor:
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        shape = hidden_states.shape
        if hidden_states.ndim == 4:
            hidden_states = hidden_states.flatten(2).transpose(1, 2)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        out: torch.Tensor = attn.to_out[1](attn.to_out[0](attn.to_v(hidden_states)))
        if len(shape) == 4:
            out = out.transpose(1, 2).reshape(shape)
        if attn.residual_connection:
            out = out + residual
        scaled: torch.Tensor = out / attn.rescale_output_factor
        return scaled


def middle_self_attentions(unet: torch.nn.Module) -> list[torch.nn.Module]:
    """The self-attention (attn1) modules of every transformer block in the UNet's middle block."""
    net: Any = unet
    found: list[torch.nn.Module] = []
    for transformer in getattr(net.mid_block, "attentions", []):
        for block in transformer.transformer_blocks:
            found.append(block.attn1)
    return found


@dataclass(frozen=True)
class PerturbMiddleSelfAttention:
    """UnetHook: identity self-attention in the middle block, previous processors restored on exit."""

    @contextmanager
    def installed(self, unet: torch.nn.Module) -> Iterator[None]:
        modules: list[Any] = middle_self_attentions(unet)
        previous = [module.processor for module in modules]
        try:
            for module in modules:
                module.set_processor(IdentitySelfAttention())
            yield
        finally:
            for module, processor in zip(modules, previous, strict=True):
                module.set_processor(processor)


@dataclass(frozen=True)
class PerturbedAttentionGuidance:
    """Post-CFG: ``result + scale·(cond − cond_perturbed)`` on x0 estimates (scale 0 is a no-op)."""

    scale: float

    def __call__(self, args: PostCfgArgs) -> torch.Tensor:
        if self.scale == 0:
            return args.denoised
        perturbed = args.predict([PerturbMiddleSelfAttention()])
        return args.denoised + (args.cond_denoised - perturbed) * self.scale
