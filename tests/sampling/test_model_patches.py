"""Model patch nodes (FreeU, FreeU_V2, RescaleCFG, ModelSamplingDiscrete) against independent references:
diffusers' Fourier filter, zero-terminal-SNR rescale and LCM scalings, and closed forms."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from diffusers import LCMScheduler
from diffusers.schedulers.scheduling_ddim import rescale_zero_terminal_snr
from diffusers.utils.torch_utils import fourier_filter as diffusers_fourier_filter
from sampling_fixtures import schema_rows, text_cond, tiny_unet

from diffusion.models.model import UnetModel, training_alphas_cumprod
from diffusion.models.model_options import CfgArgs
from diffusion.models.unet_patches import FreeU, fourier_filter
from diffusion.sampling.cfg_patches import RescaleCfg
from diffusion.sampling.guiders import model_sampling_for
from diffusion.sampling.ksampler import sample
from diffusion.sampling.model_sampling import DistilledModelSampling, ModelSampling
from graph.registry import REGISTRY
from nodes import model_patches as mp

SCHEDULE = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012}
S = None
EXPECTED: dict[str, list[tuple[str, Any, Any, Any]]] = {
    "FreeU": [("model", S, S, S), ("b1", 1.1, 0.0, 10.0), ("b2", 1.2, 0.0, 10.0), ("s1", 0.9, 0.0, 10.0),
              ("s2", 0.2, 0.0, 10.0)],
    "FreeU_V2": [("model", S, S, S), ("b1", 1.3, 0.0, 10.0), ("b2", 1.4, 0.0, 10.0), ("s1", 0.9, 0.0, 10.0),
                 ("s2", 0.2, 0.0, 10.0)],
    "RescaleCFG": [("model", S, S, S), ("multiplier", 0.7, 0.0, 1.0)],
    "ModelSamplingDiscrete": [("model", S, S, S), ("sampling", "eps", S, S), ("zsnr", False, S, S)],
    "DifferentialDiffusion": [("model", S, S, S), ("strength", 1.0, 0.0, 1.0)],
    "PerturbedAttentionGuidance": [("model", S, S, S), ("scale", 3.0, 0.0, 100.0)],
    "SelfAttentionGuidance": [("model", S, S, S), ("scale", 0.5, -2.0, 5.0), ("blur_sigma", 2.0, 0.0, 10.0)],
    "PatchModelAddDownscale": [("model", S, S, S), ("block_number", 3, 1, 32), ("downscale_factor", 2.0, 0.1, 9.0),
                               ("start_percent", 0.0, 0.0, 1.0), ("end_percent", 0.35, 0.0, 1.0),
                               ("downscale_after_skip", True, S, S), ("downscale_method", "bicubic", S, S),
                               ("upscale_method", "bicubic", S, S)],
}


@pytest.mark.parametrize("node_id", sorted(EXPECTED))
def test_schema_matches_comfyui(node_id: str) -> None:
    assert schema_rows(node_id) == EXPECTED[node_id]
    spec = REGISTRY.get(node_id)
    assert spec is not None and [o.type_name for o in spec.outputs] == ["MODEL"]


@pytest.fixture(scope="module")
def base() -> UnetModel:
    return UnetModel(unet=tiny_unet(3), family="sd1", prediction_type="epsilon",
                     alphas_cumprod=training_alphas_cumprod(SCHEDULE), latent_scale_factor=0.18215,
                     latent_channels=4)


def _forward(model: UnetModel, capture: list[torch.Tensor] | None = None) -> torch.Tensor:
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    context = text_cond(4).cross_attn
    with model.unet_for_sampling() as unet:
        handle = None
        if capture is not None:
            first = unet.up_blocks[0].resnets[0]
            handle = first.register_forward_pre_hook(lambda m, args: capture.append(args[0].clone()))
        try:
            out: torch.Tensor = unet(x, torch.tensor([500.0]), encoder_hidden_states=context, return_dict=False)[0]
        finally:
            if handle is not None:
                handle.remove()
    return out


def test_fourier_filter_matches_diffusers() -> None:
    x = torch.randn(2, 3, 8, 10, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(fourier_filter(x, 1, 0.3), diffusers_fourier_filter(x, 1, 0.3))  # type: ignore[arg-type]


def test_freeu_scales_backbone_and_filters_skip(base: UnetModel) -> None:
    """Tiny UNet, base width 32: the first decoder ResNet gets h (64 = 2×32 channels → b2, s2) and a skip."""
    plain: list[torch.Tensor] = []
    patched: list[torch.Tensor] = []
    weights = {k: v.clone() for k, v in base.unet.state_dict().items()}
    before = _forward(base, plain)
    model = mp.freeu(base, b1=1.1, b2=1.7, s1=0.9, s2=0.3).model
    assert isinstance(model, UnetModel) and model.unet is base.unet  # shared, not copied
    out = _forward(model, patched)
    h, p = plain[0], patched[0]
    torch.testing.assert_close(p[:, :32], h[:, :32] * 1.7)
    torch.testing.assert_close(p[:, 32:64], h[:, 32:64])
    torch.testing.assert_close(p[:, 64:], diffusers_fourier_filter(h[:, 64:], 1, 0.3))  # type: ignore[arg-type]
    assert not torch.allclose(out, before)
    # The hooks are gone after sampling and the weights never changed.
    assert torch.equal(_forward(base), before)
    assert all(torch.equal(v, weights[k]) for k, v in base.unet.state_dict().items())


def test_freeu_v2_scales_by_normalised_channel_mean() -> None:
    h = torch.randn(2, 6, 4, 4, generator=torch.Generator().manual_seed(2))
    skip = torch.randn(2, 5, 4, 4, generator=torch.Generator().manual_seed(3))
    out_h, out_skip = FreeU(1.3, 1.4, 0.9, 0.2, version=2).patch(h, skip, 1.5, 0.5)
    for b in range(2):
        mean = h[b].mean(0)
        m = (mean - mean.min()) / (mean.max() - mean.min())
        torch.testing.assert_close(out_h[b, :3], h[b, :3] * (0.5 * m + 1))
        torch.testing.assert_close(out_h[b, 3:], h[b, 3:])
    torch.testing.assert_close(out_skip, diffusers_fourier_filter(skip, 1, 0.5))  # type: ignore[arg-type]


def test_patches_compose_without_copying(base: UnetModel) -> None:
    both = mp.rescale_cfg(mp.freeu_v2(base, 1.3, 1.4, 0.9, 0.2).model, 0.5).model
    assert isinstance(both, UnetModel) and both.unet is base.unet
    assert len(both.options.unet_hooks) == 1 and both.options.cfg_function is not None
    assert base.options.unet_hooks == () and base.options.cfg_function is None


def test_rescale_cfg_closed_form() -> None:
    g = torch.Generator().manual_seed(5)
    x, cond, uncond = (torch.randn(2, 4, 3, 3, generator=g) for _ in range(3))
    sigma = torch.tensor(2.5)
    args = CfgArgs(x, sigma, cond, uncond, 6.0)
    plain = uncond + (cond - uncond) * 6.0
    torch.testing.assert_close(RescaleCfg(0.0)(args), plain)
    # Independent v-space computation: α = 1/√(1+σ²), s = σ/√(1+σ²), ε = (x − x0)/σ, v = α·ε − s·x0.
    alpha, s = 1 / math.sqrt(1 + 2.5**2), 2.5 / math.sqrt(1 + 2.5**2)
    v_c, v_u = (alpha * (x - d) / 2.5 - s * d for d in (cond, uncond))
    v_cfg = v_u + 6.0 * (v_c - v_u)
    v_out = v_cfg * v_c.std(dim=(1, 2, 3), keepdim=True) / v_cfg.std(dim=(1, 2, 3), keepdim=True)
    # x0 = α·x_vp − s·v with the VP sample x_vp = α·x.
    torch.testing.assert_close(RescaleCfg(1.0)(args), alpha * alpha * x - s * v_out, rtol=1e-5, atol=1e-5)


def test_rescale_cfg_changes_sampling_only_through_cfg(base: UnetModel) -> None:
    kw: dict[str, Any] = {"seed": 1, "steps": 2, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal",
                          "positive": [text_cond(1)], "negative": [text_cond(2)],
                          "latent": {"samples": torch.zeros(1, 4, 8, 8)}}
    plain = sample(base, **kw)["samples"]
    torch.testing.assert_close(sample(mp.rescale_cfg(base, 0.0).model, **kw)["samples"], plain, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(sample(mp.rescale_cfg(base, 1.0).model, **kw)["samples"], plain, atol=1e-3)


def test_zero_terminal_snr_matches_diffusers(base: UnetModel) -> None:
    model = mp.model_sampling_discrete(base, "v_prediction", True).model
    ms = model_sampling_for(model)
    assert ms.prediction_type == "v_prediction"
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    ac = torch.cumprod(1 - rescale_zero_terminal_snr(betas), dim=0)
    reference = ((1 - ac) / ac).sqrt()
    torch.testing.assert_close(ms.sigmas[:-1].double(), reference[:-1], rtol=1e-4, atol=1e-6)
    # diffusers' last ᾱ is exactly 0 (σ = ∞); the reference sampler pins it at 4.8973e-08 instead.
    assert math.isinf(float(reference[-1]))
    assert float(ms.sigmas[-1]) == pytest.approx(math.sqrt((1 - 4.8973451890853435e-08) / 4.8973451890853435e-08),
                                                 rel=1e-5)


def test_lcm_sampling_matches_diffusers_scalings(base: UnetModel) -> None:
    ms = model_sampling_for(mp.model_sampling_discrete(base, "lcm", False).model)
    assert isinstance(ms, DistilledModelSampling) and len(ms.sigmas) == 50
    full = ModelSampling(base.alphas_cumprod)
    assert torch.equal(ms.sigmas, full.sigmas[19::20])
    assert float(ms.timestep(full.sigmas[999])) == 999 and float(ms.timestep(full.sigmas[519])) == 519
    scheduler = LCMScheduler()
    x = torch.randn(1, 4, 2, 2, generator=torch.Generator().manual_seed(6))
    eps = torch.randn(1, 4, 2, 2, generator=torch.Generator().manual_seed(7))
    sigma = full.sigmas[519]
    c_skip, c_out = scheduler.get_scalings_for_boundary_condition_discrete(519)
    torch.testing.assert_close(ms.calculate_denoised(sigma, eps, x), c_out * (x - eps * sigma) + c_skip * x)


def test_x0_and_img_to_img_read_the_output_directly(base: UnetModel) -> None:
    out = torch.randn(1, 4, 2, 2)
    x = torch.randn(1, 4, 2, 2)
    for kind in ("x0", "img_to_img"):
        ms = model_sampling_for(mp.model_sampling_discrete(base, kind, False).model)  # type: ignore[arg-type]
        assert torch.equal(ms.calculate_denoised(torch.tensor(3.0), out, x), out)
    img = model_sampling_for(mp.model_sampling_discrete(base, "img_to_img", False).model)
    assert torch.equal(img.calculate_input(torch.tensor(3.0), x), x)
    eps = model_sampling_for(mp.model_sampling_discrete(base, "eps", False).model)
    torch.testing.assert_close(eps.calculate_input(torch.tensor(3.0), x), x / math.sqrt(10.0))


def test_patch_nodes_refuse_models_they_cannot_patch() -> None:
    with pytest.raises(ValueError, match="FreeU: input 'model' expected a UNet MODEL"):
        mp.freeu(object(), 1.1, 1.2, 0.9, 0.2)  # type: ignore[arg-type]


def test_differential_diffusion_repaints_by_mask_value(base: UnetModel) -> None:
    """Steps at timesteps 999, 749, 499, 249 then σ = 0: the progress thresholds are t/999 = 1, .75, .5, .25.
    A cell with mask 0.5 is held to the noised original while the threshold is above 0.5 (first two steps)
    and repainted after; mask 1 is always repainted, mask 0 never."""
    from test_noise_mask_inpaint import RecordingGuider

    from diffusion.sampling.custom_values import SamplerChoice
    from diffusion.sampling.guiders import sample_with_guider

    model = mp.differential_diffusion(base, 1.0).model
    ms = model_sampling_for(model)
    sigmas = torch.cat([ms.sigmas[[999, 749, 499, 249]], torch.zeros(1)])
    original = torch.randn(1, 4, 1, 3, generator=torch.Generator().manual_seed(8))
    noise = torch.randn(1, 4, 1, 3, generator=torch.Generator().manual_seed(9))
    mask = torch.tensor([[[0.0, 0.5, 1.0]]])
    guider = RecordingGuider(model)
    sample_with_guider(guider, SamplerChoice("euler"), sigmas, noise, original, 0, noise_mask=mask)
    scaled = original * base.latent_scale_factor
    held = [[bool(torch.allclose(x[..., c], scaled[..., c] + s * noise[..., c])) for c in range(3)]
            for x, s in guider.seen]
    assert held == [[True, True, False], [True, True, False], [True, False, False], [True, False, False]]
    half = mp.differential_diffusion(base, 0.5).model
    assert isinstance(half, UnetModel) and half.options.denoise_mask_function is not None
    spec = REGISTRY.get("DifferentialDiffusion")
    assert spec is not None and spec.input("strength").section == "optional"  # type: ignore[union-attr]


def test_pag_perturbed_pass_matches_diffusers_identity_processor(base: UnetModel) -> None:
    """Our identity self-attention in the middle block against diffusers' PAG processor (perturbed half)."""
    from diffusers.models.attention_processor import PAGIdentitySelfAttnProcessor2_0

    from diffusion.models.attention_patches import PerturbMiddleSelfAttention, middle_self_attentions

    unet: Any = base.unet
    assert len(middle_self_attentions(unet)) == 1
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(10))
    context = text_cond(5).cross_attn
    t = torch.tensor([400.0])
    plain = unet(x, t, encoder_hidden_states=context, return_dict=False)[0]
    with PerturbMiddleSelfAttention().installed(unet):
        ours = unet(x, t, encoder_hidden_states=context, return_dict=False)[0]
    assert torch.equal(unet(x, t, encoder_hidden_states=context, return_dict=False)[0], plain)  # restored
    attn = middle_self_attentions(unet)[0]
    previous = attn.processor
    attn.set_processor(PAGIdentitySelfAttnProcessor2_0())
    try:
        # diffusers' PAG processor runs [original, perturbed] halves of one batch through the middle block.
        both = unet(torch.cat([x, x]), t, encoder_hidden_states=torch.cat([context, context]), return_dict=False)[0]
    finally:
        attn.set_processor(previous)
    # Batch size 2 vs 1 changes float summation order in the convolutions: 1e-5 absolute.
    torch.testing.assert_close(ours, both[1:], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(plain, both[:1], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(ours, plain, atol=1e-4)


def test_pag_guidance_closed_form(base: UnetModel) -> None:
    """ComfyUI's formula on x0 estimates: cfg_result + (cond − cond_perturbed)·scale; scale 0 changes nothing."""
    from diffusion.models.attention_patches import PerturbedAttentionGuidance
    from diffusion.models.model_options import PostCfgArgs

    g = torch.Generator().manual_seed(11)
    x, denoised, cond, perturbed = (torch.randn(1, 4, 2, 2, generator=g) for _ in range(4))
    args = PostCfgArgs(x, torch.tensor(2.0), denoised, cond, lambda hooks: perturbed)
    torch.testing.assert_close(PerturbedAttentionGuidance(2.5)(args), denoised + (cond - perturbed) * 2.5)
    assert PerturbedAttentionGuidance(0.0)(args) is denoised
    kw: dict[str, Any] = {"seed": 1, "steps": 2, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal",
                          "positive": [text_cond(1)], "negative": [text_cond(2)],
                          "latent": {"samples": torch.zeros(1, 4, 8, 8)}}
    plain = sample(base, **kw)["samples"]
    pag = mp.perturbed_attention_guidance(base, 3.0).model
    assert not torch.allclose(sample(pag, **kw)["samples"], plain, atol=1e-4)
    assert torch.equal(sample(mp.perturbed_attention_guidance(base, 0.0).model, **kw)["samples"], plain)


def _unet_call(model: UnetModel, sigma: float, shapes: dict[str, Any] | None = None) -> torch.Tensor:
    """One UNet call at σ, as the sampler makes it (σ visible to hooks), recording some feature shapes."""
    from diffusion.models.model_options import unet_call

    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(12))
    context = text_cond(6).cross_attn
    with model.unet_for_sampling() as unet:
        net: Any = unet
        handles = []
        if shapes is not None:
            handles.append(net.down_blocks[0].downsamplers[0].register_forward_pre_hook(
                lambda m, a: shapes.__setitem__("downsampler_in", tuple(a[0].shape[-2:]))))
            handles.append(net.up_blocks[1].register_forward_pre_hook(
                lambda m, a, kw: shapes.__setitem__("skips",
                                                    [tuple(s.shape[-2:]) for s in kw["res_hidden_states_tuple"]]),
                with_kwargs=True))
        try:
            with unet_call(sigma):
                out: torch.Tensor = unet(x, torch.tensor([500.0]), encoder_hidden_states=context, return_dict=False)[0]
        finally:
            for handle in handles:
                handle.remove()
    return out


def test_deep_shrink_shrinks_after_the_block_and_grows_back(base: UnetModel) -> None:
    """Tiny UNet encoder blocks: 0 conv_in, 1 ResNet+attention, 2 downsampler, 3 ResNet. Shrinking after block 1
    by 2 halves what the downsampler sees (8×8 → 4×4); "after skip" keeps block 1's skip at 8×8, otherwise the
    skip is 4×4 too; the decoder grows features back to each skip's size and the output keeps its size."""
    plain_shapes: dict[str, Any] = {}
    plain = _unet_call(base, 5.0, plain_shapes)
    assert plain_shapes["downsampler_in"] == (8, 8)
    for after_skip, block1_skip in ((True, (8, 8)), (False, (4, 4))):
        model = mp.patch_model_add_downscale(base, 1, 2.0, 0.0, 0.35, after_skip, "bicubic", "bilinear").model
        assert isinstance(model, UnetModel)
        active = model_sampling_for(model).percent_to_sigma(0.35) + 0.5
        shapes: dict[str, Any] = {}
        out = _unet_call(model, active, shapes)
        assert shapes["downsampler_in"] == (4, 4)
        # up_blocks[1] consumes conv_in's skip (8×8) and block 1's skip.
        assert shapes["skips"] == [(8, 8), block1_skip]
        assert out.shape == plain.shape and not torch.allclose(out, plain, atol=1e-4)
        # Below σ(35 %) the patch is off and the UNet is untouched.
        assert torch.equal(_unet_call(model, 0.5), _unet_call(base, 0.5))
    assert torch.equal(_unet_call(base, 5.0), plain)  # hooks removed after sampling


def test_deep_shrink_with_factor_one_changes_nothing(base: UnetModel) -> None:
    same = mp.patch_model_add_downscale(base, 1, 1.0, 0.0, 1.0, True, "nearest-exact", "nearest-exact").model
    assert isinstance(same, UnetModel)
    assert torch.equal(_unet_call(same, 5.0), _unet_call(base, 5.0))
    bislerp = mp.patch_model_add_downscale(base, 3, 1.5, 0.0, 1.0, False, "bislerp", "bislerp").model
    assert isinstance(bislerp, UnetModel) and bool(torch.isfinite(_unet_call(bislerp, 5.0)).all())


def test_sag_blur_and_grid_against_kornia_and_by_hand() -> None:
    import kornia

    from diffusion.models.sag_patch import attention_grid, blur_map, gaussian_blur

    x = torch.randn(2, 4, 12, 10, generator=torch.Generator().manual_seed(13))
    torch.testing.assert_close(gaussian_blur(x, 2.0),
                               kornia.filters.gaussian_blur2d(x, (9, 9), (2.0, 2.0), border_type="reflect"))
    assert attention_grid(64, 8, 8) == (8, 8)
    assert attention_grid(32, 4, 8) == (4, 8)
    assert attention_grid(12, 3, 4) == (3, 4)
    # Two heads, 4 tokens on a 2×2 grid; keys 0 and 3 receive everything (mean over heads, summed over queries).
    attention = torch.zeros(2, 4, 4)
    attention[:, :, 0] = 0.5
    attention[:, :, 3] = 0.5
    x0 = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(14))
    out = blur_map(x0, attention, 1.5)
    blurred = gaussian_blur(x0, 1.5)
    # Token 0 is the top-left 4×4 quarter, token 3 the bottom-right one (nearest upsampling of the 2×2 mask).
    torch.testing.assert_close(out[..., :4, :4], blurred[..., :4, :4])
    torch.testing.assert_close(out[..., 4:, 4:], blurred[..., 4:, 4:])
    assert torch.equal(out[..., :4, 4:], x0[..., :4, 4:]) and torch.equal(out[..., 4:, :4], x0[..., 4:, :4])


