"""The values that flow between diffusion nodes (MODEL, CLIP, VAE, CONDITIONING, CONTROL_NET).

This module is the contract between the model stack (loading, text encoding) and the
sampling stack. Semantics follow ComfyUI so that workflows and habits carry over:

* LATENT is ``{"samples": Tensor[B, C, H/8, W/8], "noise_mask"?: Tensor, "batch_index"?: list[int]}``
  in the VAE's *raw* latent space (unscaled); the sampler multiplies by
  ``DiffusionModel.latent_scale_factor`` on the way in and divides on the way out.
* IMAGE is float32 ``[B, H, W, C]`` in 0..1; MASK is float32 ``[B, H, W]`` (or ``[H, W]``) in 0..1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import torch

Family = Literal["sd1", "sd2", "sdxl", "sdxl_refiner", "sd3"]
PredictionType = Literal["epsilon", "v_prediction"]
#: What a UNet's input channels beyond the latent's carry: nothing, an InstructPix2Pix image latent, or an
#: inpainting model's [mask | masked-image latent] (see diffusion/sampling/concat.py).
ModelVariant = Literal["base", "instructpix2pix", "inpaint"]


class DiffusionModel(Protocol):
    """The MODEL socket value: a denoising UNet plus what sampling needs to know about it."""

    # Read-only (properties) so that frozen dataclasses implement the protocol.
    @property
    def family(self) -> Family: ...

    @property
    def prediction_type(self) -> PredictionType: ...

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        """The training schedule's ``alphas_cumprod`` (1000 values for SD), on CPU."""
        ...

    @property
    def latent_scale_factor(self) -> float:
        """SD1/SD2: 0.18215, SDXL: 0.13025."""
        ...

    @property
    def latent_channels(self) -> int: ...

    def unet_for_sampling(self) -> AbstractContextManager[torch.nn.Module]:
        """Yield the diffusers ``UNet2DConditionModel`` with this model's patches (LoRA) applied.

        The cached base weights must be unchanged after the context exits.
        """
        ...

    @property
    def device(self) -> torch.device: ...

    @property
    def dtype(self) -> torch.dtype: ...


class VaeModel(Protocol):
    """The VAE socket value."""

    latent_channels: int
    #: 8 for every SD family.
    downscale_factor: int

    def decode(self, samples: torch.Tensor) -> torch.Tensor:
        """Raw latent ``[B, C, h, w]`` -> IMAGE ``[B, 8h, 8w, 3]`` float32 in 0..1 on CPU (tiles on OOM)."""
        ...

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """IMAGE ``[B, H, W, 3]`` in 0..1 -> raw latent ``[B, C, H/8, W/8]`` float32 on CPU (mean of the posterior)."""
        ...


@dataclass(frozen=True)
class ControlHint:
    """One ControlNet applied to a conditioning entry; ``previous`` chains several ControlNets."""

    control_net: Any  # the CONTROL_NET socket value (a loaded diffusers ControlNetModel wrapper)
    hint: torch.Tensor  # IMAGE [B, H, W, 3] in 0..1
    strength: float
    start_percent: float = 0.0
    end_percent: float = 1.0
    previous: ControlHint | None = None

    def chain(self) -> Iterator[ControlHint]:
        """This hint and every previous one, newest first."""
        hint: ControlHint | None = self
        while hint is not None:
            yield hint
            hint = hint.previous


@dataclass(frozen=True)
class ConditioningEntry:
    """One element of a CONDITIONING list (ComfyUI's ``[tensor, dict]`` pair, made explicit)."""

    #: Cross-attention context ``[B, tokens, dim]`` (tokens a multiple of 77).
    cross_attn: torch.Tensor
    #: Pooled text embedding (SDXL ``text_embeds``), ``[B, dim]``.
    pooled_output: torch.Tensor | None = None
    #: SDXL micro-conditioning: (height, width, crop_h, crop_w, target_height, target_width) in pixels,
    #: or for the refiner (height, width, crop_h, crop_w, aesthetic_score).
    sdxl_time_ids: tuple[float, ...] | None = None
    #: ``ConditioningSetArea``: (height, width, y, x) in pixels, None = whole image.
    area: tuple[int, int, int, int] | None = None
    strength: float = 1.0
    #: ``ConditioningSetAreaPercentage``: (height, width, y, x) as fractions of the latent; wins over ``area``.
    area_percent: tuple[float, float, float, float] | None = None
    #: ``ConditioningSetMask``: ``[B, H, W]`` weights at any resolution (resized to the latent when sampling).
    mask: torch.Tensor | None = None
    mask_strength: float = 1.0
    #: "mask bounds": evaluate only the mask's bounding box (at least 8×8 latent cells).
    set_area_to_bounds: bool = False
    #: ``ConditioningSetTimestepRange``: active from ``start`` to ``end`` (fractions of the sampling process).
    timestep_range: tuple[float, float] | None = None
    control: ControlHint | None = None
    #: Anything else a node wants to carry (kept for forward compatibility).
    extras: dict[str, Any] = field(default_factory=dict)

    def with_changes(self, **changes: Any) -> ConditioningEntry:
        """A copy with some fields replaced (entries are immutable because outputs are cached)."""
        return replace(self, **changes)


Conditioning = list[ConditioningEntry]
