"""The MODEL value: a shared, cached UNet plus the patches (LoRA) of this particular value."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from diffusion.models.model_options import NO_OPTIONS, ModelOptions, hooks_installed
from diffusion.models.patches import WeightPatch, applied
from diffusion.types import Family, ModelVariant, PredictionType


class UnknownVariant(ValueError):
    """A UNet whose input channels fit no known layout for its latent space."""


def model_variant(unet_in_channels: int, latent_channels: int) -> ModelVariant:
    """The variant a UNet is from its input-channel count (ComfyUI's rule: 8 → InstructPix2Pix, 9 → inpainting).

    The latent channel count comes from the VAE/family; the rest of the UNet's input is concat conditioning:
    ``latent_channels`` more for an InstructPix2Pix image latent, ``1 + latent_channels`` for inpainting.
    """
    extra = unet_in_channels - latent_channels
    if extra == 0:
        return "base"
    if extra == latent_channels:
        return "instructpix2pix"
    if extra == latent_channels + 1:
        return "inpaint"
    raise UnknownVariant(
        f"UNet with {unet_in_channels} input channels for {latent_channels}-channel latents: expected "
        f"{latent_channels} (plain), {2 * latent_channels} (InstructPix2Pix) or {2 * latent_channels + 1} (inpainting)"
    )


def training_alphas_cumprod(schedule: Mapping[str, Any]) -> torch.Tensor:
    """ᾱ of the scaled-linear training schedule, computed in float64 (as ComfyUI's σ table is)."""
    if schedule.get("beta_schedule", "scaled_linear") != "scaled_linear":
        raise ValueError(f"unsupported training schedule {schedule.get('beta_schedule')!r}")
    steps = int(schedule["num_train_timesteps"])
    start, end = float(schedule["beta_start"]), float(schedule["beta_end"])
    betas = torch.linspace(start**0.5, end**0.5, steps, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


@dataclass(frozen=True, eq=False)
class UnetModel:
    """Implements :class:`diffusion.types.DiffusionModel`. Cheap to copy: the UNet module is shared."""

    #: The diffusers ``UNet2DConditionModel`` (typed as a Module: diffusers is untyped).
    unet: torch.nn.Module
    family: Family
    prediction_type: PredictionType
    alphas_cumprod: torch.Tensor
    latent_scale_factor: float
    latent_channels: int
    #: What the UNet's input channels beyond ``latent_channels`` carry (see :func:`model_variant`).
    variant: ModelVariant = "base"
    patches: tuple[WeightPatch, ...] = ()
    #: Where it came from (file fingerprint) — for cache keys and messages.
    source: str = ""
    extras: dict[str, Any] = field(default_factory=dict)
    #: Sampling-time patches (FreeU, RescaleCFG, ModelSamplingDiscrete, ...): no weights are copied.
    options: ModelOptions = NO_OPTIONS

    def unet_for_sampling(self) -> AbstractContextManager[torch.nn.Module]:
        """The diffusers UNet with this value's patches applied; base weights restored on exit."""
        return self._applied()

    @contextmanager
    def _applied(self) -> Iterator[torch.nn.Module]:
        # ``applied`` holds the module lock for the whole block, so hooks never leak into another job.
        with applied(self.unet, self.patches) as module, hooks_installed(module, self.options.unet_hooks):
            yield module

    def with_patches(self, patches: tuple[WeightPatch, ...]) -> UnetModel:
        """A new MODEL value sharing the base UNet, with ``patches`` added to this value's."""
        return replace(self, patches=self.patches + patches)

    def with_options(self, options: ModelOptions) -> UnetModel:
        """A new MODEL value sharing the base UNet and weight patches, with other sampling-time options."""
        return replace(self, options=options)

    @property
    def device(self) -> torch.device:
        """Device of the UNet's weights."""
        return next(iter(self.unet.parameters())).device

    @property
    def dtype(self) -> torch.dtype:
        """dtype of the UNet's weights."""
        return next(self.unet.parameters()).dtype
