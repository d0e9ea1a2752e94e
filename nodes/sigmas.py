"""SIGMAS operations: split, flip, set the first value, extend; a σ from a sampling percentage."""

from __future__ import annotations

from typing import Annotated, Literal

from diffusion.sampling import custom_schedules as cs
from diffusion.sampling.custom_values import check_sigmas
from diffusion.sampling.guiders import model_sampling_for
from graph.spec import Outputs, node
from graph.widgets import Label, Range, Toggle
from nodes.sockets import FLOAT, MODEL, SIGMAS


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


@node("ExtendIntermediateSigmas", category="sampling/sigmas")
def extend_intermediate_sigmas(
    sigmas: SIGMAS,
    steps: Annotated[int, Range(1, 100)] = 2,
    start_at_sigma: Annotated[float, Range(-1.0, 20000.0, step=0.01, round=False)] = -1.0,
    end_at_sigma: Annotated[float, Range(0.0, 20000.0, step=0.01, round=False)] = 12.0,
    spacing: Literal["linear", "cosine", "sine"] = "linear",
) -> SigmasResult:
    """Split each step between start_at_sigma (-1: any) and end_at_sigma into ``steps`` smaller steps."""
    return SigmasResult(cs.extend_intermediate(check_sigmas("ExtendIntermediateSigmas", sigmas), steps,
                                               start_at_sigma, end_at_sigma, spacing))


class SigmaValue(Outputs):
    sigma_value: Annotated[FLOAT, Label("sigma_value")]


@node("SamplingPercentToSigma", category="sampling/sigmas")
def sampling_percent_to_sigma(
    model: MODEL,
    sampling_percent: Annotated[float, Range(0.0, 1.0, step=0.0001)] = 0.0,
    return_actual_sigma: Annotated[bool, Toggle()] = False,
) -> SigmaValue:
    """The σ at a fraction of the sampling process (0 → ∞ for range checks, or σ_max when asked for the actual)."""
    ms = model_sampling_for(model)
    value = ms.percent_to_sigma(sampling_percent)
    if return_actual_sigma:
        if sampling_percent == 0.0:
            value = float(ms.sigma_max)
        elif sampling_percent == 1.0:
            value = float(ms.sigma_min)
    return SigmaValue(value)