def test_sag_records_the_negative_attention_without_changing_it(base: UnetModel) -> None:
    from diffusion.models.model_options import unet_call
    from diffusion.models.sag_patch import SelfAttentionGuidance

    unet: Any = base.unet
    attn = unet.mid_block.attentions[0].transformer_blocks[0].attn1
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(15))
    context = torch.cat([text_cond(7).cross_attn, text_cond(8).cross_attn])
    t = torch.tensor([300.0])
    plain = unet(x, t, encoder_hidden_states=context, return_dict=False)[0]
    seen: list[torch.Tensor] = []
    handle = attn.register_forward_pre_hook(lambda m, a, kw: seen.append(a[0] if a else kw["hidden_states"]),
                                            with_kwargs=True)
    sag = SelfAttentionGuidance(0.5, 2.0)
    try:
        with sag.installed(unet), unet_call(1.0, (1, 0)):  # chunk 0 is the negative
            recorded = unet(x, t, encoder_hidden_states=context, return_dict=False)[0]
            stored = sag._store["attention"]
    finally:
        handle.remove()
    torch.testing.assert_close(recorded, plain, rtol=1e-5, atol=1e-6)
    hidden = seen[0]  # what the attention module received (already layer-normed)
    q, k = attn.to_q(hidden[:1]), attn.to_k(hidden[:1])
    heads = attn.heads
    q = q.reshape(1, -1, heads, q.shape[-1] // heads).transpose(1, 2)
    k = k.reshape(1, -1, heads, k.shape[-1] // heads).transpose(1, 2)
    expected = (q @ k.transpose(-1, -2) * attn.scale).softmax(-1).reshape(heads, q.shape[2], -1)
    torch.testing.assert_close(stored, expected, rtol=1e-5, atol=1e-6)
    assert "attention" not in sag._store  # cleared after sampling


def test_sag_changes_guided_sampling_only(base: UnetModel) -> None:
    kw: dict[str, Any] = {"seed": 1, "steps": 2, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal",
                          "positive": [text_cond(1)], "negative": [text_cond(2)],
                          "latent": {"samples": torch.zeros(1, 4, 8, 8)}}
    plain = sample(base, **kw)["samples"]
    sag = mp.self_attention_guidance(base, 0.5, 2.0).model
    assert not torch.allclose(sample(sag, **kw)["samples"], plain, atol=1e-4)
    # Scale 0 (or no negative at cfg 1) leaves only the recording attention's rounding (explicit softmax
    # instead of the fused kernel): 1e-5 relative.
    torch.testing.assert_close(sample(mp.self_attention_guidance(base, 0.0, 2.0).model, **kw)["samples"], plain,
                               rtol=1e-5, atol=1e-3)
    kw["cfg"] = 1.0
    torch.testing.assert_close(sample(sag, **kw)["samples"], sample(base, **kw)["samples"], rtol=1e-5, atol=1e-3)
