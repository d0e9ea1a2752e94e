"""unCLIP image embeddings in place of SDXL's pooled text embedding (ComfyUI's revision path).

unCLIPConditioning attaches `{"clip_vision_output", "strength", "noise_augmentation"}` items to conditioning
entries. For SDXL (base and refiner) ComfyUI then builds the pooled vector from them instead of the text's:
each image embedding is noise-augmented at level round(999·noise_augmentation) on a 1000-step squared-cosine
schedule (q_sample with noise from a generator seeded with `seed − 10`), weighted by its strength, and the
first 1280 values are kept. With several embeddings their weighted sum is re-augmented at level 0 (ComfyUI draws
that noise unseeded; here it comes from `seed − 10` too, so runs repeat).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from diffusion.types import Conditioning
from diffusion.vision.clip_vision import ClipVisionOutput

TIMESTEPS = 1000
MAX_NOISE_LEVEL = 1000
SDXL_POOLED_WIDTH = 1280
SEED_OFFSET = -10
SDXL_FAMILIES = ("sdxl", "sdxl_refiner")


@functools.cache
def _schedule() -> tuple[torch.Tensor, torch.Tensor]:
    """sqrt(ᾱ_t) and sqrt(1 − ᾱ_t) of the squaredcos_cap_v2 schedule (betas capped at 0.999), as float32."""

    def alpha_bar(t: float) -> float:
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = np.array([min(1 - alpha_bar((i + 1) / TIMESTEPS) / alpha_bar(i / TIMESTEPS), 0.999)
                      for i in range(TIMESTEPS)])
    cumprod = np.cumprod(1.0 - betas)
    return (torch.tensor(np.sqrt(cumprod), dtype=torch.float32),
            torch.tensor(np.sqrt(1.0 - cumprod), dtype=torch.float32))


def augment(embeds: torch.Tensor, noise_augmentation: float, seed: int) -> torch.Tensor:
    """q_sample of `embeds` [1, D] at level round(999·noise_augmentation) with seeded Gaussian noise."""
    level = round((MAX_NOISE_LEVEL - 1) * noise_augmentation)
    keep, add = _schedule()
    noise = torch.randn(embeds.shape, generator=torch.Generator().manual_seed(seed), dtype=embeds.dtype)
    return keep[level] * embeds + add[level] * noise


def unclip_pooled(items: Sequence[Mapping[str, Any]], seed: int, width: int = SDXL_POOLED_WIDTH) -> torch.Tensor:
    """The pooled vector [1, width] SDXL uses for an entry's unclip_conditioning items (width 1280)."""
    weighted = []
    for item in items:
        output: ClipVisionOutput = item["clip_vision_output"]
        for embeds in output.image_embeds.float():
            augmented = augment(embeds.reshape(1, -1), float(item["noise_augmentation"]), seed + SEED_OFFSET)
            weighted.append(augmented * float(item["strength"]))
    if not weighted:
        raise ValueError("unCLIP conditioning without image embeddings")
    pooled = weighted[0] if len(weighted) == 1 else augment(torch.stack(weighted).sum(0), 0.0, seed + SEED_OFFSET)
    if pooled.shape[-1] < width:
        raise ValueError(f"unCLIP conditioning: SDXL needs image embeddings of width {width} "
                         f"(a ViT-bigG CLIP vision model), received {pooled.shape[-1]}")
    return pooled[:, :width]


def apply_unclip(conditioning: Conditioning, family: str, seed: int) -> Conditioning:
    """SDXL entries carrying unclip_conditioning get their pooled output replaced; others are returned as is."""
    if family not in SDXL_FAMILIES or not any("unclip_conditioning" in e.extras for e in conditioning):
        return conditioning
    out = []
    for entry in conditioning:
        items = entry.extras.get("unclip_conditioning")
        if items:
            batch = entry.cross_attn.shape[0]
            # The text's pooled width is the model's (1280 for SDXL); small test models have their own.
            width = entry.pooled_output.shape[-1] if entry.pooled_output is not None else SDXL_POOLED_WIDTH
            pooled = unclip_pooled(items, seed, width).expand(batch, -1)
            entry = entry.with_changes(pooled_output=pooled.to(entry.cross_attn.dtype))
        out.append(entry)
    return out
