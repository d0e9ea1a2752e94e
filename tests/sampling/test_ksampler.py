"""The KSampler pipeline on a tiny random UNet: conventions, img2img, inpainting, advanced steps, CFG batching,
areas, ControlNet, SDXL added conditioning, progress and interrupt."""

from __future__ import annotations

import pytest
import torch
from sampling_fixtures import TinyModel, text_cond, tiny_controlnet, tiny_unet

from diffusion.sampling.ksampler import Progress, model_sampling_for, sample
from diffusion.sampling.model_sampling import ModelSampling
from diffusion.sampling.noise import prepare_noise
from diffusion.sampling.samplers import SAMPLER_NAMES
from diffusion.types import ControlHint

POS = [text_cond(1)]
NEG = [text_cond(2)]


def _latent(batch: int = 1, size: int = 8) -> dict:
    return {"samples": torch.zeros(batch, 4, size, size)}


def _run(model: TinyModel, **kw) -> torch.Tensor:
    args = {"seed": 42, "steps": 4, "cfg": 5.0, "sampler_name": "euler", "scheduler": "karras",
            "positive": POS, "negative": NEG, "latent": _latent()}
    args.update(kw)
    return sample(model, **args)["samples"]


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_every_sampler_runs_deterministically(model: TinyModel, name: str) -> None:
    a = _run(model, sampler_name=name, steps=3, latent=_latent(2))
    b = _run(model, sampler_name=name, steps=3, latent=_latent(2))
    assert a.shape == (2, 4, 8, 8)
    assert bool(torch.isfinite(a).all())
    assert torch.equal(a, b)


def test_start_noise_convention() -> None:
    latent = torch.zeros(3, 4, 8, 8)
    torch.manual_seed(123)
    expected = torch.randn(latent.shape)
    assert torch.equal(prepare_noise(latent, 123), expected)
    # batch_index picks the noise that sample had in the full batch.
    assert torch.equal(prepare_noise(latent[:1], 123, [2]), expected[2:3])
    assert torch.equal(prepare_noise(latent[:2], 123, [2, 0]), expected[[2, 0]])


def test_first_step_sees_noise_scaled_by_sqrt_one_plus_sigma_squared(model: TinyModel) -> None:
    seen: list[torch.Tensor] = []
    hook = model.unet.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    try:
        _run(model, steps=2, cfg=1.0)
    finally:
        hook.remove()
    ms = model_sampling_for(model)
    noise = prepare_noise(torch.zeros(1, 4, 8, 8), 42)
    sigma = ms.sigma_max
    # x_T = noise·√(1+σ²) and c_in = 1/√(1+σ²): the UNet sees the unit noise itself.
    torch.testing.assert_close(seen[0], noise * torch.sqrt(1 + sigma**2) / (sigma**2 + 1) ** 0.5)


def test_cfg_one_skips_the_negative(model: TinyModel) -> None:
    batches: list[int] = []
    hook = model.unet.register_forward_pre_hook(lambda m, args: batches.append(args[0].shape[0]))
    try:
        _run(model, steps=3, cfg=1.0)
        assert batches == [1, 1, 1]
        batches.clear()
        _run(model, steps=3, cfg=7.0)
        assert batches == [2, 2, 2]  # cond and uncond batched in one call
    finally:
        hook.remove()


def test_advanced_split_equals_one_run(model: TinyModel) -> None:
    full = _run(model, steps=6)
    first = sample(model, seed=42, steps=6, cfg=5.0, sampler_name="euler", scheduler="karras", positive=POS,
                   negative=NEG, latent=_latent(), start_step=0, last_step=3, force_full_denoise=False)
    second = sample(model, seed=42, steps=6, cfg=5.0, sampler_name="euler", scheduler="karras", positive=POS,
                    negative=NEG, latent=first, add_noise=False, start_step=3, last_step=10000,
                    force_full_denoise=True)
    torch.testing.assert_close(second["samples"], full, rtol=1e-5, atol=1e-5)
    # A leftover-noise result is not the finished image.
    assert not torch.allclose(first["samples"], full, atol=1e-2)


def test_advanced_start_past_the_end_returns_input(model: TinyModel) -> None:
    latent = {"samples": torch.randn(1, 4, 8, 8)}
    out = sample(model, seed=1, steps=4, cfg=5.0, sampler_name="euler", scheduler="karras", positive=POS,
                 negative=NEG, latent=latent, start_step=4)
    assert torch.equal(out["samples"], latent["samples"])


