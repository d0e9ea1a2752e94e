"""Weight patches (LoRA deltas) applied to a shared base module without changing its cached weights.

A patch set is applied by *replacing* each targeted parameter's tensor with ``base + Σ s·ΔW`` for
the duration of a ``with`` block and putting the very same base tensor back afterwards, so the
base is restored bit for bit (no subtract-back rounding) and is never written to.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LowRankDelta:
    """ΔW = scale · up @ down (reshaped to the weight's shape): one LoRA layer."""

    up: torch.Tensor  # [out, rank] (or conv [out, rank, kh, kw])
    down: torch.Tensor  # [rank, in] (or conv [rank, in, kh, kw])
    scale: float  # alpha / rank

    def product(self, shape: torch.Size) -> torch.Tensor:
        """``up @ down`` in float32, shaped like the target weight (unscaled)."""
        up = self.up.float().flatten(start_dim=1)
        down = self.down.float().flatten(start_dim=1)
        return (up @ down).reshape(shape)

    def delta(self, shape: torch.Size) -> torch.Tensor:
        """The full-rank update in float32, shaped like the target weight."""
        return self.product(shape) * self.scale


@dataclass(frozen=True)
class WeightPatch:
    """``strength · delta`` added to parameter ``name`` (a ``named_parameters`` key)."""

    name: str
    delta: LowRankDelta
    strength: float


_apply_lock = threading.RLock()


def patched_tensors(module: torch.nn.Module, patches: tuple[WeightPatch, ...]) -> dict[str, torch.Tensor]:
    """The patched value of every targeted parameter, computed as ComfyUI does so results match bit for bit:
    the weight in float32, then each patch in the order it was applied added in place as
    ``(strength · alpha/rank) · (up @ down)`` (the two scalars multiplied first, in double precision: scaling
    the product by each in turn rounds twice and drifts at strengths other than 1), then cast back."""
    params = dict(module.named_parameters())
    weights: dict[str, torch.Tensor] = {}
    for patch in patches:
        if patch.strength == 0.0:
            continue
        base = params[patch.name]
        weight = weights.get(patch.name)
        if weight is None:
            weight = weights[patch.name] = base.detach().float().clone()
        weight += (patch.strength * patch.delta.scale) * patch.delta.product(base.shape).to(base.device)
    return {name: w.to(params[name].dtype) for name, w in weights.items()}


@contextmanager
def applied(module: torch.nn.Module, patches: tuple[WeightPatch, ...]) -> Iterator[torch.nn.Module]:
    """Temporarily swap patched tensors into ``module``; the base tensors come back untouched."""
    with _apply_lock:
        if not patches:
            yield module
            return
        params = dict(module.named_parameters())
        originals = {name: params[name].data for name in {p.name for p in patches}}
        try:
            for name, value in patched_tensors(module, patches).items():
                params[name].data = value
            yield module
        finally:
            for name, tensor in originals.items():
                params[name].data = tensor
