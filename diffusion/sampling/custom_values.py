"""The SAMPLER, NOISE and SIGMAS socket values of custom sampling (ComfyUI's SamplerCustom family).

* SAMPLER is a :class:`SamplerChoice`: a registered sampler plus keyword options (η, s_noise, r, order, ...).
* NOISE is a :class:`NoiseSource`: a seed and a way to make the start noise for a LATENT
  (:class:`RandomNoise` draws ComfyUI's CPU stream; :class:`DisableNoise` is zeros with seed 0).
* SIGMAS is a plain 1-D float32 CPU tensor, descending, normally ending in 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from diffusion.sampling.noise import prepare_noise
from diffusion.sampling.samplers import SamplerSpec, get_sampler


@dataclass(frozen=True)
class SamplerChoice:
    """A sampler by ComfyUI name with the options its ``Sampler*`` node set (empty for KSamplerSelect)."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> SamplerSpec:
        return get_sampler(self.name)


class NoiseSource(Protocol):
    """The NOISE socket value. ``seed`` also seeds the sampler's own noise stream (ancestral, SDE)."""

    @property
    def seed(self) -> int: ...

    def generate(self, latent: Mapping[str, Any]) -> torch.Tensor:
        """Start noise shaped like ``latent["samples"]`` (float32, CPU)."""
        ...


@dataclass(frozen=True)
class RandomNoise:
    """ComfyUI's ``Noise_RandomNoise``: the KSampler start noise of ``seed`` (per ``batch_index`` if set)."""

    seed: int

    def generate(self, latent: Mapping[str, Any]) -> torch.Tensor:
        samples = latent["samples"]
        return prepare_noise(samples, self.seed, latent.get("batch_index"))


@dataclass(frozen=True)
class DisableNoise:
    """ComfyUI's ``Noise_EmptyNoise``: no start noise (seed 0 for the sampler's own stream)."""

    seed: int = 0

    def generate(self, latent: Mapping[str, Any]) -> torch.Tensor:
        return torch.zeros(latent["samples"].shape, dtype=torch.float32)


def check_sigmas(node_id: str, sigmas: object) -> torch.Tensor:
    """A SIGMAS input as a 1-D float32 CPU tensor, or a clear error naming the node."""
    if not isinstance(sigmas, torch.Tensor) or sigmas.ndim != 1:
        got = tuple(sigmas.shape) if isinstance(sigmas, torch.Tensor) else type(sigmas).__name__
        raise ValueError(f"{node_id}: input 'sigmas' expected a 1-D SIGMAS tensor, received {got}")
    if not bool(torch.isfinite(sigmas).all()):
        raise ValueError(f"{node_id}: input 'sigmas' expected finite values, received {sigmas.tolist()}")
    return sigmas.detach().to("cpu", torch.float32)