def test_img2img_denoise(model: TinyModel) -> None:
    latent = {"samples": torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))}
    assert torch.equal(_run(model, latent=latent, denoise=0.0), latent["samples"])
    seen: list[torch.Tensor] = []
    hook = model.unet.register_forward_pre_hook(lambda m, args: seen.append(args[1].clone()))
    try:
        weak = _run(model, latent=latent, denoise=0.25, steps=4)
    finally:
        hook.remove()
    # denoise 0.25 with 4 steps: the last 5 σ of a 16-step schedule, so t starts well below 999.
    assert float(seen[0][0]) < 700
    strong = _run(model, latent=latent, denoise=1.0, steps=4)
    assert (weak - latent["samples"]).abs().mean() < (strong - latent["samples"]).abs().mean()


def test_inpainting_keeps_the_unmasked_region(model: TinyModel) -> None:
    original = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 64, 64)
    mask[:, :, 32:] = 1.0  # repaint the right half (pixel-space mask, resized to the latent)
    out = _run(model, latent={"samples": original, "noise_mask": mask}, steps=5)
    torch.testing.assert_close(out[..., :4], original[..., :4], rtol=1e-4, atol=1e-4)
    assert (out[..., 4:] - original[..., 4:]).abs().mean() > 0.1


@pytest.mark.parametrize("sampler_name", ["euler", "ddim"])
def test_inpainting_with_all_masked_is_txt2img_like(model: TinyModel, sampler_name: str) -> None:
    latent = {"samples": torch.zeros(1, 4, 8, 8), "noise_mask": torch.ones(1, 8, 8)}
    out = _run(model, latent=latent, sampler_name=sampler_name)
    torch.testing.assert_close(out, _run(model, sampler_name=sampler_name), rtol=1e-5, atol=1e-5)


def test_area_conditioning_only_changes_its_area(model: TinyModel) -> None:
    plain = _run(model, steps=1)
    area = text_cond(3, area=(32, 32, 0, 0), strength=1.0)  # top-left 4x4 latent cells
    with_area = _run(model, steps=1, positive=[*POS, area])
    torch.testing.assert_close(with_area[..., 4:, :], plain[..., 4:, :], rtol=0, atol=0)
    torch.testing.assert_close(with_area[..., :, 4:], plain[..., :, 4:], rtol=0, atol=0)
    assert not torch.allclose(with_area[..., :4, :4], plain[..., :4, :4])


def test_area_outside_the_image_is_a_clear_error(model: TinyModel) -> None:
    with pytest.raises(ValueError, match="conditioning area"):
        _run(model, positive=[text_cond(3, area=(64, 64, 128, 128))])


def test_different_prompt_lengths_batch_together(model: TinyModel) -> None:
    batches: list[int] = []
    hook = model.unet.register_forward_pre_hook(lambda m, args: batches.append(args[0].shape[0]))
    try:
        out = _run(model, steps=2, positive=[text_cond(1, tokens=154)])
    finally:
        hook.remove()
    assert batches == [2, 2] and bool(torch.isfinite(out).all())


@pytest.fixture(scope="module")
def controlnet() -> torch.nn.Module:
    return tiny_controlnet(tiny_unet())


def test_controlnet_changes_output_and_respects_window(model: TinyModel, controlnet: torch.nn.Module) -> None:
    image = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(3))
    plain = _run(model)

    def with_hint(strength: float, start: float = 0.0, end: float = 1.0) -> torch.Tensor:
        hint = ControlHint(controlnet, image, strength, start, end)
        return _run(model, positive=[POS[0].with_changes(control=hint)],
                    negative=[NEG[0].with_changes(control=hint)])

    assert (with_hint(1.0) - plain).abs().max() > 1e-3
    torch.testing.assert_close(with_hint(0.0), plain, rtol=1e-5, atol=1e-5)
    # end_percent = 0: the hint is never active.
    assert torch.equal(with_hint(1.0, 0.0, 0.0), plain)
    # A window covering only later steps differs from both.
    late = with_hint(1.0, 0.5, 1.0)
    assert not torch.equal(late, plain) and not torch.allclose(late, with_hint(1.0), atol=1e-6)


