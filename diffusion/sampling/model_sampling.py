"""Discrete model sampling: the σ table of a DDPM-trained model and the σ ↔ timestep maps.

Follows the conventions of ComfyUI's ``ModelSamplingDiscrete`` (behaviour, not code): the table is computed
in float64 from ``alphas_cumprod`` and stored as float32; the UNet is fed the *nearest integer* timestep in
log-σ; the VE-space formulation of Karras et al. 2022 (arXiv:2206.00364) is used throughout
(``x = x0 + σ·ε``, model input scaled by ``1/√(σ²+1)``).
"""

from __future__ import annotations

import math

import torch

from diffusion.types import PredictionType


class ModelSampling:
    """σ table plus the input/output conversions of an eps- or v-prediction model."""

    def __init__(self, alphas_cumprod: torch.Tensor, prediction_type: PredictionType = "epsilon") -> None:
        if alphas_cumprod.ndim != 1 or alphas_cumprod.numel() < 2:
            raise ValueError(f"alphas_cumprod must be a 1-D table, got shape {tuple(alphas_cumprod.shape)}")
        if prediction_type not in ("epsilon", "v_prediction"):
            raise ValueError(f"prediction_type must be 'epsilon' or 'v_prediction', got {prediction_type!r}")
        ac = alphas_cumprod.detach().to("cpu", torch.float64)
        self.prediction_type: PredictionType = prediction_type
        # float64 then float32, as the reference does; diffusers computes in float32 (rel. diff ~1e-5).
        self.sigmas: torch.Tensor = (((1 - ac) / ac) ** 0.5).to(torch.float32)
        self.log_sigmas: torch.Tensor = self.sigmas.log()

    @classmethod
    def scaled_linear(
        cls, beta_start: float = 0.00085, beta_end: float = 0.012, steps: int = 1000,
        prediction_type: PredictionType = "epsilon",
    ) -> ModelSampling:
        """The SD1/SD2/SDXL training schedule (betas linear in √β)."""
        betas = torch.linspace(beta_start**0.5, beta_end**0.5, steps, dtype=torch.float64) ** 2
        return cls(torch.cumprod(1.0 - betas, dim=0), prediction_type)

    @property
    def sigma_min(self) -> torch.Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> torch.Tensor:
        return self.sigmas[-1]

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        """Nearest table index in log-σ (what the UNet is conditioned on), as float32."""
        log_sigma = sigma.to(torch.float32).log().cpu()
        dists = log_sigma.reshape(-1)[None, :] - self.log_sigmas[:, None]
        return dists.abs().argmin(dim=0).reshape(sigma.shape).to(torch.float32)

    def sigma(self, timestep: torch.Tensor | float) -> torch.Tensor:
        """σ at a (fractional) timestep, interpolating linearly in log-σ."""
        t = torch.as_tensor(timestep, dtype=torch.float32).clamp(0, len(self.sigmas) - 1)
        low = t.floor().long()
        high = t.ceil().long()
        w = t.frac()
        log_sigma = (1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]
        return log_sigma.exp()

    def percent_to_sigma(self, percent: float) -> float:
        """Map a 0..1 fraction of the sampling process to σ (0 → ∞, 1 → 0), for start/end percent inputs."""
        if percent <= 0.0:
            return 999999999.9
        if percent >= 1.0:
            return 0.0
        return float(self.sigma(torch.tensor((1.0 - percent) * 999.0)))

    def is_max_sigma(self, sigma: float) -> bool:
        """True when sampling starts from pure noise (σ₀ is the table's top)."""
        sigma_max = float(self.sigma_max)
        return math.isclose(sigma_max, sigma, rel_tol=1e-05) or sigma > sigma_max

    # --- conversions between the sampler's VE space and the UNet ------------------------------------------

    @staticmethod
    def calculate_input(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """c_in: the UNet sees ``x/√(σ²+1)`` (the VP-space sample)."""
        return x / (sigma**2 + 1.0) ** 0.5

    def calculate_denoised(self, sigma: torch.Tensor, model_output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The x0 estimate from the raw UNet output (ε or v)."""
        if self.prediction_type == "epsilon":
            return x - model_output * sigma
        # v-prediction (Salimans & Ho 2022, arXiv:2202.00512), with σ_data = 1.
        return x * 1.0 / (sigma**2 + 1.0) - model_output * sigma / (sigma**2 + 1.0) ** 0.5

    @staticmethod
    def noise_scaling(
        sigma: torch.Tensor, noise: torch.Tensor, latent: torch.Tensor, max_denoise: bool = False
    ) -> torch.Tensor:
        """Start sample: ``noise·√(1+σ²)`` from pure noise, else ``noise·σ``; plus the (img2img) latent."""
        scaled = noise * torch.sqrt(1.0 + sigma**2.0) if max_denoise else noise * sigma
        return scaled + latent
