"""ControlNetApply (old) and ControlNetApplyAdvanced: attach a ControlNet hint to conditioning entries."""

from __future__ import annotations

from typing import Annotated

import torch

from diffusion.types import Conditioning, ControlHint
from diffusion.vae import Vae
from graph.sockets import Socket
from graph.spec import Outputs, node
from graph.widgets import OptionalInput, Range
from nodes.sockets import CONDITIONING, CONTROL_NET, IMAGE

Strength = Annotated[float, Range(0.0, 10.0, step=0.01)]
Percent = Annotated[float, Range(0.0, 1.0, step=0.001)]


class ConditioningResult(Outputs):
    conditioning: CONDITIONING


class PositiveNegative(Outputs):
    positive: CONDITIONING
    negative: CONDITIONING


def _hint(node_id: str, image: torch.Tensor) -> torch.Tensor:
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[-1] != 3:
        got = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"{node_id}: input 'image' expected an IMAGE [B, H, W, 3], received {got}")
    return image


@node("ControlNetApply", category="conditioning/controlnet", display_name="Apply ControlNet (OLD)",
      deprecated=True)
def controlnet_apply(conditioning: CONDITIONING, control_net: CONTROL_NET, image: IMAGE,
                     strength: Strength = 1.0) -> ConditioningResult:
    """Apply a ControlNet to every entry (and, at sampling time, to the matching negative)."""
    if strength == 0:
        return ConditioningResult(conditioning)
    hint = _hint("ControlNetApply", image)
    out = [
        entry.with_changes(
            control=ControlHint(control_net, hint, strength, previous=entry.control),
            extras={**entry.extras, "control_apply_to_uncond": True},
        )
        for entry in conditioning
    ]
    return ConditioningResult(out)


@node("ControlNetApplyAdvanced", category="conditioning/controlnet", display_name="Apply ControlNet")
def controlnet_apply_advanced(
    positive: CONDITIONING,
    negative: CONDITIONING,
    control_net: CONTROL_NET,
    image: IMAGE,
    strength: Strength = 1.0,
    start_percent: Percent = 0.0,
    end_percent: Percent = 1.0,
    vae: Annotated[Vae | None, Socket("VAE"), OptionalInput()] = None,
) -> PositiveNegative:
    """Apply a ControlNet to positive and negative, chained after any ControlNet already there.

    Entries that share a previous ControlNet share one hint object, so positive and negative stay batchable.
    """
    if strength == 0:
        return PositiveNegative(positive, negative)
    hint = _hint("ControlNetApplyAdvanced", image)
    by_previous: dict[int, ControlHint] = {}

    def attach(conditioning: Conditioning) -> Conditioning:
        out = []
        for entry in conditioning:
            key = id(entry.control)
            if key not in by_previous:
                by_previous[key] = ControlHint(control_net, hint, strength, start_percent, end_percent,
                                               previous=entry.control)
            extras = {k: v for k, v in entry.extras.items() if k != "control_apply_to_uncond"}
            out.append(entry.with_changes(control=by_previous[key], extras=extras))
        return out

    return PositiveNegative(attach(positive), attach(negative))
