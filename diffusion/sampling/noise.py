"""Noise sources with ComfyUI's seeding conventions.

* start noise: ``torch.manual_seed(seed)`` stream, ``randn`` on the CPU over the whole latent batch, or per
  batch index when the latent carries ``batch_index`` (so one image of a batch can be re-made alone);
* ancestral noise: a separate generator on the sample's device seeded with the seed (so on the CPU its first
  draw repeats the start noise; verified against ComfyUI 0.3.64 outputs);
* ``ddim`` inpainting noise: a fresh CPU stream seeded ``seed + 1``;
* SDE samplers: a Brownian tree (torchsde, Li et al. 2020, arXiv:2001.01328) seeded with the seed, on the CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
import torchsde

_UINT64 = 2**64


class NoiseSampler(Protocol):
    """Unit-variance noise for the step σ → σ_next."""

    def __call__(self, sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor: ...


def _generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(seed % _UINT64)
    return generator


def prepare_noise(latent: torch.Tensor, seed: int, batch_index: Sequence[int] | None = None) -> torch.Tensor:
    """Start noise for a latent batch, bit-identical to ComfyUI's for the same seed."""
    generator = _generator(seed)
    if batch_index is None:
        return torch.randn(latent.shape, dtype=torch.float32, generator=generator, device="cpu")
    indices = [int(i) for i in batch_index]
    if len(indices) != latent.shape[0]:
        raise ValueError(
            f"latent batch_index: expected {latent.shape[0]} indices (one per sample), received {len(indices)}"
        )
    if min(indices) < 0:
        raise ValueError(f"latent batch_index: expected indices >= 0, received {indices}")
    # Draw one sample's noise per index up to the largest, keep the ones asked for (in the order asked).
    per_index: dict[int, torch.Tensor] = {}
    wanted = set(indices)
    for i in range(max(indices) + 1):
        sample = torch.randn([1, *latent.shape[1:]], dtype=torch.float32, generator=generator, device="cpu")
        if i in wanted:
            per_index[i] = sample
    return torch.cat([per_index[i] for i in indices], dim=0)


class GeneratorNoise:
    """i.i.d. Gaussian noise from a dedicated generator (ancestral and re-noising samplers)."""

    def __init__(self, like: torch.Tensor, seed: int) -> None:
        self._shape = like.shape
        self._dtype = like.dtype
        self._device = like.device
        self._generator = _generator(seed, like.device)

    def __call__(self, sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
        return torch.randn(self._shape, dtype=self._dtype, device=self._device, generator=self._generator)


class BrownianTreeNoise:
    """Noise from a Brownian tree over [σ_min, σ_max]: consistent across step counts (for SDE solvers)."""

    def __init__(self, like: torch.Tensor, sigma_min: torch.Tensor, sigma_max: torch.Tensor, seed: int) -> None:
        t0, t1 = float(sigma_min), float(sigma_max)
        self._sign = 1.0 if t0 < t1 else -1.0
        lo, hi = min(t0, t1), max(t0, t1)
        self._device = like.device
        self._dtype = like.dtype
        w0 = torch.zeros(like.shape, dtype=torch.float32)
        self._tree = torchsde.BrownianTree(
            torch.tensor(lo, dtype=torch.float32), w0, torch.tensor(hi, dtype=torch.float32),
            entropy=seed % _UINT64,
        )

    def __call__(self, sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
        a = torch.as_tensor(sigma, dtype=torch.float32).cpu()
        b = torch.as_tensor(sigma_next, dtype=torch.float32).cpu()
        sign = 1.0 if a < b else -1.0
        lo, hi = (a, b) if a < b else (b, a)
        w: torch.Tensor = self._tree(lo, hi) * (self._sign * sign)
        return (w / (b - a).abs().sqrt()).to(self._device, self._dtype)
