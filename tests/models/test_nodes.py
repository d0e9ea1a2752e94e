"""Loader and conditioning nodes: ComfyUI schema, values that flow, caching by file fingerprint."""

import os

import pytest
import torch

import folders
import nodes.conditioning as cond_nodes
import nodes.loaders as loader_nodes
from diffusion.models.cache import MODEL_CACHE
from graph.registry import REGISTRY
from tests.fixtures.tiny_models import build_tiny, write_checkpoint


@pytest.fixture
def tiny_folders(tiny_models_dir, tiny_sd1_checkpoint, tiny_sd1_lora, tiny_sd1_controlnet):
    previous = folders.use(folders.Folders.at(tiny_models_dir, load_default_extra_config=False))
    yield tiny_models_dir
    folders.use(previous)


def test_schema_matches_comfyui():
    def shape(node_id):
        spec = REGISTRY.get(node_id)
        return [(i.name, i.type_name, i.default if i.has_default else None) for i in spec.inputs]

    assert shape("CLIPTextEncode") == [("text", "STRING", ""), ("clip", "CLIP", None)]
    assert shape("LoraLoader") == [
        ("model", "MODEL", None),
        ("clip", "CLIP", None),
        ("lora_name", "COMBO", None),
        ("strength_model", "FLOAT", 1.0),
        ("strength_clip", "FLOAT", 1.0),
    ]
    assert [n for n, _, _ in shape("CLIPTextEncodeSDXL")] == [
        "clip",
        "width",
        "height",
        "crop_w",
        "crop_h",
        "target_width",
        "target_height",
        "text_g",
        "text_l",
    ]
    assert [n for n, _, _ in shape("CLIPTextEncodeSDXLRefiner")] == ["ascore", "width", "height", "text", "clip"]
    assert shape("CLIPSetLastLayer")[1] == ("stop_at_clip_layer", "INT", -1)
    assert [o.display_name for o in REGISTRY.get("CheckpointLoaderSimple").outputs] == ["MODEL", "CLIP", "VAE"]


def test_checkpoint_loader_lists_and_loads(tiny_folders):
    assert "tiny_sd1.safetensors" in loader_nodes._files("checkpoints")()
    MODEL_CACHE.free()
    out = loader_nodes.checkpoint_loader_simple("tiny_sd1.safetensors")
    again = loader_nodes.checkpoint_loader_simple("tiny_sd1.safetensors")
    assert out.model is again.model and out.vae is again.vae  # served from the model cache
    cond = cond_nodes.clip_text_encode("a (photo:1.2) of a cat", clip=out.clip).conditioning
    assert len(cond) == 1 and cond[0].cross_attn.shape == (1, 77, 32)
    image = out.vae.decode(torch.zeros(1, 4, 2, 2))
    assert image.shape == (1, 16, 16, 3) and image.min() >= 0 and image.max() <= 1
    assert out.vae.encode(image).shape == (1, 4, 2, 2)


def test_replaced_checkpoint_is_reloaded(tiny_folders):
    MODEL_CACHE.free()
    path = tiny_folders / "models" / "checkpoints" / "swap.safetensors"
    write_checkpoint(build_tiny("sd1", 5), path)
    spec = REGISTRY.get("CheckpointLoaderSimple")
    before = spec.fingerprint({"ckpt_name": "swap.safetensors"})
    first = loader_nodes.checkpoint_loader_simple("swap.safetensors").model
    tmp = path.with_suffix(".tmp")
    write_checkpoint(build_tiny("sd1", 6), tmp)
    os.replace(tmp, path)
    assert spec.fingerprint({"ckpt_name": "swap.safetensors"}) != before
    second = loader_nodes.checkpoint_loader_simple("swap.safetensors").model
    assert second is not first
    assert not torch.equal(second.unet.conv_in.weight, first.unet.conv_in.weight)


def test_lora_and_controlnet_nodes(tiny_folders):
    out = loader_nodes.checkpoint_loader_simple("tiny_sd1.safetensors")
    same = loader_nodes.lora_loader(out.model, out.clip, "tiny_lora.safetensors", 0.0, 0.0)
    assert same.model is out.model and same.clip is out.clip
    patched = loader_nodes.lora_loader(out.model, out.clip, "tiny_lora.safetensors", 0.8, 0.3)
    assert patched.model.patches and patched.clip.patches["clip_l"]
    assert not out.model.patches  # the input value is not modified
    only = loader_nodes.lora_loader_model_only(out.model, "tiny_lora.safetensors", 1.0)
    assert only.model.patches
    cn = loader_nodes.controlnet_loader("tiny_cn.safetensors").control_net
    assert cn.family == "sd1"


def test_clip_set_last_layer_and_conditioning_nodes(tiny_folders):
    clip = loader_nodes.checkpoint_loader_simple("tiny_sd1.safetensors").clip
    a = cond_nodes.clip_text_encode("a cat", clip=clip).conditioning
    skipped = cond_nodes.clip_text_encode("a cat", clip=cond_nodes.clip_set_last_layer(clip, -2).clip).conditioning
    assert not torch.equal(a[0].cross_attn, skipped[0].cross_attn)
    b = cond_nodes.clip_text_encode("a dog", clip=clip).conditioning
    assert len(cond_nodes.conditioning_combine(a, b).conditioning) == 2
    concat = cond_nodes.conditioning_concat(a, b).conditioning
    assert torch.equal(concat[0].cross_attn, torch.cat([a[0].cross_attn, b[0].cross_attn], 1))
    area = cond_nodes.conditioning_set_area(a, 128, 64, 8, 16, 0.5).conditioning[0]
    assert area.area == (64, 128, 16, 8) and area.strength == 0.5
    zero = cond_nodes.conditioning_zero_out(a).conditioning[0]
    assert not zero.cross_attn.any() and not zero.pooled_output.any()


def test_sdxl_text_encode_nodes(tiny_sdxl_checkpoint):
    from diffusion.models.checkpoint import load_checkpoint

    _, clip, _ = load_checkpoint(tiny_sdxl_checkpoint, device=torch.device("cpu"))
    entry = cond_nodes.clip_text_encode_sdxl(clip, 1024, 768, 0, 8, 1024, 768, "a cat", "a dog").conditioning[0]
    assert entry.cross_attn.shape == (1, 77, 64) and entry.pooled_output.shape == (1, 32)
    assert entry.sdxl_time_ids == (768, 1024, 8, 0, 768, 1024)
    g_only = clip.encode_texts({"clip_l": "a dog", "clip_g": "a cat"})
    assert torch.equal(entry.cross_attn, g_only.cross_attn)
    # a long G prompt and a short L prompt: L is padded with empty chunks
    long = cond_nodes.clip_text_encode_sdxl(clip, text_g=" ".join(["cat"] * 80), text_l="dog").conditioning[0]
    assert long.cross_attn.shape == (1, 154, 64)
    refiner_like = cond_nodes.clip_text_encode_sdxl_refiner(2.5, 512, 512, "x", clip=clip).conditioning[0]
    assert refiner_like.sdxl_time_ids == (512, 512, 0, 0, 2.5)
