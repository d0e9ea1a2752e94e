"""InstructPix2Pix (8-channel) and inpainting (9-channel) UNets: detection, loading, and parity with diffusers.

The parity tests run our nodes (InstructPixToPixConditioning / InpaintModelConditioning, then the KSampler
pipeline) and diffusers' StableDiffusionInstructPix2PixPipeline / StableDiffusionInpaintPipeline on the same tiny
random weights, prompt embeddings, initial noise and Euler schedule. The settings map as the README's
"Editing and inpainting" section documents:

* KSampler(sampler euler, scheduler simple, steps N, cfg g) ↔ EulerDiscreteScheduler(timestep_spacing="trailing"),
  num_inference_steps=N, guidance_scale=g, image_guidance_scale=1 (two-way CFG with the image on both sides);
  the start: ComfyUI scales the noise by √(1+σ_max²), the pipeline (trailing spacing) by σ_max, so the pipeline
  is given ``latents = noise·√(1+σ_max²)/σ_max`` (:func:`_pipeline_latents`);
* DualCFGGuider(cfg_conds=g, cfg_cond2_negative=s, style regular) with cond1 = positive and cond2 = negative from
  InstructPixToPixConditioning and negative = the plain negative prompt ↔ guidance_scale=g, image_guidance_scale=s;
* inpainting: InpaintModelConditioning(noise_mask false) and an empty latent, denoise 1 ↔ strength=1.0, with
  ``masked_image_latents`` given as the VAE posterior's mean (the pipeline otherwise draws a posterior sample).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from diffusers import (
    EulerDiscreteScheduler,
    StableDiffusionInpaintPipeline,
    StableDiffusionInstructPix2PixPipeline,
)

from diffusion.models.checkpoint import load_checkpoint
from diffusion.models.tiny import TinyModel, build_tiny, write_checkpoint
from diffusion.sampling.concat import ConcatMismatch
from diffusion.sampling.custom_values import SamplerChoice
from diffusion.sampling.dual_cfg import DualCFGGuider
from diffusion.sampling.guiders import CFGGuider, Guider, model_sampling_for, sample_with_guider
from diffusion.sampling.ksampler import sample
from diffusion.sampling.schedulers import ksampler_sigmas
from nodes import edit_conditioning


def instruct_pix_to_pix_conditioning(*args: Any) -> tuple[Any, Any, Any]:
    out = edit_conditioning.instruct_pix_to_pix_conditioning(*args)
    return out.positive, out.negative, out.latent


def inpaint_model_conditioning(*args: Any, noise_mask: bool) -> tuple[Any, Any, Any]:
    out = edit_conditioning.inpaint_model_conditioning(*args, noise_mask=noise_mask)
    return out.positive, out.negative, out.latent

CPU = torch.device("cpu")
# Tiny models gain nothing from threads, and on a shared 2-core machine two threads contend badly.
torch.set_num_threads(1)
SCHEDULE = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}
STEPS = 5
SIZE = 64


@pytest.fixture(scope="module")
def ip2p_tiny() -> TinyModel:
    return build_tiny("sd1", 3, in_channels=8)


@pytest.fixture(scope="module")
def inpaint_tiny() -> TinyModel:
    return build_tiny("sd1", 4, in_channels=9)


@pytest.fixture(scope="module")
def ip2p_loaded(ip2p_tiny: TinyModel, tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = write_checkpoint(ip2p_tiny, tmp_path_factory.mktemp("ip2p") / "ip2p.safetensors")
    return load_checkpoint(path, device=CPU, dtype=torch.float32)


@pytest.fixture(scope="module")
def inpaint_loaded(inpaint_tiny: TinyModel, tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = write_checkpoint(inpaint_tiny, tmp_path_factory.mktemp("inpaint") / "inpaint.safetensors")
    return load_checkpoint(path, device=CPU, dtype=torch.float32)


def _image(seed: int = 11) -> torch.Tensor:
    """A smooth random IMAGE [1, 64, 64, 3] in 0..1."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, 8, 8, generator=g)
    return torch.nn.functional.interpolate(low, size=(SIZE, SIZE), mode="bilinear").movedim(1, -1)


def _mask() -> torch.Tensor:
    """A MASK [1, 64, 64]: a block-aligned rectangle (so the pipeline's nearest resize and ours agree)."""
    mask = torch.zeros(1, SIZE, SIZE)
    mask[:, 16:48, 8:40] = 1.0
    return mask


