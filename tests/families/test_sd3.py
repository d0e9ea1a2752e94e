"""SD3/SD3.5: loading ComfyUI-layout single files, text encoding and sampling against diffusers' pipeline."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler, StableDiffusion3Pipeline
from diffusers.loaders.single_file_utils import convert_sd3_transformer_checkpoint_to_diffusers

from diffusion.models.checkpoint import load_checkpoint
from diffusion.models.convert import CheckpointKeyError
from diffusion.models.model import UnetModel
from diffusion.models.tiny_sd3 import TinySd3, write_tiny_sd3
from diffusion.sampling.flow import FlowModelSampling, FlowParams
from diffusion.sampling.ksampler import sample
from diffusion.sampling.schedulers import calculate_sigmas
from diffusion.text.clip import Clip
from diffusion.text.t5 import t5_tokenizer
from diffusion.text.tokenizer import clip_tokenizer
from diffusion.vae import Vae
from nodes import sd3 as sd3_nodes  # noqa: F401  (registers the SD3 nodes)
from nodes.conditioning import conditioning_zero_out

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[TinySd3, Path]:
    path = tmp_path_factory.mktemp("sd3") / "tiny_sd3.safetensors"
    return write_tiny_sd3(path), path


@pytest.fixture(scope="module")
def loaded(tiny: tuple[TinySd3, Path]) -> tuple[UnetModel, Clip, Vae]:
    return load_checkpoint(tiny[1], device=CPU)


def _pipeline(t: TinySd3) -> Any:
    clip_g_tokenizer = copy.deepcopy(clip_tokenizer())
    clip_g_tokenizer.pad_token = "!"  # OpenCLIP-G pads with id 0, as SD3's tokenizer_2 does
    return StableDiffusion3Pipeline(  # type: ignore[no-untyped-call]
        transformer=t.transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=1.0),  # type: ignore[no-untyped-call]
        vae=t.vae,
        text_encoder=t.clip_l, tokenizer=clip_tokenizer(), text_encoder_2=t.clip_g, tokenizer_2=clip_g_tokenizer,
        text_encoder_3=t.t5, tokenizer_3=t5_tokenizer(),
    )


def test_tiny_layout_round_trips_through_diffusers_converter(tiny: tuple[TinySd3, Path]) -> None:
    t = tiny[0]
    prefix = "model.diffusion_model."
    sub = {k[len(prefix):]: v for k, v in t.state.items() if k.startswith(prefix)}
    converted = convert_sd3_transformer_checkpoint_to_diffusers(dict(sub))  # type: ignore[no-untyped-call]
    reference = t.transformer.state_dict()
    assert set(converted) == set(reference)
    assert all(torch.equal(converted[k], reference[k]) for k in reference)


def test_checkpoint_loads_every_part_exactly(tiny: tuple[TinySd3, Path], loaded: tuple[UnetModel, Clip, Vae]) -> None:
    t, _ = tiny
    model, clip, vae = loaded
    assert model.family == "sd3" and model.latent_channels == 16 and vae.latent_channels == 16
    assert [e.name for e in clip.encoders] == ["clip_l", "clip_g"] and clip.t5 is not None
    pairs = [(model.unet.transformer, t.transformer), (vae.module, t.vae), (clip.t5.module, t.t5),
             (clip.encoder("clip_l").module, t.clip_l), (clip.encoder("clip_g").module, t.clip_g)]
    for mine, source in pairs:
        assert isinstance(mine, torch.nn.Module)
        theirs = source.state_dict()
        for key, value in mine.state_dict().items():
            assert torch.equal(value, theirs[key]), key


def test_text_encoding_equals_diffusers(tiny: tuple[TinySd3, Path], loaded: tuple[UnetModel, Clip, Vae]) -> None:
    pipe = _pipeline(tiny[0])
    prompt = "a photo of a cat on a red sofa"
    embeds, _, pooled, _ = pipe.encode_prompt(prompt, prompt, prompt, do_classifier_free_guidance=False,
                                              max_sequence_length=77)
    entry = loaded[1].encode(prompt)
    assert entry.cross_attn.shape == embeds.shape == (1, 154, 64)
    torch.testing.assert_close(entry.cross_attn, embeds, rtol=1e-5, atol=1e-5)
    assert entry.pooled_output is not None
    torch.testing.assert_close(entry.pooled_output, pooled, rtol=1e-5, atol=1e-5)


def test_t5_tokens_match_transformers() -> None:
    from diffusion.text.t5 import t5_tokens

    ids = t5_tokens("a photo of a cat", 77)
    assert ids[:8] == [3, 9, 1202, 13, 3, 9, 1712, 1] and len(ids) == 77 and set(ids[8:]) == {0}
    long = "word " * 120
    assert len(t5_tokens(long, 77)) == 121  # ComfyUI does not cut T5 prompts at 77 tokens


def test_flow_sigmas_closed_form() -> None:
    ms = FlowModelSampling(FlowParams("sd3", 3.0, 1000.0))
    t = torch.tensor([0.25, 0.5, 1.0])
    torch.testing.assert_close(ms.sigma(t * 1000), 3 * t / (1 + 2 * t))
    assert float(ms.sigma_max) == 1.0 and float(ms.timestep(torch.tensor(0.5))) == 500.0
    sigmas = calculate_sigmas(ms, "simple", 4)
    torch.testing.assert_close(sigmas, torch.tensor([1.0, 0.9, 0.75, 0.5, 0.0]), rtol=1e-5, atol=1e-6)


def test_ksampler_matches_stable_diffusion_3_pipeline(
    tiny: tuple[TinySd3, Path], loaded: tuple[UnetModel, Clip, Vae]
) -> None:
    model, clip, _ = loaded
    prompt = "a lighthouse at dusk"
    positive = [clip.encode(prompt)]
    negative = conditioning_zero_out(positive).conditioning
    latent = {"samples": torch.zeros(1, 16, 8, 8)}
    out = sample(model, seed=7, steps=4, cfg=4.5, sampler_name="euler", scheduler="simple",
                 positive=positive, negative=negative, latent=latent)["samples"]
    noise = torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(7))
    sigmas = calculate_sigmas(FlowModelSampling(FlowParams()), "simple", 4)
    pipe = _pipeline(tiny[0])
    ref = pipe(prompt_embeds=positive[0].cross_attn, pooled_prompt_embeds=positive[0].pooled_output,
               negative_prompt_embeds=negative[0].cross_attn,
               negative_pooled_prompt_embeds=negative[0].pooled_output, latents=noise.clone(),
               sigmas=sigmas[:-1].tolist(), guidance_scale=4.5, height=64, width=64, output_type="latent").images
    ref_raw = ref / 1.5305 + 0.0609  # the pipeline returns model-space latents; LATENT is the VAE's raw space
    rel = (out - ref_raw).norm() / ref_raw.norm()
    assert rel < 1e-4, float(rel)
    assert not torch.allclose(out, noise)  # it did sample


def test_missing_mmdit_tensor_is_a_clear_error(tiny: tuple[TinySd3, Path], tmp_path: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v for k, v in tiny[0].state.items() if k != "model.diffusion_model.final_layer.linear.weight"}
    path = tmp_path / "broken.safetensors"
    save_file(state, str(path))
    with pytest.raises((CheckpointKeyError, ValueError), match=r"broken\.safetensors"):
        load_checkpoint(path, device=CPU)


def test_node_schemas_match_comfyui() -> None:
    from graph.registry import REGISTRY

    expected = {
        "ModelSamplingSD3": ([("model", None), ("shift", 3.0)], ["MODEL"]),
        "CLIPTextEncodeSD3": ([("clip", None), ("clip_l", ""), ("clip_g", ""), ("t5xxl", ""),
                               ("empty_padding", "none")], ["CONDITIONING"]),
    }
    for node_id, (inputs, outputs) in expected.items():
        spec = REGISTRY.get(node_id)
        assert spec is not None, node_id
        assert [(i.name, i.default if i.has_default and not i.is_socket else None) for i in spec.inputs] == inputs
        assert [o.type_name for o in spec.outputs] == outputs


def test_model_sampling_sd3_node_changes_the_schedule(loaded: tuple[UnetModel, Clip, Vae]) -> None:
    from diffusion.sampling.guiders import model_sampling_for
    from nodes.sd3 import model_sampling_sd3

    shifted = model_sampling_sd3(loaded[0], shift=1.0).model
    ms = model_sampling_for(shifted)
    torch.testing.assert_close(calculate_sigmas(ms, "simple", 4), torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0]))
    assert model_sampling_for(loaded[0]).params.shift == 3.0  # type: ignore[attr-defined]  # the input is unchanged


def test_clip_text_encode_sd3_empty_padding(loaded: tuple[UnetModel, Clip, Vae]) -> None:
    from nodes.sd3 import clip_text_encode_sd3

    clip = loaded[1]
    none = clip_text_encode_sd3(clip, "a cat", "", "", "none").conditioning[0]
    # CLIP-L only: 77 tokens of [clip_l | zeros], no T5 part; pooled CLIP-G half is zero.
    assert none.cross_attn.shape == (1, 77, 64)
    assert torch.count_nonzero(none.cross_attn[..., 32:]) == 0
    assert none.pooled_output is not None and torch.count_nonzero(none.pooled_output[:, 32:]) == 0
    padded = clip_text_encode_sd3(clip, "a cat", "", "", "empty_prompt").conditioning[0]
    assert padded.cross_attn.shape == (1, 154, 64)
    torch.testing.assert_close(padded.cross_attn, clip.encode_texts({"clip_l": "a cat", "clip_g": "", "t5xxl": ""})
                               .cross_attn)
