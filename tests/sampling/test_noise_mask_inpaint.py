"""SetLatentNoiseMask inpainting, step by step, with a closed-form denoiser behind a custom GUIDER.

ComfyUI's semantics: before every model call the unmasked region of x is replaced by the original latent
noised to the current σ with the start noise (``latent + σ·noise``), and the prediction there is the original
latent; only the masked region is denoised freely.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from sampling_fixtures import TinyModel

from diffusion.sampling.custom_values import SamplerChoice
from diffusion.sampling.guiders import GuideContext, sample_with_guider
from diffusion.sampling.samplers import Denoiser
from diffusion.types import DiffusionModel
from nodes.latent import set_latent_noise_mask


@dataclass
class RecordingGuider:
    """A GUIDER whose D(x; σ) is the exact denoiser of unit-variance Gaussian data, recording its inputs."""

    model: DiffusionModel
    seen: list[tuple[torch.Tensor, float]] = field(default_factory=list)

    def denoiser(self, ctx: GuideContext) -> Denoiser:
        def d(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            self.seen.append((x.clone(), float(sigma)))
            return x / (1 + sigma**2)

        return d


def test_unmasked_region_follows_the_noised_original(model: TinyModel) -> None:
    scale = model.latent_scale_factor
    original = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(1, 64, 64)
    mask[:, :, 32:] = 1.0  # right half repainted (latent columns 4..7)
    latent = set_latent_noise_mask({"samples": original}, mask).latent
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    sigmas = torch.tensor([8.0, 3.0, 1.0, 0.0])
    guider = RecordingGuider(model)
    out = sample_with_guider(guider, SamplerChoice("euler"), sigmas, noise, original, 0,
                             noise_mask=latent["noise_mask"]).samples
    assert [s for _, s in guider.seen] == [8.0, 3.0, 1.0]
    for x, sigma in guider.seen:
        # Left half: exactly the scaled original plus σ·noise (not the sampler's own x).
        torch.testing.assert_close(x[..., :4], original[..., :4] * scale + sigma * noise[..., :4])
    # The kept region comes back as the original latent; the repainted one is the Euler solution.
    torch.testing.assert_close(out[..., :4], original[..., :4], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(out[..., 4:], original[..., 4:], atol=1e-2)


def test_mask_of_ones_is_plain_sampling_and_zeros_keep_the_latent(model: TinyModel) -> None:
    original = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(4))
    sigmas = torch.tensor([5.0, 1.0, 0.0])
    plain = sample_with_guider(RecordingGuider(model), SamplerChoice("euler"), sigmas, noise, original, 0).samples
    ones = sample_with_guider(RecordingGuider(model), SamplerChoice("euler"), sigmas, noise, original, 0,
                              noise_mask=torch.ones(1, 1, 64, 64)).samples
    assert torch.equal(ones, plain)
    zeros = sample_with_guider(RecordingGuider(model), SamplerChoice("euler"), sigmas, noise, original, 0,
                               noise_mask=torch.zeros(1, 1, 64, 64)).samples
    torch.testing.assert_close(zeros, original, rtol=1e-5, atol=1e-6)
