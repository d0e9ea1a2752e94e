"""Custom sampling nodes: schemas (ComfyUI's names, order, defaults, limits, outputs) and behaviour against
independent expectations (diffusers' schedule conversions, closed forms, hand-worked tensors)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import EulerDiscreteScheduler
from sampling_fixtures import TinyModel, schema_rows, text_cond

from diffusion.sampling.custom_values import DisableNoise, RandomNoise, SamplerChoice
from diffusion.sampling.guiders import BasicGuider, CFGGuider, model_sampling_for, sample_with_guider
from diffusion.sampling.ksampler import sample
from graph.registry import REGISTRY
from nodes import custom_sampling as cs
from nodes import sampler_select as ss
from nodes import schedulers as sch
from nodes import sigmas as sg

SEED_MAX = 2**64 - 1
POS = [text_cond(1)]
NEG = [text_cond(2)]
S = None  # a socket: no default, no limits

#: ComfyUI's schemas (comfy_extras/nodes_custom_sampler.py, nodes_align_your_steps.py): (input, default, min, max).
EXPECTED: dict[str, list[tuple[str, Any, Any, Any]]] = {
    "SamplerCustom": [("model", S, S, S), ("add_noise", True, S, S), ("noise_seed", 0, 0, SEED_MAX),
                      ("cfg", 8.0, 0.0, 100.0), ("positive", S, S, S), ("negative", S, S, S), ("sampler", S, S, S),
                      ("sigmas", S, S, S), ("latent_image", S, S, S)],
    "SamplerCustomAdvanced": [("noise", S, S, S), ("guider", S, S, S), ("sampler", S, S, S), ("sigmas", S, S, S),
                              ("latent_image", S, S, S)],
    "KSamplerSelect": [("sampler_name", "euler", S, S)],
    "BasicScheduler": [("model", S, S, S), ("scheduler", "simple", S, S), ("steps", 20, 1, 10000),
                       ("denoise", 1.0, 0.0, 1.0)],
    "KarrasScheduler": [("steps", 20, 1, 10000), ("sigma_max", 14.614642, 0.0, 5000.0),
                        ("sigma_min", 0.0291675, 0.0, 5000.0), ("rho", 7.0, 0.0, 100.0)],
    "ExponentialScheduler": [("steps", 20, 1, 10000), ("sigma_max", 14.614642, 0.0, 5000.0),
                             ("sigma_min", 0.0291675, 0.0, 5000.0)],
    "PolyexponentialScheduler": [("steps", 20, 1, 10000), ("sigma_max", 14.614642, 0.0, 5000.0),
                                 ("sigma_min", 0.0291675, 0.0, 5000.0), ("rho", 1.0, 0.0, 100.0)],
    "VPScheduler": [("steps", 20, 1, 10000), ("beta_d", 19.9, 0.0, 5000.0), ("beta_min", 0.1, 0.0, 5000.0),
                    ("eps_s", 0.001, 0.0, 1.0)],
    "BetaSamplingScheduler": [("model", S, S, S), ("steps", 20, 1, 10000), ("alpha", 0.6, 0.0, 50.0),
                              ("beta", 0.6, 0.0, 50.0)],
    "SDTurboScheduler": [("model", S, S, S), ("steps", 1, 1, 10), ("denoise", 1.0, 0.0, 1.0)],
    "AlignYourStepsScheduler": [("model_type", "SD1", S, S), ("steps", 10, 1, 10000), ("denoise", 1.0, 0.0, 1.0)],
    "SplitSigmas": [("sigmas", S, S, S), ("step", 0, 0, 10000)],
    "SplitSigmasDenoise": [("sigmas", S, S, S), ("denoise", 1.0, 0.0, 1.0)],
    "FlipSigmas": [("sigmas", S, S, S)],
    "SetFirstSigma": [("sigmas", S, S, S), ("sigma", 136.0, 0.0, 20000.0)],
    "RandomNoise": [("noise_seed", 0, 0, SEED_MAX)],
    "DisableNoise": [],
    "CFGGuider": [("model", S, S, S), ("positive", S, S, S), ("negative", S, S, S), ("cfg", 8.0, 0.0, 100.0)],
    "BasicGuider": [("model", S, S, S), ("conditioning", S, S, S)],
    "SamplerEulerAncestral": [("eta", 1.0, 0.0, 100.0), ("s_noise", 1.0, 0.0, 100.0)],
    "SamplerLMS": [("order", 4, 1, 100)],
    "SamplerDPMPP_2M_SDE": [("solver_type", "midpoint", S, S), ("eta", 1.0, 0.0, 100.0),
                            ("s_noise", 1.0, 0.0, 100.0), ("noise_device", "gpu", S, S)],
    "SamplerDPMPP_SDE": [("eta", 1.0, 0.0, 100.0), ("s_noise", 1.0, 0.0, 100.0), ("r", 0.5, 0.0, 100.0),
                         ("noise_device", "gpu", S, S)],
    "SamplerDPMPP_3M_SDE": [("eta", 1.0, 0.0, 100.0), ("s_noise", 1.0, 0.0, 100.0), ("noise_device", "gpu", S, S)],
    "SamplerDPMPP_2S_Ancestral": [("eta", 1.0, 0.0, 100.0), ("s_noise", 1.0, 0.0, 100.0)],
    "LaplaceScheduler": [("steps", 20, 1, 10000), ("sigma_max", 14.614642, 0.0, 5000.0),
                         ("sigma_min", 0.0291675, 0.0, 5000.0), ("mu", 0.0, -10.0, 10.0), ("beta", 0.5, 0.0, 10.0)],
    "ExtendIntermediateSigmas": [("sigmas", S, S, S), ("steps", 2, 1, 100), ("start_at_sigma", -1.0, -1.0, 20000.0),
                                 ("end_at_sigma", 12.0, 0.0, 20000.0), ("spacing", "linear", S, S)],
    "SamplingPercentToSigma": [("model", S, S, S), ("sampling_percent", 0.0, 0.0, 1.0),
                               ("return_actual_sigma", False, S, S)],
}
OUTPUTS: dict[str, list[tuple[str, str]]] = {
    "SamplingPercentToSigma": [("FLOAT", "sigma_value")],
    "SamplerCustom": [("LATENT", "output"), ("LATENT", "denoised_output")],
    "SamplerCustomAdvanced": [("LATENT", "output"), ("LATENT", "denoised_output")],
    "SplitSigmas": [("SIGMAS", "high_sigmas"), ("SIGMAS", "low_sigmas")],
    "SplitSigmasDenoise": [("SIGMAS", "high_sigmas"), ("SIGMAS", "low_sigmas")],
    "KarrasScheduler": [("SIGMAS", "SIGMAS")],
    "CFGGuider": [("GUIDER", "GUIDER")],
    "RandomNoise": [("NOISE", "NOISE")],
    "KSamplerSelect": [("SAMPLER", "SAMPLER")],
}


@pytest.mark.parametrize("node_id", sorted(EXPECTED))
def test_schema_matches_comfyui(node_id: str) -> None:
    assert schema_rows(node_id) == EXPECTED[node_id]
    if node_id in OUTPUTS:
        spec = REGISTRY.get(node_id)
        assert spec is not None
        assert [(o.type_name, o.display_name) for o in spec.outputs] == OUTPUTS[node_id]


def test_off_grid_sigma_values_are_accepted() -> None:
    """ComfyUI declares these FLOATs with round=False: 14.614642 is a valid value, not off a 0.01 grid."""
    spec = REGISTRY.get("KarrasScheduler")
    assert spec is not None and spec.input("sigma_max").range.round is False  # type: ignore[union-attr]


def _latent() -> dict[str, Any]:
    return {"samples": torch.zeros(1, 4, 8, 8)}


def test_custom_advanced_equals_ksampler(model: TinyModel) -> None:
    """RandomNoise + CFGGuider + KSamplerSelect + BasicScheduler is KSampler, bit for bit."""
    expected = sample(model, seed=7, steps=3, cfg=5.0, sampler_name="euler_ancestral", scheduler="karras",
                      positive=POS, negative=NEG, latent=_latent())["samples"]
    sigmas = sch.basic_scheduler(model, "karras", 3, 1.0).sigmas
    out = cs.sampler_custom_advanced(cs.random_noise(7).noise, cs.cfg_guider(model, POS, NEG, 5.0).guider,
                                     ss.ksampler_select("euler_ancestral").sampler, sigmas, _latent())
    assert torch.equal(out.output["samples"], expected)
    custom = cs.sampler_custom(model, True, 7, 5.0, positive=POS, negative=NEG,
                               sampler=SamplerChoice("euler_ancestral"), sigmas=sigmas, latent_image=_latent())
    assert torch.equal(custom.output["samples"], expected)


def test_denoised_output_is_the_last_x0(model: TinyModel) -> None:
    """Euler's last step to σ = 0 lands on the x0 estimate: the two outputs agree (closed form x + d·(0 − σ) = D)."""
    sigmas = sch.basic_scheduler(model, "normal", 3, 1.0).sigmas
    out = cs.sampler_custom(model, True, 3, 4.0, positive=POS, negative=NEG, sampler=SamplerChoice("euler"),
                            sigmas=sigmas, latent_image=_latent())
    torch.testing.assert_close(out.output["samples"], out.denoised_output["samples"], rtol=1e-4, atol=1e-5)
    # With a schedule that stops early the x0 estimate is cleaner than the noisy sample.
    high = sg.split_sigmas(sigmas, 1).high_sigmas
    early = cs.sampler_custom(model, True, 3, 4.0, positive=POS, negative=NEG, sampler=SamplerChoice("euler"),
                              sigmas=high, latent_image=_latent())
    assert not torch.allclose(early.output["samples"], early.denoised_output["samples"])


