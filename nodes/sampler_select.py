"""SAMPLER nodes: KSamplerSelect and the samplers with options (η, s_noise, r, order, solver type)."""

from __future__ import annotations

from typing import Annotated, Literal

from diffusion.sampling.custom_values import SamplerChoice
from graph.spec import Outputs, node
from graph.widgets import Range
from nodes.sampling import SamplerName
from nodes.sockets import SAMPLER

#: η and s_noise: ComfyUI's {1.0, 0..100, step 0.01, no rounding}.
Unit = Annotated[float, Range(0.0, 100.0, step=0.01, round=False)]
NoiseDevice = Literal["gpu", "cpu"]


class SamplerResult(Outputs):
    sampler: SAMPLER


@node("KSamplerSelect", category="sampling/samplers")
def ksampler_select(sampler_name: SamplerName = "euler") -> SamplerResult:
    """Pick a sampler by name (KSampler's list) with its default options."""
    return SamplerResult(SamplerChoice(sampler_name))


@node("SamplerEulerAncestral", category="sampling/samplers")
def sampler_euler_ancestral(eta: Unit = 1.0, s_noise: Unit = 1.0) -> SamplerResult:
    """Ancestral Euler with the ancestral noise scaled by eta (0 = Euler) and the drawn noise by s_noise."""
    return SamplerResult(SamplerChoice("euler_ancestral", {"eta": eta, "s_noise": s_noise}))


@node("SamplerLMS", category="sampling/samplers")
def sampler_lms(order: Annotated[int, Range(1, 100)] = 4) -> SamplerResult:
    """Linear multistep of the given order."""
    return SamplerResult(SamplerChoice("lms", {"order": order}))


@node("SamplerDPMPP_2M_SDE", category="sampling/samplers")
def sampler_dpmpp_2m_sde(solver_type: Literal["midpoint", "heun"] = "midpoint", eta: Unit = 1.0,
                         s_noise: Unit = 1.0, noise_device: NoiseDevice = "gpu") -> SamplerResult:
    """DPM-Solver++(2M) SDE. Both noise devices draw the same CPU Brownian tree here (reproducible anywhere)."""
    name = "dpmpp_2m_sde" if noise_device == "cpu" else "dpmpp_2m_sde_gpu"
    return SamplerResult(SamplerChoice(name, {"eta": eta, "s_noise": s_noise, "solver_type": solver_type}))


@node("SamplerDPMPP_SDE", category="sampling/samplers")
def sampler_dpmpp_sde(eta: Unit = 1.0, s_noise: Unit = 1.0, r: Unit = 0.5,
                      noise_device: NoiseDevice = "gpu") -> SamplerResult:
    """Stochastic DPM-Solver++ with its midpoint at fraction r of each step."""
    name = "dpmpp_sde" if noise_device == "cpu" else "dpmpp_sde_gpu"
    return SamplerResult(SamplerChoice(name, {"eta": eta, "s_noise": s_noise, "r": r}))


@node("SamplerDPMPP_3M_SDE", category="sampling/samplers")
def sampler_dpmpp_3m_sde(eta: Unit = 1.0, s_noise: Unit = 1.0, noise_device: NoiseDevice = "gpu") -> SamplerResult:
    """DPM-Solver++(3M) SDE with the noise scaled by eta and s_noise (both devices draw the CPU tree)."""
    name = "dpmpp_3m_sde" if noise_device == "cpu" else "dpmpp_3m_sde_gpu"
    return SamplerResult(SamplerChoice(name, {"eta": eta, "s_noise": s_noise}))


@node("SamplerDPMPP_2S_Ancestral", category="sampling/samplers")
def sampler_dpmpp_2s_ancestral(eta: Unit = 1.0, s_noise: Unit = 1.0) -> SamplerResult:
    """DPM-Solver++(2S) ancestral with the ancestral noise scaled by eta and s_noise."""
    return SamplerResult(SamplerChoice("dpmpp_2s_ancestral", {"eta": eta, "s_noise": s_noise}))
