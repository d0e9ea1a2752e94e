"""SD3/SD3.5 conditioning from CLIP-L, CLIP-G and T5-XXL, combined as ComfyUI's SD3 CLIP does.

* CLIP-L and CLIP-G: penultimate hidden state without the final norm, concatenated on the feature axis
  (768 + 1280 = 2048), zero-padded to T5's width (4096);
* T5-XXL output appended on the token axis: context = ``[clip (77·n tokens) | t5 tokens]``;
* pooled = ``[CLIP-L projected pooled | CLIP-G projected pooled]`` (zeros for a missing or skipped encoder).

This matches diffusers' ``StableDiffusion3Pipeline.encode_prompt`` for prompts within one 77-token window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch.nn import functional

from diffusion.text.prompt import TokenizerOptions, empty_chunk
from diffusion.types import ConditioningEntry

if TYPE_CHECKING:
    from diffusion.text.clip import Clip

#: Widths of the real encoders, used for zero parts when an encoder is absent.
_POOLED_WIDTH = {"clip_l": 768, "clip_g": 1280}
_T5_WIDTH = 4096


def _pooled_width(clip: Clip, name: str) -> int:
    for encoder in clip.encoders:
        if encoder.name == name:
            config: Any = encoder.module.config
            return int(config.projection_dim)
    return _POOLED_WIDTH[name]


def encode_sd3(clip: Clip, texts: dict[str, str], *, skip_empty: bool = False) -> ConditioningEntry:
    """Encode per-encoder texts (keys clip_l, clip_g, t5xxl). ``skip_empty``: an empty text gives no tokens
    (CLIPTextEncodeSD3's ``empty_padding = none``) instead of an encoded empty prompt."""
    names = [e.name for e in clip.encoders]
    use = {n: n in names and not (skip_empty and not texts.get(n, "")) for n in ("clip_l", "clip_g")}
    chunks = {n: clip.tokenize(texts.get(n, ""), n) for n in ("clip_l", "clip_g") if use[n]}
    if chunks:
        longest = max(len(c) for c in chunks.values())
        for name, encoder_chunks in chunks.items():
            pad = TokenizerOptions(pad_token=clip.encoder(name).pad_token)
            encoder_chunks.extend(empty_chunk(pad) for _ in range(longest - len(encoder_chunks)))
    encoded = {n: clip.encode_chunks(n, c) for n, c in chunks.items()}
    t5_width = clip.t5.width if clip.t5 is not None else _T5_WIDTH
    pooled = torch.cat([
        encoded[n].pooled if n in encoded else torch.zeros(1, _pooled_width(clip, n)) for n in ("clip_l", "clip_g")
    ], dim=-1)
    lg: torch.Tensor | None = None
    if "clip_l" in encoded and "clip_g" in encoded:
        lg = torch.cat([encoded["clip_l"].hidden, encoded["clip_g"].hidden], dim=-1)
    elif "clip_l" in encoded:
        lg = encoded["clip_l"].hidden
    elif "clip_g" in encoded:
        lg = functional.pad(encoded["clip_g"].hidden, (_pooled_width(clip, "clip_l"), 0))
    if lg is not None:
        lg = functional.pad(lg, (0, t5_width - lg.shape[-1]))
    t5_text = texts.get("t5xxl", "")
    t5_out = None
    if clip.t5 is not None and not (skip_empty and not t5_text):
        t5_out = clip.t5.encode(t5_text)
    parts = [p for p in (lg, t5_out) if p is not None]
    context = torch.cat(parts, dim=-2) if parts else torch.zeros(1, 77, t5_width)
    return ConditioningEntry(cross_attn=context, pooled_output=pooled)
