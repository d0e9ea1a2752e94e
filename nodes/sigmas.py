"""SIGMAS operations: split, flip, set the first value."""

from __future__ import annotations

from typing import Annotated

from diffusion.sampling import custom_schedules as cs
from diffusion.sampling.custom_values import check_sigmas
from graph.spec import Outputs, node
from graph.widgets import Label, Range
from nodes.sockets import SIGMAS


class SigmasResult(Outputs):
    sigmas: SIGMAS


class SplitResult(Outputs):
    high_sigmas: Annotated[SIGMAS, Label("high_sigmas")]
    low_sigmas: Annotated[SIGMAS, Label("low_sigmas")]


@node("SplitSigmas", category="sampling/sigmas")
def split_sigmas(sigmas: SIGMAS, step: Annotated[int, Range(0, 10000)] = 0) -> SplitResult:
    """Split a schedule at a step: the high half ends and the low half starts at σ_step."""
    high, low = cs.split_at_step(check_sigmas("SplitSigmas", sigmas), step)
    return SplitResult(high, low)


@node("SplitSigmasDenoise", category="sampling/sigmas")
def split_sigmas_denoise(sigmas: SIGMAS,
                         denoise: Annotated[float, Range(0.0, 1.0, step=0.01)] = 1.0) -> SplitResult:
    """Split so the low half holds the last round(steps·denoise) steps."""
    high, low = cs.split_at_denoise(check_sigmas("SplitSigmasDenoise", sigmas), denoise)
    return SplitResult(high, low)


@node("FlipSigmas", category="sampling/sigmas")
def flip_sigmas(sigmas: SIGMAS) -> SigmasResult:
    """Reverse the schedule (σ rising: unsampling); a leading 0 becomes 0.0001."""
    return SigmasResult(cs.flip(check_sigmas("FlipSigmas", sigmas)))


@node("SetFirstSigma", category="sampling/sigmas")
def set_first_sigma(sigmas: SIGMAS,
                    sigma: Annotated[float, Range(0.0, 20000.0, step=0.001, round=False)] = 136.0) -> SigmasResult:
    """Replace σ₀ (e.g. a larger start noise)."""
    sigmas = check_sigmas("SetFirstSigma", sigmas)
    if len(sigmas) == 0:
        raise ValueError("SetFirstSigma: input 'sigmas' expected at least one value, received an empty schedule")
    return SigmasResult(cs.set_first(sigmas, sigma))
