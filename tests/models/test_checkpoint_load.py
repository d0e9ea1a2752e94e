"""Loading tiny LDM single-file checkpoints back gives the source modules exactly."""

from pathlib import Path

import pytest
import torch

from diffusion.models.checkpoint import load_checkpoint
from tests.fixtures.tiny_models import TinyModel

CPU = torch.device("cpu")


def assert_same_weights(loaded: torch.nn.Module, source: torch.nn.Module) -> None:
    a, b = loaded.state_dict(), source.state_dict()
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different[:5]


@pytest.mark.parametrize(
    ("fixture", "family", "prediction"),
    [
        ("sd1", "sd1", "epsilon"),
        ("sd2_v", "sd2", "v_prediction"),
        ("sdxl", "sdxl", "epsilon"),
    ],
)
def test_tiny_checkpoint_round_trip_is_exact(request, fixture, family, prediction):
    source: TinyModel = request.getfixturevalue(f"tiny_{fixture}")
    path: Path = request.getfixturevalue(f"tiny_{fixture}_checkpoint")
    model, clip, vae = load_checkpoint(path, device=CPU)
    assert model.family == family and model.prediction_type == prediction
    assert_same_weights(model.unet, source.unet)
    assert_same_weights(vae.module, source.vae)
    assert len(clip.encoders) == len(source.text_encoders)
    for encoder, src in zip(clip.encoders, source.text_encoders, strict=True):
        assert_same_weights(encoder.module, src)
    assert model.latent_scale_factor == (0.13025 if family == "sdxl" else 0.18215)
    assert model.alphas_cumprod.shape == (1000,) and model.alphas_cumprod.dtype == torch.float64


def test_unet_output_matches_source(tiny_sd1, tiny_sd1_checkpoint):
    model, _, _ = load_checkpoint(tiny_sd1_checkpoint, device=CPU)
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    ctx = torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad(), model.unet_for_sampling() as unet:
        ours = unet(x, 10, encoder_hidden_states=ctx).sample
    reference = tiny_sd1.unet(x, 10, encoder_hidden_states=ctx).sample
    # mmap-backed weights are not 64-byte aligned; the kernels may round differently (models-offline §1.5)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)


def test_diffusers_reads_our_ldm_layout(tiny_sd1, tiny_sd1_checkpoint):
    """Cross-check our diffusers->LDM mapping against diffusers' own LDM converters."""
    from diffusers.loaders.single_file_utils import (
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
    )
    from safetensors.torch import load_file

    state = load_file(str(tiny_sd1_checkpoint))
    unet_sd = convert_ldm_unet_checkpoint(state, dict(tiny_sd1.unet.config))
    vae_sd = convert_ldm_vae_checkpoint(state, dict(tiny_sd1.vae.config))
    for converted, module in ((unet_sd, tiny_sd1.unet), (vae_sd, tiny_sd1.vae)):
        reference = module.state_dict()
        assert converted.keys() == reference.keys()
        assert all(torch.equal(converted[k].reshape(reference[k].shape), reference[k]) for k in reference)


def test_diffusers_folder_loads_exactly(tiny_sd1, tmp_path):
    import json

    folder = tmp_path / "tiny_sd1_diffusers"
    tiny_sd1.unet.save_pretrained(folder / "unet")
    tiny_sd1.vae.save_pretrained(folder / "vae")
    tiny_sd1.text_encoders[0].save_pretrained(folder / "text_encoder")
    index = {"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModel"]}  # fmt: skip
    (folder / "model_index.json").write_text(json.dumps(index))
    model, clip, vae = load_checkpoint(folder, device=CPU)
    assert model.family == "sd1" and model.prediction_type == "epsilon"
    assert_same_weights(model.unet, tiny_sd1.unet)
    assert_same_weights(vae.module, tiny_sd1.vae)
    assert_same_weights(clip.encoders[0].module, tiny_sd1.text_encoders[0])


def test_standalone_vae_files(tiny_sd1, tmp_path):
    from safetensors.torch import save_file

    from diffusion.models.vae_loader import load_vae
    from tests.fixtures.tiny_models import convert

    ldm = convert.to_ldm("vae", tiny_sd1.vae.state_dict(), tiny_sd1.vae_config, "")
    for name, tensors in {
        "ldm.safetensors": ldm,
        "prefixed.safetensors": {"first_stage_model." + k: v for k, v in ldm.items()},
        "diffusers.safetensors": {k: v.contiguous() for k, v in tiny_sd1.vae.state_dict().items()},
    }.items():
        save_file(tensors, str(tmp_path / name))
        vae = load_vae(tmp_path / name, device=CPU)
        assert_same_weights(vae.module, tiny_sd1.vae)