def test_chained_controlnets_sum(model: TinyModel, controlnet: torch.nn.Module) -> None:
    image = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(3))
    half = ControlHint(controlnet, image, 0.5)
    chained = ControlHint(controlnet, image, 0.5, previous=half)
    single = ControlHint(controlnet, image, 1.0)
    a = _run(model, positive=[POS[0].with_changes(control=chained)], negative=[NEG[0].with_changes(control=chained)])
    b = _run(model, positive=[POS[0].with_changes(control=single)], negative=[NEG[0].with_changes(control=single)])
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_sdxl_added_conditioning() -> None:
    model = TinyModel(tiny_unet(seed=3, sdxl=True), family="sdxl", latent_scale_factor=0.13025)
    pos = [text_cond(1, pooled_output=torch.randn(1, 32))]
    neg = [text_cond(2, pooled_output=torch.randn(1, 32))]
    default = _run(model, positive=pos, negative=neg)
    explicit = _run(model, positive=[pos[0].with_changes(sdxl_time_ids=(64, 64, 0, 0, 64, 64))],
                    negative=[neg[0].with_changes(sdxl_time_ids=(64, 64, 0, 0, 64, 64))])
    assert torch.equal(default, explicit)  # default micro-conditioning = the latent's pixel size
    other = _run(model, positive=[pos[0].with_changes(sdxl_time_ids=(1024, 1024, 0, 0, 1024, 1024))],
                 negative=neg)
    assert not torch.equal(default, other)
    with pytest.raises(ValueError, match="pooled_output"):
        _run(model, positive=POS, negative=NEG)


def test_v_prediction_denoised_recovers_x0() -> None:
    ms = ModelSampling.scaled_linear(prediction_type="v_prediction")
    x0, eps = torch.randn(2, 4, 4, 4), torch.randn(2, 4, 4, 4)
    sigma = torch.tensor(3.0)
    alpha_vp, sigma_vp = 1 / (1 + sigma**2) ** 0.5, sigma / (1 + sigma**2) ** 0.5
    v = alpha_vp * eps - sigma_vp * x0
    torch.testing.assert_close(ms.calculate_denoised(sigma, v, x0 + sigma * eps), x0, rtol=1e-5, atol=1e-5)


def test_progress_and_interrupt(model: TinyModel) -> None:
    seen: list[Progress] = []
    _run(model, steps=4, progress=seen.append)
    assert [p.step for p in seen] == [1, 2, 3, 4] and all(p.total_steps == 4 for p in seen)
    assert seen[0].denoised.shape == (1, 4, 8, 8)

    class Stop(Exception):
        pass

    calls = 0

    def interrupt() -> None:
        nonlocal calls
        calls += 1
        if calls > 2:
            raise Stop

    before = model.calls
    with pytest.raises(Stop):
        _run(model, steps=10, interrupt=interrupt)
    assert model.calls - before < 10


def test_wrong_latent_channels_is_a_clear_error(model: TinyModel) -> None:
    with pytest.raises(ValueError, match="expected 4 channels"):
        _run(model, latent={"samples": torch.ones(1, 16, 8, 8)})
    # An all-zero latent of another family is re-made with the model's channel count.
    assert _run(model, latent={"samples": torch.zeros(1, 16, 8, 8)}).shape == (1, 4, 8, 8)


def test_unknown_sampler_is_a_clear_error(model: TinyModel) -> None:
    with pytest.raises(ValueError, match="sampler_name: expected one of"):
        _run(model, sampler_name="euler_cfg_pp")


def test_ancestral_noise_is_seeded_with_the_seed(model: TinyModel) -> None:
    """Regression: ComfyUI 0.3.64 seeds the ancestral stream with the seed itself, not seed+1 (measured with
    bench/parity_check.py on ../shared/parity/euler_ancestral_karras: 1.5e-5 vs 1.5)."""
    from diffusion.sampling.guidance import CFGDenoiser
    from diffusion.sampling.samplers.base import ancestral_step
    from diffusion.sampling.schedulers import calculate_sigmas

    ms = model_sampling_for(model)
    sigmas = calculate_sigmas(ms, "karras", 2)
    got = _run(model, sampler_name="euler_ancestral", steps=2, seed=7)
    denoiser = CFGDenoiser(model.unet, ms, POS, NEG, 5.0, latent_shape=torch.Size((1, 4, 8, 8)),
                           dtype=torch.float32, device=torch.device("cpu"))
    generator = torch.Generator().manual_seed(7)
    x = torch.randn(1, 4, 8, 8, generator=generator) * torch.sqrt(1 + sigmas[0] ** 2)
    ancestral = torch.Generator().manual_seed(7)
    down, up = ancestral_step(sigmas[0], sigmas[1])
    d = (x - denoiser(x, sigmas[0])) / sigmas[0]
    x = x + d * (down - sigmas[0]) + torch.randn(x.shape, generator=ancestral) * up
    x = denoiser(x, sigmas[1])
    torch.testing.assert_close(got, x / model.latent_scale_factor, rtol=1e-6, atol=1e-5)