def _noise(seed: int = 5) -> torch.Tensor:
    return torch.randn(1, 4, SIZE // 8, SIZE // 8, generator=torch.Generator().manual_seed(seed))


def _pipeline_latents(noise: torch.Tensor) -> torch.Tensor:
    """The pipeline's ``latents`` argument that starts it where KSampler starts from ``noise``."""
    sigma_max = float(_scheduler().sigmas.max())
    return noise * (1 + sigma_max**2) ** 0.5 / sigma_max


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def _scheduler() -> EulerDiscreteScheduler:
    return EulerDiscreteScheduler(**SCHEDULE, timestep_spacing="trailing", steps_offset=1)


def _euler(guider: Guider, noise: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
    """KSampler's path with sampler euler, scheduler simple, STEPS steps, denoise 1, and this start noise."""
    sigmas = ksampler_sigmas(model_sampling_for(guider.model), "simple", STEPS, "euler", 1.0)
    return sample_with_guider(guider, SamplerChoice("euler"), sigmas, noise, latent, 0).samples


def _prompts(clip: Any) -> tuple[Any, Any]:
    return [clip.encode("give him a cowboy hat")], [clip.encode("blurry")]


@pytest.mark.parametrize(("channels", "variant"), [(8, "instructpix2pix"), (9, "inpaint")])
def test_wide_unets_load_with_four_latent_channels(channels: int, variant: str, tmp_path: Path) -> None:
    tiny = build_tiny("sd1", 1, in_channels=channels)
    model, _, vae = load_checkpoint(write_checkpoint(tiny, tmp_path / "m.safetensors"), device=CPU)
    assert (model.variant, model.latent_channels, vae.latent_channels) == (variant, 4, 4)
    assert model.unet.config.in_channels == channels


def test_plain_model_is_unchanged(tmp_path: Path) -> None:
    model, _, _ = load_checkpoint(write_checkpoint(build_tiny("sd1", 1), tmp_path / "m.safetensors"), device=CPU)
    assert (model.variant, model.latent_channels, model.unet.config.in_channels) == ("base", 4, 4)


def test_sdxl_inpainting_is_detected(tmp_path: Path) -> None:
    tiny = build_tiny("sdxl", 2, in_channels=9)
    model, _, _ = load_checkpoint(write_checkpoint(tiny, tmp_path / "xl.safetensors"), device=CPU)
    assert (model.family, model.variant, model.latent_channels) == ("sdxl", "inpaint", 4)


def test_unknown_channel_count_is_refused(tmp_path: Path) -> None:
    from diffusion.models.architectures import UnknownModelLayout

    tiny = build_tiny("sd1", 1, in_channels=6)
    with pytest.raises(UnknownModelLayout, match="6 input channels for 4-channel latents"):
        load_checkpoint(write_checkpoint(tiny, tmp_path / "odd.safetensors"), device=CPU)


@pytest.mark.parametrize(("channels", "variant"), [(8, "instructpix2pix"), (9, "inpaint")])
def test_diffusers_folder_variant(channels: int, variant: str, tmp_path: Path) -> None:
    tiny = build_tiny("sd1", 1, in_channels=channels)
    folder = tmp_path / "pipe"
    tiny.unet.save_pretrained(folder / "unet")
    tiny.vae.save_pretrained(folder / "vae")
    tiny.text_encoders[0].save_pretrained(folder / "text_encoder")
    index = {"_class_name": "StableDiffusionInpaintPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModel"]}
    (folder / "model_index.json").write_text(json.dumps(index))
    model, _, _ = load_checkpoint(folder, device=CPU, dtype=torch.float32)
    assert (model.variant, model.latent_channels) == (variant, 4)


def _ip2p_pipe(tiny: TinyModel) -> StableDiffusionInstructPix2PixPipeline:
    pipe = StableDiffusionInstructPix2PixPipeline(
        vae=tiny.vae, text_encoder=None, tokenizer=None, unet=tiny.unet, scheduler=_scheduler(),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@torch.no_grad()
def test_ksampler_matches_instruct_pix2pix_pipeline(ip2p_tiny: TinyModel, ip2p_loaded: Any) -> None:
    model, clip, vae = ip2p_loaded
    positive, negative = _prompts(clip)
    pos, neg, latent = instruct_pix_to_pix_conditioning(positive, negative, vae, _image())
    noise = _noise()
    ref = _ip2p_pipe(ip2p_tiny)(
        prompt_embeds=positive[0].cross_attn, negative_prompt_embeds=negative[0].cross_attn,
        image=_image().movedim(-1, 1), latents=_pipeline_latents(noise), num_inference_steps=STEPS, guidance_scale=6.5,
        image_guidance_scale=1.0, output_type="latent").images
    ours = _euler(CFGGuider(model, pos, neg, 6.5), noise, latent["samples"])
    assert _rel(ours * model.latent_scale_factor, ref) < 1e-4


@torch.no_grad()
@pytest.mark.parametrize(("text_scale", "image_scale"), [(7.5, 1.5), (4.0, 2.5)])
def test_dual_cfg_matches_instruct_pix2pix_pipeline(ip2p_tiny: TinyModel, ip2p_loaded: Any, text_scale: float,
                                                    image_scale: float) -> None:
    model, clip, vae = ip2p_loaded
    positive, negative = _prompts(clip)
    pos, neg, latent = instruct_pix_to_pix_conditioning(positive, negative, vae, _image())
    noise = _noise(8)
    ref = _ip2p_pipe(ip2p_tiny)(
        prompt_embeds=positive[0].cross_attn, negative_prompt_embeds=negative[0].cross_attn,
        image=_image().movedim(-1, 1), latents=_pipeline_latents(noise), num_inference_steps=STEPS,
        guidance_scale=text_scale, image_guidance_scale=image_scale, output_type="latent").images
    ours = _euler(DualCFGGuider(model, pos, neg, negative, text_scale, image_scale), noise, latent["samples"])
    assert _rel(ours * model.latent_scale_factor, ref) < 1e-4


@torch.no_grad()
def test_inpaint_model_matches_inpaint_pipeline(inpaint_tiny: TinyModel, inpaint_loaded: Any) -> None:
    model, clip, vae = inpaint_loaded
    positive, negative = _prompts(clip)
    image, mask = _image(3), _mask()
    pos, neg, _ = inpaint_model_conditioning(positive, negative, vae, image, mask, noise_mask=False)
    noise = _noise(9)
    pipe = StableDiffusionInpaintPipeline(
        vae=inpaint_tiny.vae, text_encoder=None, tokenizer=None, unet=inpaint_tiny.unet, scheduler=_scheduler(),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    masked = image.movedim(-1, 1) * 2 - 1
    masked = masked * (mask[:, None] < 0.5)
    masked_latents = inpaint_tiny.vae.encode(masked).latent_dist.mode() * pipe.vae.config.scaling_factor
    ref = pipe(prompt_embeds=positive[0].cross_attn, negative_prompt_embeds=negative[0].cross_attn,
               image=image.movedim(-1, 1), mask_image=mask[:, None], masked_image_latents=masked_latents,
               latents=_pipeline_latents(noise), height=SIZE, width=SIZE, strength=1.0, num_inference_steps=STEPS,
               guidance_scale=7.0, output_type="latent").images
    ours = _euler(CFGGuider(model, pos, neg, 7.0), noise, torch.zeros_like(noise))
    assert _rel(ours * model.latent_scale_factor, ref) < 1e-4


def test_ip2p_conditioning_on_plain_model_is_refused(tiny_sd1_checkpoint: Path) -> None:
    model, clip, vae = load_checkpoint(tiny_sd1_checkpoint, device=CPU)
    positive, negative = _prompts(clip)
    pos, neg, latent = instruct_pix_to_pix_conditioning(positive, negative, vae, _image())
    with pytest.raises(ConcatMismatch, match=r"positive: conditioning from InstructPixToPixConditioning needs an "
                                             r"InstructPix2Pix checkpoint \(UNet with 8 input channels\)"):
        sample(model, seed=0, steps=1, cfg=2.0, sampler_name="euler", scheduler="simple", positive=pos,
               negative=neg, latent=latent)
    # Through DualCFGGuider the error names the guider's input.
    with pytest.raises(ConcatMismatch, match=r"^cond1: conditioning from InstructPixToPixConditioning needs an "
                                             r"InstructPix2Pix checkpoint .* but the model is a plain 4-channel"):
        _euler(DualCFGGuider(model, pos, neg, negative, 5.0, 1.5), _noise(), latent["samples"])


def test_inpaint_conditioning_on_plain_model_still_inpaints(tiny_sd1_checkpoint: Path) -> None:
    """ComfyUI semantics: a plain model ignores the concat channels and uses the noise mask."""
    model, clip, vae = load_checkpoint(tiny_sd1_checkpoint, device=CPU)
    positive, negative = _prompts(clip)
    pos, neg, latent = inpaint_model_conditioning(positive, negative, vae, _image(), _mask(), noise_mask=True)
    out = sample(model, seed=0, steps=2, cfg=2.0, sampler_name="euler", scheduler="simple", positive=pos,
                 negative=neg, latent=latent)["samples"]
    keep = _mask()[:, None, ::8, ::8] == 0
    kept, original = out.masked_select(keep.expand_as(out)), latent["samples"].masked_select(keep.expand_as(out))
    assert torch.allclose(kept, original, atol=1e-5)
    assert not torch.allclose(out, latent["samples"], atol=1e-2)  # the masked area was repainted


def test_mask_of_another_size_is_resized_as_comfyui_does(inpaint_loaded: Any) -> None:
    _, clip, vae = inpaint_loaded
    positive, negative = _prompts(clip)
    small = _mask()[:, ::2, ::2]  # 32×32 for a 64×64 image: bilinear-resized to the image
    pos, _, latent = inpaint_model_conditioning(positive, negative, vae, _image(), small, noise_mask=True)
    full = torch.nn.functional.interpolate(small[:, None], size=(SIZE, SIZE), mode="bilinear")
    assert torch.equal(latent["noise_mask"], full)
    assert torch.equal(pos[0].extras["concat_mask"], full)


def test_mask_batch_mismatch_is_refused_naming_node_and_input(inpaint_loaded: Any) -> None:
    _, clip, vae = inpaint_loaded
    positive, negative = _prompts(clip)
    images = _image().repeat(2, 1, 1, 1)
    with pytest.raises(ValueError, match=r"^InpaintModelConditioning: input 'mask' expected 1 or 2 masks .* "
                                         r"received 3$"):
        inpaint_model_conditioning(positive, negative, vae, images, _mask().repeat(3, 1, 1), noise_mask=True)
    with pytest.raises(ValueError, match=r"^InstructPixToPixConditioning: input 'pixels' expected an IMAGE"):
        instruct_pix_to_pix_conditioning(positive, negative, vae, torch.zeros(1, 64, 64))


def test_odd_sized_pixels_are_centre_cropped_to_multiples_of_8(ip2p_loaded: Any) -> None:
    _, clip, vae = ip2p_loaded
    positive, negative = _prompts(clip)
    odd = torch.nn.functional.pad(_image(), (0, 0, 2, 3, 1, 4))  # 64×64 framed to 71×69 (W×H)
    _, _, latent = instruct_pix_to_pix_conditioning(positive, negative, vae, odd)
    assert latent["samples"].shape == (1, 4, 8, 8)


def _unet_inputs(model: Any) -> tuple[list[torch.Tensor], Any]:
    seen: list[torch.Tensor] = []
    hook = model.unet.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    return seen, hook


def test_vae_encode_for_inpaint_feeds_the_inpainting_channels(inpaint_loaded: Any) -> None:
    """Without InpaintModelConditioning, the mask comes from the latent's noise mask and the masked image from
    the sampled latent itself (VAEEncodeForInpaint's grey-filled encode), as in ComfyUI."""
    from nodes.latent import vae_encode_for_inpaint

    model, clip, vae = inpaint_loaded
    positive, negative = _prompts(clip)
    latent = vae_encode_for_inpaint(_image(), vae, _mask(), 0).latent
    seen, hook = _unet_inputs(model)
    try:
        sample(model, seed=1, steps=1, cfg=3.0, sampler_name="euler", scheduler="simple", positive=positive,
               negative=negative, latent=latent)
    finally:
        hook.remove()
    x = seen[0]
    assert x.shape[1] == 9
    expected_mask = torch.nn.functional.interpolate(latent["noise_mask"], size=(8, 8), mode="bilinear").round()
    assert torch.equal(x[:, 4:5], expected_mask.expand(x.shape[0], -1, -1, -1))
    scaled = latent["samples"] * model.latent_scale_factor
    assert torch.allclose(x[:, 5:], scaled.expand(x.shape[0], -1, -1, -1), atol=1e-6)


def test_ksampler_advanced_on_instruct_pix2pix(ip2p_loaded: Any) -> None:
    from nodes.sampling import ksampler_advanced

    model, clip, vae = ip2p_loaded
    positive, negative = _prompts(clip)
    pos, neg, latent = instruct_pix_to_pix_conditioning(positive, negative, vae, _image())
    common = {"model": model, "noise_seed": 3, "steps": 4, "cfg": 5.0, "sampler_name": "euler",
              "scheduler": "simple", "positive": pos, "negative": neg}
    half = ksampler_advanced(**common, latent_image=latent, end_at_step=2, return_with_leftover_noise="enable")
    done = ksampler_advanced(**common, latent_image=half.latent, add_noise="disable", start_at_step=2)
    whole = ksampler_advanced(**common, latent_image=latent)
    assert torch.allclose(done.latent["samples"], whole.latent["samples"], atol=1e-4)


def test_sdxl_inpainting_samples(tmp_path: Path) -> None:
    tiny = build_tiny("sdxl", 2, in_channels=9)
    model, clip, vae = load_checkpoint(write_checkpoint(tiny, tmp_path / "xl.safetensors"), device=CPU)
    positive, negative = _prompts(clip)
    pos, neg, latent = inpaint_model_conditioning(positive, negative, vae, _image(), _mask(), noise_mask=True)
    out = sample(model, seed=0, steps=2, cfg=4.0, sampler_name="euler", scheduler="simple", positive=pos,
                 negative=neg, latent=latent)["samples"]
    assert out.shape == latent["samples"].shape and torch.isfinite(out).all()


def test_dual_cfg_styles_and_the_skipped_negative(ip2p_loaded: Any) -> None:
    """cfg_cond2_negative 1 skips the negative (regular style): then it is plain CFG of cond1 over cond2."""
    model, clip, vae = ip2p_loaded
    positive, negative = _prompts(clip)
    pos, neg, latent = instruct_pix_to_pix_conditioning(positive, negative, vae, _image())
    noise = _noise(2)
    dual = _euler(DualCFGGuider(model, pos, neg, negative, 5.0, 1.0), noise, latent["samples"])
    plain = _euler(CFGGuider(model, pos, neg, 5.0), noise, latent["samples"])
    assert _rel(dual, plain) < 1e-5
    nested = _euler(DualCFGGuider(model, pos, neg, negative, 5.0, 1.5, nested=True), noise, latent["samples"])
    regular = _euler(DualCFGGuider(model, pos, neg, negative, 5.0, 1.5), noise, latent["samples"])
    assert _rel(nested, regular) > 1e-3  # the nested style is a different rule


def test_edit_nodes_schema_matches_comfyui() -> None:
    import nodes
    from graph.schema import object_info

    registry = nodes.load_catalog(None)
    info = {name: object_info(registry.get(name)) for name in
            ("InstructPixToPixConditioning", "InpaintModelConditioning", "DualCFGGuider")}
    ip2p = info["InstructPixToPixConditioning"]
    assert list(ip2p["input"]["required"]) == ["positive", "negative", "vae", "pixels"]
    assert ip2p["output"] == ["CONDITIONING", "CONDITIONING", "LATENT"]
    assert ip2p["output_name"] == ["positive", "negative", "latent"]
    inpaint = info["InpaintModelConditioning"]
    assert list(inpaint["input"]["required"]) == ["positive", "negative", "vae", "pixels", "mask", "noise_mask"]
    assert inpaint["input"]["required"]["noise_mask"][0] == "BOOLEAN"
    assert inpaint["input"]["required"]["noise_mask"][1]["default"] is True
    dual = info["DualCFGGuider"]
    assert list(dual["input"]["required"]) == ["model", "cond1", "cond2", "negative", "cfg_conds",
                                              "cfg_cond2_negative", "style"]
    assert dual["input"]["required"]["style"][0] == ["regular", "nested"]
    assert dual["input"]["required"]["cfg_conds"][1] == {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1,
                                                          "round": 0.01}
    assert dual["output"] == ["GUIDER"] and dual["category"] == "sampling/custom_sampling/guiders"