def test_vae_decode_falls_back_to_tiles_on_oom(tiny_sd1_checkpoint, monkeypatch):
    _, _, vae = load_checkpoint(tiny_sd1_checkpoint, device=CPU)
    latent = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    whole = vae.decode(latent)
    freed = []
    object.__setattr__(vae, "free_memory", lambda: freed.append(True))

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(vae.module, "decode", out_of_memory)
    tiled = vae.decode(latent)
    assert freed and tiled.shape == whole.shape == (1, 32, 32, 3)


def test_sdxl_refiner_is_detected_and_loads_exactly(tmp_path):
    from tests.fixtures.tiny_models import build_tiny, write_checkpoint

    source = build_tiny("sdxl_refiner", 0)
    path = write_checkpoint(source, tmp_path / "refiner.safetensors")
    model, clip, _ = load_checkpoint(path, device=CPU)
    assert model.family == "sdxl_refiner" and [e.name for e in clip.encoders] == ["clip_g"]
    assert_same_weights(model.unet, source.unet)
    assert_same_weights(clip.encoders[0].module, source.text_encoders[0])
    entry = clip.encode("a cat")
    assert entry.cross_attn.shape == (1, 77, 32) and entry.pooled_output.shape == (1, 32)


def test_sd2_uses_the_normalised_penultimate_layer(tiny_sd2_v, tiny_sd2_v_checkpoint):
    from diffusion.text.tokenizer import clip_tokenizer

    _, clip, _ = load_checkpoint(tiny_sd2_v_checkpoint, device=CPU)
    tower = tiny_sd2_v.text_encoders[0]
    ids = clip_tokenizer()("a photo of a cat").input_ids
    ids = torch.tensor([ids + [0] * (77 - len(ids))])  # OpenCLIP pads with id 0
    with torch.no_grad():
        expected = tower.final_layer_norm(tower(ids, output_hidden_states=True).hidden_states[-2])
    assert torch.equal(clip.encode("a photo of a cat").cross_attn, expected)


def test_diffusers_reads_our_open_clip_layout(tiny_sdxl):
    """Cross-check our OpenCLIP (SDXL CLIP-G) mapping against diffusers' own converter."""
    from diffusers.loaders.single_file_utils import convert_open_clip_checkpoint

    source = tiny_sdxl.text_encoders[1]
    fresh = type(source)(source.config)
    converted = convert_open_clip_checkpoint(fresh, dict(tiny_sdxl.ldm_state), "conditioner.embedders.1.model.")
    state = converted.state_dict() if isinstance(converted, torch.nn.Module) else converted
    reference = source.state_dict()
    for key, value in reference.items():
        assert torch.equal(state[key], value), key


def test_real_world_layout_quirks(tiny_sd1_checkpoint, tmp_path):
    """Old CLIP prefix without ``text_model.``, EMA copies, a ``v_pred`` marker, fp16 files."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(tiny_sd1_checkpoint))
    old = "cond_stage_model.transformer.text_model."
    quirky = {k.replace(old, "cond_stage_model.transformer."): v.half() if v.is_floating_point() else v
              for k, v in state.items()}  # fmt: skip
    quirky["model_ema.decay"] = torch.tensor(0.999)
    quirky["v_pred"] = torch.tensor([])
    save_file(quirky, str(tmp_path / "quirky.safetensors"))
    model, clip, _ = load_checkpoint(tmp_path / "quirky.safetensors", device=CPU)
    assert model.prediction_type == "v_prediction" and model.dtype == torch.float32
    token = clip.encoders[0].module.get_parameter("embeddings.token_embedding.weight")
    assert torch.equal(token, state[old + "embeddings.token_embedding.weight"].half().float())


def test_unet_only_file_is_explained(tiny_sd1_checkpoint, tmp_path):
    from safetensors.torch import load_file, save_file

    from diffusion.models.architectures import UnknownModelLayout

    state = {k: v for k, v in load_file(str(tiny_sd1_checkpoint)).items() if k.startswith("model.diffusion_model.")}
    save_file(state, str(tmp_path / "unet_only.safetensors"))
    with pytest.raises(UnknownModelLayout, match=r"unet_only\.safetensors: UNet found but no known text encoder"):
        load_checkpoint(tmp_path / "unet_only.safetensors", device=CPU)
