"""Discrete model sampling: the σ table of a DDPM-trained model and the σ ↔ timestep maps.

Follows the conventions of ComfyUI's ``ModelSamplingDiscrete`` (behaviour, not code): the table is computed
in float64 from ``alphas_cumprod`` and stored as float32; the UNet is fed the *nearest integer* timestep in
log-σ; the VE-space formulation of Karras et al. 2022 (arXiv:2206.00364) is used throughout
(``x = x0 + σ·ε``, model input scaled by ``1/√(σ²+1)``).
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch

#: How the UNet output is read: ε, v (Salimans & Ho 2022), x0 directly, or LCM's boundary-conditioned ε.
OutputKind = Literal["epsilon", "v_prediction", "x0", "lcm", "img_to_img"]
#: ᾱ_T after the zero-terminal-SNR rescale (Lin et al. 2023): exactly 0 would make σ_max infinite.
_ZSNR_LAST_ALPHA_BAR = 4.8973451890853435e-08


def zero_terminal_snr(sigmas: torch.Tensor) -> torch.Tensor:
    """Rescale a σ table so the last step has zero SNR (Lin et al. 2023, arXiv:2305.08891, Alg. 1), in √ᾱ."""
    sqrt_ab = (1.0 / (sigmas.double() ** 2 + 1.0)).sqrt()
    first, last = sqrt_ab[0].clone(), sqrt_ab[-1].clone()
    sqrt_ab = (sqrt_ab - last) * (first / (first - last))
    alpha_bar = sqrt_ab**2
    alpha_bar[-1] = _ZSNR_LAST_ALPHA_BAR
    return ((1 - alpha_bar) / alpha_bar).sqrt().to(sigmas.dtype)


class ModelSampling:
    """σ table plus the input/output conversions of an eps-, v- or x0-prediction model."""

    def __init__(self, alphas_cumprod: torch.Tensor, prediction_type: OutputKind = "epsilon",
                 zsnr: bool = False) -> None:
        if alphas_cumprod.ndim != 1 or alphas_cumprod.numel() < 2:
            raise ValueError(f"alphas_cumprod must be a 1-D table, got shape {tuple(alphas_cumprod.shape)}")
        if prediction_type not in get_args(OutputKind):
            raise ValueError(f"prediction_type must be one of {get_args(OutputKind)}, got {prediction_type!r}")
        ac = alphas_cumprod.detach().to("cpu", torch.float64)
        self.prediction_type: OutputKind = prediction_type
        # float64 then float32, as the reference does; diffusers computes in float32 (rel. diff ~1e-5).
        sigmas = (((1 - ac) / ac) ** 0.5).to(torch.float32)
        if zsnr:
            sigmas = zero_terminal_snr(sigmas)
        self.sigmas: torch.Tensor = sigmas
        self.log_sigmas: torch.Tensor = self.sigmas.log()

    @classmethod
    def scaled_linear(
        cls, beta_start: float = 0.00085, beta_end: float = 0.012, steps: int = 1000,
        prediction_type: OutputKind = "epsilon",
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

    def calculate_input(self, sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """c_in: the UNet sees ``x/√(σ²+1)`` (the VP-space sample); image-to-image models see ``x`` as is."""
        if self.prediction_type == "img_to_img":
            return x
        return x / (sigma**2 + 1.0) ** 0.5

    def calculate_denoised(self, sigma: torch.Tensor, model_output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The x0 estimate from the raw UNet output (ε, v, x0 or LCM)."""
        if self.prediction_type == "epsilon":
            return x - model_output * sigma
        if self.prediction_type in ("x0", "img_to_img"):
            return model_output
        if self.prediction_type == "lcm":
            return self._lcm_denoised(sigma, model_output, x)
        # v-prediction (Salimans & Ho 2022, arXiv:2202.00512), with σ_data = 1.
        return x * 1.0 / (sigma**2 + 1.0) - model_output * sigma / (sigma**2 + 1.0) ** 0.5

    @staticmethod
    def noise_scaling(
        sigma: torch.Tensor, noise: torch.Tensor, latent: torch.Tensor, max_denoise: bool = False
    ) -> torch.Tensor:
        """Start sample: ``noise·√(1+σ²)`` from pure noise, else ``noise·σ``; plus the (img2img) latent."""
        scaled = noise * torch.sqrt(1.0 + sigma**2.0) if max_denoise else noise * sigma
        return scaled + latent

    def _lcm_denoised(self, sigma: torch.Tensor, model_output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """LCM's consistency boundary condition (Luo et al. 2023, arXiv:2310.04378, eq. 9): σ_data = 0.5,
        timestep scaled by 10."""
        t = self.timestep(sigma.reshape(-1)).to(x.device).reshape(-1, *([1] * (x.ndim - 1))) * 10.0
        x0 = x - model_output * sigma
        sigma_data = 0.5
        c_skip = sigma_data**2 / (t**2 + sigma_data**2)
        c_out = t / (t**2 + sigma_data**2) ** 0.5
        return c_out * x0 + c_skip * x


class DistilledModelSampling(ModelSampling):
    """LCM's 50-step distilled table: every 20th σ of the training table; timestep ``20·i + 19``."""

    original_timesteps = 50

    def __init__(self, alphas_cumprod: torch.Tensor, prediction_type: OutputKind = "lcm",
                 zsnr: bool = False) -> None:
        super().__init__(alphas_cumprod, prediction_type, zsnr)
        full = self.sigmas
        self.skip_steps = len(full) // self.original_timesteps
        picks = [len(full) - 1 - k * self.skip_steps for k in range(self.original_timesteps)]
        self.sigmas = full[torch.tensor(picks[::-1])].clone()
        self.log_sigmas = self.sigmas.log()

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        return super().timestep(sigma) * self.skip_steps + (self.skip_steps - 1)

    def sigma(self, timestep: torch.Tensor | float) -> torch.Tensor:
        t = (torch.as_tensor(timestep, dtype=torch.float32) - (self.skip_steps - 1)) / self.skip_steps
        return super().sigma(t)
