"""UNet hooks for model patches (installed only while sampling; the UNet's weights are never touched).

FreeU (Si et al. 2023, "FreeU: Free Lunch in Diffusion U-Net", arXiv:2309.11521) rescales the decoder:
before each up-block ResNet, the backbone features ``h`` get their first half of channels multiplied by
``b`` and the skip features are damped in their lowest frequencies by ``s`` (a Fourier-domain box filter).
As in ComfyUI, the (b, s) pair is chosen by the channel count of ``h``: 4× the base channels → (b1, s1),
2× → (b2, s2); other ResNets are left alone. FreeU_V2 (the paper's released version) scales ``h`` by
``1 + (b − 1)·m`` with ``m`` the channel-mean map min-max normalised per sample.

In a diffusers UNet, every up-block ResNet is called on ``cat([h, skip], dim=1)``; a forward pre-hook splits
that input back into ``h`` and ``skip`` (their widths follow from the block layout) and patches both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch


def fourier_filter(x: torch.Tensor, threshold: int, scale: float) -> torch.Tensor:
    """Multiply the centred ``2·threshold`` square of low frequencies of ``x`` (per channel) by ``scale``."""
    freq = torch.fft.fftshift(torch.fft.fftn(x.float(), dim=(-2, -1)), dim=(-2, -1))
    _, _, height, width = freq.shape
    mask = torch.ones(freq.shape, device=x.device)
    cy, cx = height // 2, width // 2
    mask[..., cy - threshold:cy + threshold, cx - threshold:cx + threshold] = scale
    freq = torch.fft.ifftshift(freq * mask, dim=(-2, -1))
    filtered: torch.Tensor = torch.fft.ifftn(freq, dim=(-2, -1)).real
    return filtered.to(x.dtype)


def up_block_resnets(unet: torch.nn.Module) -> list[tuple[torch.nn.Module, int]]:
    """Every decoder ResNet of a diffusers UNet with the channel count of its backbone input ``h``."""
    # diffusers is untyped: read the block layout through Any.
    net: Any = unet
    out: list[tuple[torch.nn.Module, int]] = []
    previous = int(net.mid_block.resnets[-1].out_channels)
    for block in net.up_blocks:
        for index, resnet in enumerate(block.resnets):
            h_channels = previous if index == 0 else int(block.resnets[index - 1].out_channels)
            out.append((resnet, h_channels))
        previous = int(block.resnets[-1].out_channels)
    return out


def base_channels(unet: torch.nn.Module) -> int:
    """The UNet's first block width (ComfyUI's ``model_channels``)."""
    net: Any = unet
    return int(net.config.block_out_channels[0])


@dataclass(frozen=True)
class FreeU:
    """FreeU (``version`` 1, ComfyUI's FreeU) or FreeU_V2 (``version`` 2)."""

    b1: float
    b2: float
    s1: float
    s2: float
    version: int = 1

    def _scales(self, unet: torch.nn.Module) -> dict[int, tuple[float, float]]:
        channels = base_channels(unet)
        return {channels * 4: (self.b1, self.s1), channels * 2: (self.b2, self.s2)}

    def patch(self, h: torch.Tensor, skip: torch.Tensor, b: float, s: float) -> tuple[torch.Tensor, torch.Tensor]:
        """The patched backbone and skip features of one decoder ResNet."""
        h = h.clone()
        half = h.shape[1] // 2
        if self.version == 1:
            h[:, :half] = h[:, :half] * b
        else:
            mean = h.mean(1, keepdim=True)
            flat = mean.flatten(1)
            lo = flat.min(dim=-1).values.reshape(-1, 1, 1, 1)
            hi = flat.max(dim=-1).values.reshape(-1, 1, 1, 1)
            h[:, :half] = h[:, :half] * ((b - 1) * (mean - lo) / (hi - lo) + 1)
        return h, fourier_filter(skip, threshold=1, scale=s)

    @contextmanager
    def installed(self, unet: torch.nn.Module) -> Iterator[None]:
        scales = self._scales(unet)
        handles = []
        for resnet, h_channels in up_block_resnets(unet):
            if h_channels not in scales:
                continue
            b, s = scales[h_channels]

            def hook(module: torch.nn.Module, args: tuple[Any, ...], *, split: int = h_channels,
                     b: float = b, s: float = s) -> tuple[Any, ...]:
                x = args[0]
                h, skip = self.patch(x[:, :split], x[:, split:], b, s)
                return (torch.cat([h, skip], dim=1), *args[1:])

            handles.append(resnet.register_forward_pre_hook(hook))
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()
