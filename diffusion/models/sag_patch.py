"""Self-Attention Guidance (Hong et al. 2022, "Improving Sample Quality of Diffusion Models Using
Self-Attention Guidance", arXiv:2210.00939), with ComfyUI's choices.

During the normal CFG pass, the self-attention probabilities of the first transformer block in the UNet's
middle block are recorded for the negative. Keys that receive more than ``threshold`` (1.0) attention in
total, averaged over heads, mark salient cells; the negative's x0 estimate is Gaussian-blurred there (9×9
kernel, reflect padding), re-noised with the negative's own noise estimate and denoised again. The result
moves away from that degraded prediction: ``cfg + scale·(degraded − D(degraded_noised))``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from diffusion.models.model_options import PostCfgArgs, current_call

_THRESHOLD = 1.0
_KERNEL = 9


class RecordingSelfAttention:
    """Plain softmax attention (diffusers processor) that stores the negative's attention probabilities."""

    def __init__(self, store: dict[str, torch.Tensor]) -> None:
        self.store = store

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None,
                 *args: Any, **kwargs: Any) -> torch.Tensor:
        batch, tokens, _ = hidden_states.shape
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        heads = attn.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(batch, -1, heads, t.shape[-1] // heads).permute(0, 2, 1, 3).reshape(
                batch * heads, -1, t.shape[-1] // heads)

        q, k, v = split(attn.to_q(hidden_states)), split(attn.to_k(context)), split(attn.to_v(context))
        probs = (torch.bmm(q, k.transpose(1, 2)) * attn.scale).softmax(dim=-1)
        out = torch.bmm(probs.to(v.dtype), v)
        out = out.reshape(batch, heads, tokens, -1).permute(0, 2, 1, 3).reshape(batch, tokens, -1)
        call = current_call()
        if call is not None and 1 in call.slots:
            per_chunk = batch // len(call.slots)
            index = call.slots.index(1)
            rows = heads * per_chunk
            self.store["attention"] = probs[rows * index:rows * (index + 1)].detach()
        result: torch.Tensor = attn.to_out[1](attn.to_out[0](out))
        return result


def gaussian_blur(x: torch.Tensor, sigma: float, kernel_size: int = _KERNEL) -> torch.Tensor:
    """Per-channel Gaussian blur with reflect padding (separable kernel of ``kernel_size`` taps)."""
    half = (kernel_size - 1) * 0.5
    taps = torch.exp(-0.5 * (torch.linspace(-half, half, kernel_size) / sigma) ** 2)
    taps = (taps / taps.sum()).to(x.device, x.dtype)
    kernel = torch.outer(taps, taps).expand(x.shape[-3], 1, kernel_size, kernel_size)
    pad = kernel_size // 2
    return F.conv2d(F.pad(x, [pad, pad, pad, pad], mode="reflect"), kernel, groups=x.shape[-3])


def attention_grid(total: int, height: int, width: int) -> tuple[int, int]:
    """Rows × columns of a token grid of ``total`` cells with the latent's aspect ratio (the nearest divisor
    of ``total`` to √(total·h/w), searching outwards)."""
    guess = round(math.sqrt((height / width) * total))
    for offset in range(0, math.floor(math.sqrt(total) / 2)):
        for rows in (guess + offset, max(1, guess - offset)):
            if total % rows == 0:
                return rows, total // rows
    raise ValueError(f"SelfAttentionGuidance: cannot lay {total} attention tokens out on a {height}x{width} latent")


def blur_map(x0: torch.Tensor, attention: torch.Tensor, blur_sigma: float) -> torch.Tensor:
    """``x0`` blurred where the attention map marks salient cells, unchanged elsewhere."""
    batch, _, height, width = x0.shape
    _, queries, keys = attention.shape
    per_sample = attention.reshape(batch, -1, queries, keys)
    mask = per_sample.mean(1).sum(1) > _THRESHOLD
    rows, cols = attention_grid(mask.shape[-1], height, width)
    mask_map = F.interpolate(mask.reshape(batch, rows, cols).unsqueeze(1).to(x0.dtype), (height, width))
    return gaussian_blur(x0, blur_sigma) * mask_map + x0 * (1 - mask_map)


def _first_middle_self_attention(unet: torch.nn.Module) -> Any:
    net: Any = unet
    attentions = getattr(net.mid_block, "attentions", None)
    if not attentions:
        raise ValueError("SelfAttentionGuidance: this UNet has no attention in its middle block")
    return attentions[0].transformer_blocks[0].attn1


@dataclass(frozen=True)
class SelfAttentionGuidance:
    """UnetHook (records the attention) and post-CFG function (the guidance) in one value."""

    scale: float
    blur_sigma: float
    _store: dict[str, torch.Tensor] = field(default_factory=dict, compare=False, repr=False)

    @contextmanager
    def installed(self, unet: torch.nn.Module) -> Iterator[None]:
        attn = _first_middle_self_attention(unet)
        previous = attn.processor
        attn.set_processor(RecordingSelfAttention(self._store))
        try:
            yield
        finally:
            attn.set_processor(previous)
            self._store.clear()

    def __call__(self, args: PostCfgArgs) -> torch.Tensor:
        attention = self._store.get("attention")
        uncond, predict_uncond = args.uncond_denoised, args.predict_uncond
        if attention is None or uncond is None or predict_uncond is None or min(args.denoised.shape[2:]) <= 4:
            return args.denoised
        degraded = blur_map(uncond, attention, self.blur_sigma)
        degraded_noised = degraded + args.x - uncond
        return args.denoised + (degraded - predict_uncond(degraded_noised)) * self.scale
