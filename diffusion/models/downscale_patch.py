"""PatchModelAddDownscale ("Kohya Deep Shrink"): while σ is in a range, the UNet's features are shrunk after
one encoder block and grown back in the decoder where they meet a larger skip connection, so a large image
is composed at a smaller effective resolution early on (fewer repeated subjects) and detailed at full size.

Encoder blocks are numbered as ComfyUI numbers its ``input_blocks``: 0 is the input convolution, then each
ResNet (with its attention, if any) and each downsampler in order; SD1.x has 12 (0-11), SDXL 9 (0-8).
"Downscale after skip" shrinks what continues down the encoder but keeps that block's own skip at full
size; otherwise the skip is shrunk too. In the decoder, a backbone feature map smaller than the skip it is
concatenated with is resized to the skip's size first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from diffusion.models.model_options import current_sigma
from diffusion.sampling.latent_ops import upscale_latent


def encoder_blocks(unet: torch.nn.Module) -> list[tuple[torch.nn.Module, torch.nn.Module]]:
    """(first module, last module) of each encoder block, in ComfyUI's ``input_blocks`` order."""
    net: Any = unet
    blocks: list[tuple[torch.nn.Module, torch.nn.Module]] = [(net.conv_in, net.conv_in)]
    for down in net.down_blocks:
        attentions = getattr(down, "attentions", None)
        for index, resnet in enumerate(down.resnets):
            last = attentions[index] if attentions is not None else resnet
            blocks.append((resnet, last))
        if down.downsamplers is not None:
            blocks.append((down.downsamplers[0], down.downsamplers[0]))
    return blocks


def _resize(h: torch.Tensor, width: int, height: int, method: str) -> torch.Tensor:
    return upscale_latent(h, width, height, method).to(h.dtype)


@dataclass(frozen=True)
class DeepShrink:
    """UnetHook for PatchModelAddDownscale (σ range already converted from percents)."""

    block_number: int
    downscale_factor: float
    sigma_start: float
    sigma_end: float
    downscale_after_skip: bool
    downscale_method: str
    upscale_method: str

    def _shrink(self, h: torch.Tensor) -> torch.Tensor:
        sigma = current_sigma()
        if sigma is None or not (self.sigma_end <= sigma <= self.sigma_start):
            return h
        width = round(h.shape[-1] * (1.0 / self.downscale_factor))
        height = round(h.shape[-2] * (1.0 / self.downscale_factor))
        return _resize(h, width, height, self.downscale_method)

    @contextmanager
    def installed(self, unet: torch.nn.Module) -> Iterator[None]:
        net: Any = unet
        blocks = encoder_blocks(unet)
        handles: list[Any] = []
        if self.block_number < len(blocks):
            if self.downscale_after_skip:
                consumer = blocks[self.block_number + 1][0] if self.block_number + 1 < len(blocks) else net.mid_block
                handles.append(consumer.register_forward_pre_hook(
                    lambda module, args: (self._shrink(args[0]), *args[1:])))
            else:
                def after(module: torch.nn.Module, args: Any, output: Any) -> Any:
                    if isinstance(output, tuple):
                        return (self._shrink(output[0]), *output[1:])
                    return self._shrink(output)

                handles.append(blocks[self.block_number][1].register_forward_hook(after))
        handles.extend(self._decoder_hooks(net))
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _decoder_hooks(self, net: Any) -> list[Any]:
        """Before each decoder ResNet's concatenation, grow the backbone to the size of its skip."""
        handles = []
        for block in net.up_blocks:
            state: dict[str, Any] = {}

            def remember(module: torch.nn.Module, args: Any, kwargs: dict[str, Any], state: dict[str, Any] = state
                         ) -> tuple[Any, dict[str, Any]]:
                skips = kwargs.get("res_hidden_states_tuple", args[1] if len(args) > 1 else None)
                state["skips"] = list(skips)[::-1] if skips is not None else []
                if "hidden_states" in kwargs:
                    kwargs["hidden_states"] = self._grow(kwargs["hidden_states"], state, 0)
                else:
                    args = (self._grow(args[0], state, 0), *args[1:])
                return args, kwargs

            handles.append(block.register_forward_pre_hook(remember, with_kwargs=True))
            attentions = getattr(block, "attentions", None)
            for index in range(len(block.resnets) - 1):
                producer = attentions[index] if attentions is not None else block.resnets[index]

                def grow(module: torch.nn.Module, args: Any, output: Any, state: dict[str, Any] = state,
                         index: int = index) -> Any:
                    if isinstance(output, tuple):
                        return (self._grow(output[0], state, index + 1), *output[1:])
                    return self._grow(output, state, index + 1)

                handles.append(producer.register_forward_hook(grow))
        return handles

    def _grow(self, h: torch.Tensor, state: dict[str, Any], index: int) -> torch.Tensor:
        skips = state.get("skips", [])
        if index >= len(skips) or h.shape[-2:] == skips[index].shape[-2:]:
            return h
        skip = skips[index]
        return _resize(h, skip.shape[-1], skip.shape[-2], self.upscale_method)
