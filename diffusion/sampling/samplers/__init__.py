"""Sampler registry: ComfyUI sampler names → our implementations and the noise stream each one uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from diffusion.sampling.samplers.base import Denoiser, Sampler, StepCallback, StepInfo
from diffusion.sampling.samplers.dpm_solver import sample_dpm_adaptive, sample_dpm_fast
from diffusion.sampling.samplers.dpmpp import (
    sample_dpmpp_2m,
    sample_dpmpp_2m_sde,
    sample_dpmpp_2s_ancestral,
    sample_dpmpp_3m_sde,
    sample_dpmpp_sde,
)
from diffusion.sampling.samplers.karras import (
    sample_dpm_2,
    sample_dpm_2_ancestral,
    sample_euler,
    sample_euler_ancestral,
    sample_heun,
    sample_heunpp2,
)
from diffusion.sampling.samplers.multistep import sample_deis, sample_ipndm, sample_lms, sample_pndm
from diffusion.sampling.samplers.stochastic import sample_ddpm, sample_lcm
from diffusion.sampling.samplers.unipc import sample_uni_pc, sample_uni_pc_bh2

NoiseKind = Literal["none", "ancestral", "brownian"]


@dataclass(frozen=True)
class SamplerSpec:
    """A named sampler: its function and which noise stream it draws from."""

    name: str
    function: Sampler
    noise: NoiseKind = "none"
    #: ComfyUI's ``ddim`` is euler whose inpainting noise is fresh (seed+1) rather than the start noise.
    random_inpaint_noise: bool = False


_SPECS: tuple[SamplerSpec, ...] = (
    SamplerSpec("euler", sample_euler),
    SamplerSpec("euler_ancestral", sample_euler_ancestral, "ancestral"),
    SamplerSpec("heun", sample_heun),
    SamplerSpec("heunpp2", sample_heunpp2),
    SamplerSpec("dpm_2", sample_dpm_2),
    SamplerSpec("dpm_2_ancestral", sample_dpm_2_ancestral, "ancestral"),
    SamplerSpec("lms", sample_lms),
    SamplerSpec("dpm_fast", sample_dpm_fast),
    SamplerSpec("dpm_adaptive", sample_dpm_adaptive),
    SamplerSpec("dpmpp_2s_ancestral", sample_dpmpp_2s_ancestral, "ancestral"),
    SamplerSpec("dpmpp_sde", sample_dpmpp_sde, "brownian"),
    SamplerSpec("dpmpp_sde_gpu", sample_dpmpp_sde, "brownian"),
    SamplerSpec("dpmpp_2m", sample_dpmpp_2m),
    SamplerSpec("dpmpp_2m_sde", sample_dpmpp_2m_sde, "brownian"),
    SamplerSpec("dpmpp_2m_sde_gpu", sample_dpmpp_2m_sde, "brownian"),
    SamplerSpec("dpmpp_3m_sde", sample_dpmpp_3m_sde, "brownian"),
    SamplerSpec("dpmpp_3m_sde_gpu", sample_dpmpp_3m_sde, "brownian"),
    SamplerSpec("ddpm", sample_ddpm, "ancestral"),
    SamplerSpec("lcm", sample_lcm, "ancestral"),
    SamplerSpec("ipndm", sample_ipndm),
    SamplerSpec("deis", sample_deis),
    SamplerSpec("ddim", sample_euler, random_inpaint_noise=True),
    SamplerSpec("uni_pc", sample_uni_pc),
    SamplerSpec("uni_pc_bh2", sample_uni_pc_bh2),
    SamplerSpec("pndm", sample_pndm),
)

SAMPLERS: dict[str, SamplerSpec] = {spec.name: spec for spec in _SPECS}
#: Combo order for the KSampler nodes (ComfyUI's order; ``pndm`` is ours).
SAMPLER_NAMES: tuple[str, ...] = tuple(spec.name for spec in _SPECS)


def get_sampler(name: str) -> SamplerSpec:
    """The sampler registered under a ComfyUI name; a clear error for unknown names."""
    if name not in SAMPLERS:
        raise ValueError(f"sampler_name: expected one of {list(SAMPLER_NAMES)}, received {name!r}")
    return SAMPLERS[name]


__all__ = ["SAMPLERS", "SAMPLER_NAMES", "Denoiser", "Sampler", "SamplerSpec", "StepCallback", "StepInfo",
           "get_sampler"]
