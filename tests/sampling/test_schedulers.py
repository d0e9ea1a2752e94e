"""Every scheduler: shape, monotonicity, the documented formula at known points, and diffusers cross-checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, EulerDiscreteScheduler

from diffusion.sampling.model_sampling import ModelSampling
from diffusion.sampling.schedulers import (
    SCHEDULER_NAMES,
    calculate_sigmas,
    ksampler_sigmas,
    sampler_sigmas,
)

SIGMA_MIN, SIGMA_MAX = 0.0291671585, 14.614642


def test_table_matches_sd_schedule(model_sampling: ModelSampling) -> None:
    assert len(model_sampling.sigmas) == 1000
    assert float(model_sampling.sigma_min) == pytest.approx(SIGMA_MIN, rel=1e-5)
    assert float(model_sampling.sigma_max) == pytest.approx(SIGMA_MAX, rel=1e-6)


@pytest.mark.parametrize("name", SCHEDULER_NAMES)
@pytest.mark.parametrize("steps", [1, 7, 20, 25])
def test_shape_monotone_ends_in_zero(model_sampling: ModelSampling, name: str, steps: int) -> None:
    sigmas = calculate_sigmas(model_sampling, name, steps)
    assert sigmas.dtype == torch.float32
    assert float(sigmas[-1]) == 0.0
    assert bool((sigmas[:-1] > sigmas[1:]).all()), sigmas
    assert float(sigmas[0]) <= SIGMA_MAX * (1 + 1e-5)
    if name == "ddim_uniform" and 1000 % steps:
        # The stride rounds down: more steps than asked (ComfyUI behaviour, kept for parity).
        assert len(sigmas) == len(range(1, 1000, 1000 // steps)) + 1
    elif name == "beta" and steps > 1:
        assert len(sigmas) <= steps + 1  # duplicates of the rounded indices are dropped
    else:
        assert len(sigmas) == steps + 1


def test_karras_formula(model_sampling: ModelSampling) -> None:
    sigmas = calculate_sigmas(model_sampling, "karras", 10)
    rho = 7.0
    lo, hi = SIGMA_MIN ** (1 / rho), SIGMA_MAX ** (1 / rho)
    for i in (0, 3, 9):
        assert float(sigmas[i]) == pytest.approx((hi + i / 9 * (lo - hi)) ** rho, rel=1e-4)


def test_exponential_and_kl_optimal_formulas(model_sampling: ModelSampling) -> None:
    exp = calculate_sigmas(model_sampling, "exponential", 5)
    assert float(exp[2]) == pytest.approx(math.sqrt(SIGMA_MIN * SIGMA_MAX), rel=1e-4)  # geometric midpoint
    kl = calculate_sigmas(model_sampling, "kl_optimal", 5)
    mid = math.tan(0.5 * math.atan(SIGMA_MIN) + 0.5 * math.atan(SIGMA_MAX))
    assert float(kl[2]) == pytest.approx(mid, rel=1e-5)


def test_simple_and_ddim_uniform_pick_table_values(model_sampling: ModelSampling) -> None:
    table = model_sampling.sigmas
    simple = calculate_sigmas(model_sampling, "simple", 4)
    assert simple[:-1].tolist() == [float(table[999]), float(table[749]), float(table[499]), float(table[249])]
    ddim = calculate_sigmas(model_sampling, "ddim_uniform", 4)
    assert ddim.tolist() == [float(table[751]), float(table[501]), float(table[251]), float(table[1]), 0.0]


def test_normal_and_sgm_uniform_are_linear_in_timestep(model_sampling: ModelSampling) -> None:
    normal = calculate_sigmas(model_sampling, "normal", 3)
    assert normal[:-1].tolist() == pytest.approx(
        [float(model_sampling.sigma(torch.tensor(t))) for t in (999.0, 499.5, 0.0)], rel=1e-6)
    sgm = calculate_sigmas(model_sampling, "sgm_uniform", 3)
    assert sgm[:-1].tolist() == pytest.approx(
        [float(model_sampling.sigma(torch.tensor(t))) for t in (999.0, 666.0, 333.0)], rel=1e-6)


def test_beta_and_linear_quadratic_known_points(model_sampling: ModelSampling) -> None:
    beta = calculate_sigmas(model_sampling, "beta", 4)
    import scipy.stats
    idx = np.rint(scipy.stats.beta.ppf(1 - np.array([0.0, 0.25, 0.5, 0.75]), 0.6, 0.6) * 999).astype(int)
    assert beta[:-1].tolist() == [float(model_sampling.sigmas[i]) for i in idx]
    lq = calculate_sigmas(model_sampling, "linear_quadratic", 4)
    assert float(lq[0]) == pytest.approx(SIGMA_MAX, rel=1e-6)
    assert float(lq[1]) == pytest.approx((1 - 0.0125) * SIGMA_MAX, rel=1e-5)  # linear part: 0.025/2 per step


def test_discard_penultimate_and_denoise(model_sampling: ModelSampling) -> None:
    full = calculate_sigmas(model_sampling, "karras", 11)
    dpm2 = sampler_sigmas(model_sampling, "karras", 10, "dpm_2")
    assert dpm2.tolist() == [*full[:-2].tolist(), 0.0]
    assert len(dpm2) == 11
    half = ksampler_sigmas(model_sampling, "normal", 10, "euler", 0.5)
    assert half.tolist() == calculate_sigmas(model_sampling, "normal", 20)[-11:].tolist()
    assert len(ksampler_sigmas(model_sampling, "normal", 10, "euler", 0.0)) == 0


def test_unknown_scheduler_is_a_clear_error(model_sampling: ModelSampling) -> None:
    with pytest.raises(ValueError, match="scheduler: expected one of"):
        calculate_sigmas(model_sampling, "bogus", 10)


@pytest.mark.parametrize(("ours", "flags"), [("normal", {}), ("karras", {"use_karras_sigmas": True}),
                                             ("exponential", {"use_exponential_sigmas": True})])
def test_close_to_diffusers_linspace(model_sampling: ModelSampling, ours: str, flags: dict[str, bool]) -> None:
    sched = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                   timestep_spacing="linspace", **flags)
    sched.set_timesteps(20)
    ref = sched.sigmas.to(torch.float32)
    # diffusers computes the table in float32 (relative differences ~1e-5, models-offline.md §3.2).
    torch.testing.assert_close(calculate_sigmas(model_sampling, ours, 20), ref, rtol=5e-5, atol=1e-6)


def test_ddim_uniform_matches_diffusers_leading_timesteps(model_sampling: ModelSampling) -> None:
    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                          timestep_spacing="leading", steps_offset=1)
    sched.set_timesteps(20)
    ours = calculate_sigmas(model_sampling, "ddim_uniform", 20)[:-1]
    assert model_sampling.timestep(ours).long().tolist() == sched.timesteps.tolist()


def test_timestep_is_nearest_integer_and_sigma_inverts(model_sampling: ModelSampling) -> None:
    for t in (0, 1, 250, 999):
        sigma = model_sampling.sigmas[t]
        assert float(model_sampling.timestep(sigma)) == t
        assert float(model_sampling.sigma(torch.tensor(float(t)))) == pytest.approx(float(sigma), rel=1e-6)
    mid = (model_sampling.sigmas[10] * model_sampling.sigmas[11]) ** 0.5 * 1.001
    assert float(model_sampling.timestep(mid)) == 11.0
