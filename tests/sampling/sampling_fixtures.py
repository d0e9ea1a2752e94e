"""Tiny random diffusers models wrapped as MODEL values, for sampling tests (fp32, CPU, milliseconds)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from diffusers import ControlNetModel, UNet2DConditionModel

from diffusion.types import ConditioningEntry, Family, PredictionType

CONTEXT_DIM = 32


def perturb(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Give every tensor random, non-zero values (zero-initialised layers would hide bugs)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.05)
    return module.eval()


def tiny_unet(seed: int = 0, sdxl: bool = False) -> UNet2DConditionModel:
    extra = {}
    if sdxl:
        extra = {"addition_embed_type": "text_time", "addition_time_embed_dim": 8,
                 "projection_class_embeddings_input_dim": 6 * 8 + CONTEXT_DIM}
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=CONTEXT_DIM, attention_head_dim=8, norm_num_groups=32, **extra,
    )
    return perturb(unet, seed + 1)


def tiny_controlnet(unet: UNet2DConditionModel, seed: int = 5) -> ControlNetModel:
    torch.manual_seed(seed)
    net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 16, 32, 32))
    return perturb(net, seed + 1)


@dataclass
class TinyModel:
    """A DiffusionModel over a tiny diffusers UNet (test-only adapter)."""

    unet: torch.nn.Module
    family: Family = "sd1"
    prediction_type: PredictionType = "epsilon"
    latent_scale_factor: float = 0.18215
    latent_channels: int = 4
    calls: int = 0

    def __post_init__(self) -> None:
        betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)

    def _count(self, module: torch.nn.Module, args: object) -> None:
        self.calls += 1

    @contextmanager
    def unet_for_sampling(self) -> Iterator[torch.nn.Module]:
        hook = self.unet.register_forward_pre_hook(self._count)
        try:
            yield self.unet
        finally:
            hook.remove()

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32


def text_cond(seed: int, batch: int = 1, tokens: int = 77, **kw: object) -> ConditioningEntry:
    generator = torch.Generator().manual_seed(seed)
    return ConditioningEntry(cross_attn=torch.randn(batch, tokens, CONTEXT_DIM, generator=generator), **kw)  # type: ignore[arg-type]


def schema_rows(node_id: str) -> list[tuple[str, object, object, object]]:
    """(input, default, min, max) per input of a registered node, in order; None for sockets and no limits."""
    from graph.registry import REGISTRY

    spec = REGISTRY.get(node_id)
    assert spec is not None, f"{node_id} is not registered"
    return [(i.name, i.default if i.has_default and not i.is_socket else None,
             i.range.min if i.range else None, i.range.max if i.range else None) for i in spec.inputs]