def test_basic_guider_is_cfg_one(model: TinyModel) -> None:
    sigmas = sch.karras_scheduler(3, 14.614642, 0.0291675, 7.0).sigmas
    latent = torch.zeros(1, 4, 8, 8)
    noise = RandomNoise(5).generate({"samples": latent})
    basic = sample_with_guider(BasicGuider(model, POS), SamplerChoice("euler"), sigmas, noise, latent, 5)
    calls = model.calls
    cfg1 = sample_with_guider(CFGGuider(model, POS, NEG, 1.0), SamplerChoice("euler"), sigmas, noise, latent, 5)
    assert torch.equal(basic.samples, cfg1.samples)
    assert model.calls - calls == 3  # one UNet call per step: no negative


def test_disable_noise_keeps_a_clean_latent_when_sigmas_are_zero(model: TinyModel) -> None:
    latent = {"samples": torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))}
    assert not DisableNoise().generate(latent).any() and DisableNoise().seed == 0
    out = cs.sampler_custom_advanced(cs.disable_noise().noise, cs.basic_guider(model, POS).guider,
                                     SamplerChoice("euler"), torch.zeros(0), latent)
    assert torch.equal(out.output["samples"], latent["samples"])


def test_sampler_options_closed_forms(model: TinyModel) -> None:
    """η = 0 ancestral Euler is Euler; LMS of order 1 is Euler; 2M SDE with η = 0 (midpoint) is DPM++ 2M."""
    sigmas = sch.karras_scheduler(4, 14.614642, 0.0291675, 7.0).sigmas
    latent = torch.zeros(1, 4, 8, 8)
    noise = RandomNoise(9).generate({"samples": latent})
    guider = CFGGuider(model, POS, NEG, 4.0)

    def run(choice: SamplerChoice) -> torch.Tensor:
        return sample_with_guider(guider, choice, sigmas, noise, latent, 9).samples

    euler = run(SamplerChoice("euler"))
    torch.testing.assert_close(run(ss.sampler_euler_ancestral(0.0, 1.0).sampler), euler)
    torch.testing.assert_close(run(ss.sampler_lms(1).sampler), euler, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(run(ss.sampler_dpmpp_2m_sde("midpoint", 0.0, 1.0, "cpu").sampler),
                               run(SamplerChoice("dpmpp_2m")), rtol=1e-5, atol=1e-5)
    # s_noise = 0 removes the ancestral noise but keeps the ancestral (σ_down) step: not Euler.
    assert not torch.allclose(run(ss.sampler_euler_ancestral(1.0, 0.0).sampler), euler)
    heun = run(ss.sampler_dpmpp_2m_sde("heun", 1.0, 1.0, "gpu").sampler)
    assert bool(torch.isfinite(heun).all()) and not torch.equal(heun, run(SamplerChoice("dpmpp_2m_sde")))
    sde = ss.sampler_dpmpp_sde(1.0, 1.0, 0.3, "cpu").sampler
    assert sde.name == "dpmpp_sde" and dict(sde.options) == {"eta": 1.0, "s_noise": 1.0, "r": 0.3}
    assert bool(torch.isfinite(run(sde)).all())


def test_karras_exponential_beta_match_diffusers(model: TinyModel) -> None:
    ms = model_sampling_for(model)
    smin, smax = float(ms.sigma_min), float(ms.sigma_max)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    table = torch.tensor([smax, smin])
    ours = sch.karras_scheduler(7, smax, smin, 7.0).sigmas
    ref = torch.as_tensor(scheduler._convert_to_karras(table, 7))
    torch.testing.assert_close(ours[:-1], ref.float(), rtol=1e-5, atol=1e-6)
    assert ours[-1] == 0
    ours = sch.exponential_scheduler(7, smax, smin).sigmas
    ref = torch.as_tensor(scheduler._convert_to_exponential(table, 7))
    torch.testing.assert_close(ours[:-1], ref.float(), rtol=1e-5, atol=1e-6)


def test_polyexponential_and_vp_closed_forms() -> None:
    rho1 = sch.polyexponential_scheduler(5, 10.0, 0.1, 1.0).sigmas
    torch.testing.assert_close(rho1, sch.exponential_scheduler(5, 10.0, 0.1).sigmas)
    rho2 = sch.polyexponential_scheduler(3, 10.0, 0.1, 2.0).sigmas
    # ramp = (1, 0.5, 0)² = (1, 0.25, 0): log σ = ramp·(ln 10 − ln 0.1) + ln 0.1.
    expected = [10.0, math.exp(0.25 * math.log(100.0) + math.log(0.1)), 0.1, 0.0]
    torch.testing.assert_close(rho2, torch.tensor(expected), rtol=1e-5, atol=1e-6)
    vp = sch.vp_scheduler(2, 19.9, 0.1, 0.001).sigmas
    expected = [math.sqrt(math.exp(19.9 / 2 + 0.1) - 1), math.sqrt(math.exp(19.9 * 1e-6 / 2 + 1e-4) - 1), 0.0]
    # float32 exp(tiny) − 1 loses digits (the reference computes in float32 too): 1e-3 relative.
    torch.testing.assert_close(vp, torch.tensor(expected), rtol=1e-3, atol=1e-6)


def test_sd_turbo_picks_every_hundredth_timestep(model: TinyModel) -> None:
    table = model_sampling_for(model).sigmas
    full = sch.sd_turbo_scheduler(model, 4, 1.0).sigmas
    torch.testing.assert_close(full, torch.cat([table[[999, 899, 799, 699]], torch.zeros(1)]))
    half = sch.sd_turbo_scheduler(model, 2, 0.5).sigmas
    torch.testing.assert_close(half, torch.cat([table[[499, 399]], torch.zeros(1)]))


def test_align_your_steps_levels() -> None:
    published = [14.6146412293, 6.4745760956, 3.8636745985, 2.6946151520, 1.8841921177, 1.3943805092,
                 0.9642583904, 0.6523686016, 0.3977456272, 0.1515232662, 0.0]
    torch.testing.assert_close(sch.align_your_steps_scheduler("SD1", 10, 1.0).sigmas, torch.tensor(published))
    # 20 steps: 21 points, log-linear between the published ones, which sit at the even positions.
    twenty = sch.align_your_steps_scheduler("SD1", 20, 1.0).sigmas
    assert len(twenty) == 21
    torch.testing.assert_close(twenty[0:20:2], torch.tensor(published[:10]), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(twenty[1], torch.tensor(math.sqrt(published[0] * published[1])), rtol=1e-5, atol=0)
    assert len(sch.align_your_steps_scheduler("SDXL", 10, 0.5).sigmas) == 6
    assert len(sch.align_your_steps_scheduler("SDXL", 10, 0.0).sigmas) == 0


def test_basic_scheduler_denoise_keeps_the_tail(model: TinyModel) -> None:
    full = sch.basic_scheduler(model, "normal", 8, 1.0).sigmas
    half = sch.basic_scheduler(model, "normal", 4, 0.5).sigmas
    torch.testing.assert_close(half, full[-5:])
    assert len(sch.basic_scheduler(model, "normal", 4, 0.0).sigmas) == 0


def test_beta_sampling_scheduler_matches_diffusers_quantiles(model: TinyModel) -> None:
    ours = sch.beta_sampling_scheduler(model, 6, 0.6, 0.6).sigmas
    import scipy.stats

    ts = np.rint(scipy.stats.beta.ppf(1 - np.linspace(0, 1, 6, endpoint=False), 0.6, 0.6) * 999).astype(int)
    table = model_sampling_for(model).sigmas
    torch.testing.assert_close(ours, torch.cat([table[list(dict.fromkeys(ts.tolist()))], torch.zeros(1)]))


def test_sigma_operations_by_hand() -> None:
    sigmas = torch.tensor([10.0, 5.0, 2.0, 1.0, 0.0])
    split = sg.split_sigmas(sigmas, 2)
    high, low = split.high_sigmas, split.low_sigmas
    assert high.tolist() == [10.0, 5.0, 2.0] and low.tolist() == [2.0, 1.0, 0.0]
    split = sg.split_sigmas_denoise(sigmas, 0.5)
    high, low = split.high_sigmas, split.low_sigmas
    assert high.tolist() == [10.0, 5.0, 2.0] and low.tolist() == [2.0, 1.0, 0.0]  # sigmas[:-2], sigmas[-3:]
    split = sg.split_sigmas_denoise(sigmas, 0.0)
    high, low = split.high_sigmas, split.low_sigmas
    assert high.tolist() == [] and low.tolist() == [0.0]
    assert sg.flip_sigmas(sigmas).sigmas.tolist() == pytest.approx([0.0001, 1.0, 2.0, 5.0, 10.0])
    assert sigmas.tolist() == [10.0, 5.0, 2.0, 1.0, 0.0]  # inputs are never written to
    assert sg.set_first_sigma(sigmas, 20.0).sigmas.tolist() == [20.0, 5.0, 2.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="SetFirstSigma: input 'sigmas'"):
        sg.set_first_sigma(torch.zeros(0), 1.0)
    with pytest.raises(ValueError, match="FlipSigmas: input 'sigmas' expected a 1-D SIGMAS"):
        sg.flip_sigmas(torch.zeros(2, 2))


def test_bad_inputs_name_the_node(model: TinyModel) -> None:
    with pytest.raises(ValueError, match="SamplerCustomAdvanced: input 'noise' expected a NOISE"):
        cs.sampler_custom_advanced(object(), cs.basic_guider(model, POS).guider,  # type: ignore[arg-type]
                                   SamplerChoice("euler"), torch.tensor([1.0, 0.0]), _latent())
    with pytest.raises(ValueError, match="SamplerCustom: input 'sampler' expected a SAMPLER"):
        cs.sampler_custom(model, True, 0, 8.0, positive=POS, negative=NEG, sampler="euler",  # type: ignore[arg-type]
                          sigmas=torch.tensor([1.0, 0.0]), latent_image=_latent())
    with pytest.raises(ValueError, match="KarrasScheduler: input 'sigma_min' expected a value > 0"):
        sch.karras_scheduler(5, 10.0, 0.0, 7.0)


def test_more_sampler_options(model: TinyModel) -> None:
    """η = 0 makes 3M SDE and 2S ancestral deterministic (the seed of their noise stream no longer matters);
    η = s_noise = 1 is the KSampler sampler itself."""
    sigmas = sch.karras_scheduler(4, 14.614642, 0.0291675, 7.0).sigmas
    latent = torch.zeros(1, 4, 8, 8)
    noise = RandomNoise(9).generate({"samples": latent})
    guider = CFGGuider(model, POS, NEG, 4.0)

    def run(choice: SamplerChoice, seed: int) -> torch.Tensor:
        return sample_with_guider(guider, choice, sigmas, noise, latent, seed).samples

    for ode, default in ((ss.sampler_dpmpp_3m_sde(0.0, 1.0, "cpu").sampler, "dpmpp_3m_sde"),
                         (ss.sampler_dpmpp_2s_ancestral(0.0, 1.0).sampler, "dpmpp_2s_ancestral")):
        assert torch.equal(run(ode, 1), run(ode, 2))
        assert not torch.equal(run(SamplerChoice(default), 1), run(SamplerChoice(default), 2))
    assert torch.equal(run(ss.sampler_dpmpp_3m_sde(1.0, 1.0, "gpu").sampler, 3), run(SamplerChoice("dpmpp_3m_sde"), 3))
    assert torch.equal(run(ss.sampler_dpmpp_2s_ancestral(1.0, 1.0).sampler, 3),
                       run(SamplerChoice("dpmpp_2s_ancestral"), 3))


def test_laplace_extend_and_percent_by_hand(model: TinyModel) -> None:
    # x = 0, ½, 1: log σ = ±β·log(1e-5) (clamped to the range) and μ = 0 in the middle; no final 0.
    laplace = sch.laplace_scheduler(3, 14.614642, 0.0291675, 0.0, 0.5).sigmas
    torch.testing.assert_close(laplace, torch.tensor([14.614642, 1.0, 0.0291675]))
    sigmas = torch.tensor([10.0, 5.0, 0.0])
    assert sg.extend_intermediate_sigmas(sigmas, 2, -1.0, 4.0, "linear").sigmas.tolist() == [10, 7.5, 5, 2.5, 0]
    assert sg.extend_intermediate_sigmas(sigmas, 2, -1.0, 6.0, "linear").sigmas.tolist() == [10, 7.5, 5, 0]
    eased = sg.extend_intermediate_sigmas(sigmas, 2, 9.0, 0.0, "cosine").sigmas.tolist()
    assert eased == pytest.approx([10, 5, 5 - 5 * math.sin(math.pi / 4), 0])
    ms = model_sampling_for(model)
    assert sg.sampling_percent_to_sigma(model, 0.0, False).sigma_value == 999999999.9
    assert sg.sampling_percent_to_sigma(model, 0.0, True).sigma_value == pytest.approx(float(ms.sigma_max))
    assert sg.sampling_percent_to_sigma(model, 1.0, False).sigma_value == 0.0
    assert sg.sampling_percent_to_sigma(model, 1.0, True).sigma_value == pytest.approx(float(ms.sigma_min))
    half = float(ms.sigma(torch.tensor(499.5)))
    assert sg.sampling_percent_to_sigma(model, 0.5, True).sigma_value == pytest.approx(half)
