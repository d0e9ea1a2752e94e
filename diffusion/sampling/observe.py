"""Sampling observers: a hook that sees the σ schedule a sampling run consumes and every step it takes.

The one sampling loop (guiders.sample_with_guider) reports to the observers installed in the current context,
so tools that must agree with sampling exactly (the schedule route's test, the denoising filmstrip) read what
the sampler really used instead of recomputing it. Observers are per context (a ContextVar): concurrent jobs
and threads do not see each other's runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

import torch


@dataclass(frozen=True)
class StepRecord:
    """One sampler step, in the model's raw (unscaled) latent space, on the CPU."""

    #: 0-based index into the schedule: this step goes from ``sigmas[step]`` to ``sigmas[step + 1]``.
    step: int
    total_steps: int
    sigma: float
    #: The noisy sample at ``sigma`` that the model was evaluated on (the step's input).
    x: torch.Tensor
    #: The model's x0 prediction at this step.
    denoised: torch.Tensor


class SamplingObserver(Protocol):
    def started(self, sigmas: torch.Tensor, start: torch.Tensor) -> None:
        """The schedule the sampler will consume and its start sample (raw latent space, CPU)."""

    def stepped(self, record: StepRecord) -> None:
        """After each step."""


_OBSERVERS: ContextVar[tuple[SamplingObserver, ...]] = ContextVar("sampling_observers", default=())


@contextmanager
def observing(observer: SamplingObserver) -> Iterator[SamplingObserver]:
    """Report every sampling run inside the block to ``observer``."""
    token = _OBSERVERS.set((*_OBSERVERS.get(), observer))
    try:
        yield observer
    finally:
        _OBSERVERS.reset(token)


def active() -> tuple[SamplingObserver, ...]:
    """The observers of the current context (empty almost always: then sampling does no extra work)."""
    return _OBSERVERS.get()


@dataclass
class ScheduleRecorder:
    """Keeps the schedules of the runs it observes (one tensor per run), and nothing else."""

    schedules: list[torch.Tensor] = field(default_factory=list)

    def started(self, sigmas: torch.Tensor, start: torch.Tensor) -> None:
        self.schedules.append(sigmas.detach().float().cpu().clone())

    def stepped(self, record: StepRecord) -> None:
        return None


@dataclass
class TrajectoryRecorder:
    """Keeps every ``every``-th step of the runs it observes: σ, the noisy sample and the x0 prediction (raw latent
    space, CPU), plus each run's start sample. The building block of the denoising filmstrip (not yet wired to
    jobs or a node: see README, "See and compare")."""

    every: int = 1
    starts: list[torch.Tensor] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)

    def started(self, sigmas: torch.Tensor, start: torch.Tensor) -> None:
        self.starts.append(start.clone())

    def stepped(self, record: StepRecord) -> None:
        if record.step % max(self.every, 1) == 0 or record.step == record.total_steps - 1:
            self.steps.append(record)
