"""Model patches that change how a MODEL samples, not its weights (ComfyUI's ``model_options``).

A MODEL value carries an immutable :class:`ModelOptions`. Patch nodes (FreeU, RescaleCFG,
ModelSamplingDiscrete, PerturbedAttentionGuidance, DifferentialDiffusion, ...) return a new MODEL value with
one more entry; the cached UNet module is shared and never written to. The hooks are installed on the UNet
only inside ``unet_for_sampling()`` and removed on exit, so two MODEL values over the same UNet never see
each other's patches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

import torch

SamplingType = Literal["eps", "v_prediction", "lcm", "x0", "img_to_img"]


class UnetHook(Protocol):
    """Installs forward hooks / attention processors on a diffusers UNet for the duration of a block."""

    def installed(self, unet: torch.nn.Module) -> AbstractContextManager[None]: ...


@dataclass(frozen=True)
class CfgArgs:
    """What a CFG replacement sees (denoised = x0 estimates, in the sampler's VE space)."""

    x: torch.Tensor
    sigma: torch.Tensor
    cond_denoised: torch.Tensor
    uncond_denoised: torch.Tensor
    cond_scale: float


#: Replaces ``uncond + (cond − uncond)·scale`` (ComfyUI's ``sampler_cfg_function``): returns the x0 estimate.
CfgFunction = Callable[[CfgArgs], torch.Tensor]


@dataclass(frozen=True)
class PostCfgArgs:
    """What a post-CFG function sees; ``predict`` re-runs the model on the positive conditioning with extra
    UNet hooks (PAG's perturbed self-attention), returning its x0 estimate."""

    x: torch.Tensor
    sigma: torch.Tensor
    denoised: torch.Tensor
    cond_denoised: torch.Tensor
    predict: Callable[[Sequence[UnetHook]], torch.Tensor]
    #: The negative's x0 estimate and a way to re-run the negative at another sample (SAG); None without one.
    uncond_denoised: torch.Tensor | None = None
    predict_uncond: Callable[[torch.Tensor], torch.Tensor] | None = None


PostCfgFunction = Callable[[PostCfgArgs], torch.Tensor]


@dataclass(frozen=True)
class MaskArgs:
    """What a denoise-mask function sees: the step's σ and the whole schedule (DifferentialDiffusion)."""

    sigma: torch.Tensor
    sigmas: torch.Tensor
    #: σ → model timestep of the model being sampled.
    timestep: Callable[[torch.Tensor], torch.Tensor]
    sigma_min: float


DenoiseMaskFunction = Callable[[torch.Tensor, MaskArgs], torch.Tensor]


@dataclass(frozen=True)
class SamplingOverride:
    """ModelSamplingDiscrete: how the output is read (eps/v/x0/lcm) and whether the σ table has zero terminal SNR."""

    sampling: SamplingType
    zsnr: bool = False


@dataclass(frozen=True)
class ModelOptions:
    """Every sampling-time patch of a MODEL value, in the order the patch nodes were applied."""

    sampling: SamplingOverride | None = None
    cfg_function: CfgFunction | None = None
    post_cfg: tuple[PostCfgFunction, ...] = ()
    unet_hooks: tuple[UnetHook, ...] = ()
    denoise_mask_function: DenoiseMaskFunction | None = None
    #: Free-form notes for messages and cache keys (``"FreeU(b1=1.3, ...)"``).
    labels: tuple[str, ...] = field(default=())

    def with_changes(self, label: str, **changes: object) -> ModelOptions:
        """A copy with some fields replaced and ``label`` recorded."""
        return replace(self, labels=(*self.labels, label), **changes)  # type: ignore[arg-type]


NO_OPTIONS = ModelOptions()


def options_of(model: object) -> ModelOptions:
    """The options of a MODEL value (models that carry none have :data:`NO_OPTIONS`)."""
    options = getattr(model, "options", None)
    return options if isinstance(options, ModelOptions) else NO_OPTIONS


@contextmanager
def hooks_installed(unet: torch.nn.Module, hooks: Sequence[UnetHook]) -> Iterator[torch.nn.Module]:
    """Install ``hooks`` in order and remove them in reverse order on exit."""
    with ExitStack() as stack:
        for hook in hooks:
            stack.enter_context(hook.installed(unet))
        yield unet


@dataclass(frozen=True)
class UnetCall:
    """The UNet call in progress: its σ and, per batch chunk, the conditioning slot (0 positive, 1 negative)."""

    sigma: float
    slots: tuple[int, ...] = ()


_CURRENT_CALL: ContextVar[UnetCall | None] = ContextVar("current_unet_call", default=None)


@contextmanager
def unet_call(sigma: float, slots: tuple[int, ...] = ()) -> Iterator[None]:
    """Make the call's σ and batch layout visible to UNet hooks for the duration of one model call."""
    token = _CURRENT_CALL.set(UnetCall(sigma, slots))
    try:
        yield
    finally:
        _CURRENT_CALL.reset(token)


def current_call() -> UnetCall | None:
    """The UNet call in progress, or None outside sampling."""
    return _CURRENT_CALL.get()


def current_sigma() -> float | None:
    """σ of the UNet call in progress, or None outside sampling."""
    call = _CURRENT_CALL.get()
    return call.sigma if call is not None else None
