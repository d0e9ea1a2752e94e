"""Regression (ComfyUI parity): ``lms`` and ``ipndm`` end with a plain denoising step: the step to σ = 0
returns D(x; σ_last) instead of extrapolating the multistep polynomial to 0 (which lands elsewhere)."""

from __future__ import annotations

import pytest
import torch

from diffusion.sampling.samplers import SAMPLERS


def gaussian_denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The exact D(x; σ) for unit-variance Gaussian data: E[x0 | x] = x / (1 + σ²)."""
    return x / (1 + sigma**2)


@pytest.mark.parametrize("name", ["lms", "ipndm"])
def test_step_to_zero_is_the_denoised_estimate(name: str) -> None:
    sigmas = torch.tensor([14.6, 6.0, 2.5, 1.0, 0.4, 0.1, 0.0])
    x = torch.randn(1, 4, 3, 3, generator=torch.Generator().manual_seed(0)) * 14.6
    sampler = SAMPLERS[name].function
    before_last = sampler(gaussian_denoiser, x, sigmas[:-1])
    full = sampler(gaussian_denoiser, x, sigmas)
    assert torch.equal(full, gaussian_denoiser(before_last, sigmas[-2]))
