"""CLIP vision, unCLIP and style models on tiny random models saved in the key layouts ComfyUI loads, checked
against transformers' own forward pass and closed forms."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection, SiglipVisionConfig, SiglipVisionModel

from diffusion.types import ConditioningEntry
from diffusion.vision.clip_vision import CLIP_MEAN, CLIP_STD, ClipVisionFileError, preprocess, vision_config
from diffusion.vision.clip_vision import ClipVisionOutput as Output
from diffusion.vision.style_model import StyleModelFileError, load_style_model_state
from folders import Folders
from nodes.clip_vision import clip_vision_encode, clip_vision_loader, unclip_conditioning
from nodes.style_models import style_model_apply, style_model_loader

SIZE = 32


def tiny_clip() -> CLIPVisionModelWithProjection:
    torch.manual_seed(0)
    config = CLIPVisionConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=1,
                              image_size=SIZE, patch_size=8, projection_dim=24, hidden_act="gelu")
    return CLIPVisionModelWithProjection(config).eval()


def save(state: dict[str, torch.Tensor], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({key: value.contiguous() for key, value in state.items()}, str(path))


def test_clip_vision_loader_and_encode_match_transformers(base: Folders) -> None:
    model = tiny_clip()
    save(model.state_dict(), base.base_directory / "models" / "clip_vision" / "tiny_vit.safetensors")
    vision = clip_vision_loader("tiny_vit.safetensors").clip_vision
    image = torch.rand(2, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(1))
    out = clip_vision_encode(vision, image, "center").clip_vision_output
    # at the tower's size preprocessing is 8-bit rounding and CLIP's normalisation only
    pixels = ((image * 255).round() / 255).movedim(-1, 1)
    pixels = (pixels - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = model(pixel_values=pixels, output_hidden_states=True)
    assert torch.allclose(out.image_embeds, expected.image_embeds, atol=1e-5)
    assert torch.allclose(out.last_hidden_state, expected.last_hidden_state, atol=1e-5)
    assert torch.allclose(out.penultimate_hidden_states, expected.hidden_states[-2], atol=1e-5)


def test_siglip_tower_with_the_vision_model_prefix(base: Folders) -> None:
    torch.manual_seed(2)
    config = SiglipVisionConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=1,
                                image_size=SIZE, patch_size=8)
    model = SiglipVisionModel(config).eval()
    # ComfyUI's sigclip files name every tensor vision_model.* (transformers 4's layout)
    state = {key if key.startswith("vision_model.") else f"vision_model.{key}": value
             for key, value in model.state_dict().items()}
    save(state, base.base_directory / "models" / "clip_vision" / "tiny_siglip.safetensors")
    vision = clip_vision_loader("tiny_siglip.safetensors").clip_vision
    image = torch.rand(1, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(3))
    out = clip_vision_encode(vision, image, "none").clip_vision_output
    pixels = (((image * 255).round() / 255).movedim(-1, 1) - 0.5) / 0.5
    with torch.no_grad():
        expected = model(pixel_values=pixels).last_hidden_state
    assert out.last_hidden_state.shape == (1, 16, 64)
    assert torch.allclose(out.last_hidden_state, expected, atol=1e-5)


def test_preprocess_scales_the_short_side_and_crops_the_centre() -> None:
    image = torch.rand(1, 40, 60, 3, generator=torch.Generator().manual_seed(4))
    cropped = preprocess(image, SIZE, (0, 0, 0), (1, 1, 1), crop=True)
    scaled = torch.nn.functional.interpolate(image.movedim(-1, 1), size=(32, 48), mode="bicubic", antialias=True)
    assert torch.allclose(cropped, (scaled[:, :, :, 8:40].clip(0, 1) * 255).round() / 255, atol=1e-6)
    squashed = preprocess(image, SIZE, (0, 0, 0), (1, 1, 1), crop=False)
    assert squashed.shape == (1, 3, SIZE, SIZE)


def test_config_of_the_published_towers_from_shapes() -> None:
    def shapes(width: int, layers: int, positions: int, projection: int) -> dict[str, torch.Tensor]:
        state = {
            "vision_model.embeddings.patch_embedding.weight": torch.empty(width, 3, 14, 14, device="meta"),
            "vision_model.embeddings.position_embedding.weight": torch.empty(positions, width, device="meta"),
            "vision_model.embeddings.class_embedding": torch.empty(width, device="meta"),
            "vision_model.encoder.layers.0.mlp.fc1.weight": torch.empty(width * 4, width, device="meta"),
            "visual_projection.weight": torch.empty(projection, width, device="meta"),
        }
        state[f"vision_model.encoder.layers.{layers - 1}.layer_norm1.weight"] = torch.empty(width, device="meta")
        return state

    vit_l = vision_config(shapes(1024, 24, 257, 768))
    assert (vit_l.num_attention_heads, vit_l.hidden_act, vit_l.image_size, vit_l.projection_dim) == (
        16, "quick_gelu", 224, 768)
    big_g = vision_config(shapes(1664, 48, 257, 1280))
    assert (big_g.num_attention_heads, big_g.hidden_act, big_g.num_hidden_layers) == (16, "gelu", 48)


def test_loader_refuses_other_files(base: Folders) -> None:
    save({"visual.transformer.resblocks.0.attn.in_proj_weight": torch.zeros(3, 3)},
         base.base_directory / "models" / "clip_vision" / "openclip.safetensors")
    with pytest.raises(ClipVisionFileError, match="OpenCLIP layout"):
        clip_vision_loader("openclip.safetensors")
    with pytest.raises(StyleModelFileError, match="not a style model"):
        load_style_model_state({"x": torch.zeros(1)})


def entry(tokens: int = 77, width: int = 16) -> ConditioningEntry:
    return ConditioningEntry(cross_attn=torch.randn(1, tokens, width), extras={"keep": 1})


def clip_output(tokens: int = 5, width: int = 12) -> Output:
    state = torch.randn(2, tokens, width, generator=torch.Generator().manual_seed(5))
    return Output(state, torch.randn(2, 8), state)


def test_unclip_conditioning_attaches_embeddings() -> None:
    conditioning = [entry(), entry()]
    output = clip_output()
    once = unclip_conditioning(conditioning, output, 0.7, 0.1).conditioning
    twice = unclip_conditioning(once, output, 1.5, 0.0).conditioning
    assert [len(e.extras["unclip_conditioning"]) for e in twice] == [2, 2] and twice[0].extras["keep"] == 1
    assert twice[1].extras["unclip_conditioning"][1] == {
        "clip_vision_output": output, "strength": 1.5, "noise_augmentation": 0.0}
    assert "unclip_conditioning" not in conditioning[0].extras  # inputs are never mutated
    assert unclip_conditioning(conditioning, output, 0.0, 0.5).conditioning is conditioning


def test_redux_style_model_appends_scaled_tokens(base: Folders) -> None:
    generator = torch.Generator().manual_seed(6)
    state = {"redux_up.weight": torch.randn(48, 12, generator=generator), "redux_up.bias": torch.randn(48),
             "redux_down.weight": torch.randn(16, 48, generator=generator), "redux_down.bias": torch.randn(16)}
    save(state, base.base_directory / "models" / "style_models" / "tiny_redux.safetensors")
    style = style_model_loader("tiny_redux.safetensors").style_model
    output = clip_output()
    conditioning = [entry()]
    out = style_model_apply(conditioning, style, output, 0.5, "multiply").conditioning[0]
    hidden = output.last_hidden_state.reshape(-1, 12)
    up = torch.nn.functional.silu(hidden @ state["redux_up.weight"].T + state["redux_up.bias"])
    tokens = (up @ state["redux_down.weight"].T + state["redux_down.bias"]) * 0.5
    assert out.cross_attn.shape == (1, 77 + 10, 16)
    assert torch.equal(out.cross_attn[:, :77], conditioning[0].cross_attn)
    assert torch.allclose(out.cross_attn[0, 77:], tokens, atol=1e-5)
    unscaled = style_model_apply(conditioning, style, output, 1.0, "attn_bias").conditioning[0]
    assert torch.allclose(unscaled.cross_attn[0, 77:], tokens * 2, atol=1e-5)
    with pytest.raises(ValueError, match=r"attn_bias' with strength 0\.5 needs attention masks"):
        style_model_apply(conditioning, style, output, 0.5, "attn_bias")
    with pytest.raises(ValueError, match="tokens of width 16 and the conditioning has width 32"):
        style_model_apply([entry(width=32)], style, output, 1.0, "multiply")


def test_t2i_style_adapter_against_explicit_attention() -> None:
    torch.manual_seed(7)
    width, heads, count = 16, 8, 2
    from diffusion.vision.style_model import StyleAdapter

    reference = StyleAdapter(width=width, context_dim=12, heads=heads, layers=2, num_tokens=count)
    for parameter in reference.parameters():
        parameter.data.normal_(0, 0.3)
    state = reference.state_dict()
    style = load_style_model_state(dict(state), device=torch.device("cpu"), dtype=torch.float32)
    tokens = torch.randn(1, 5, width)
    got = style.tokens(tokens)

    def layer_norm(x: torch.Tensor, prefix: str) -> torch.Tensor:
        return torch.nn.functional.layer_norm(x, (width,), state[f"{prefix}.weight"], state[f"{prefix}.bias"])

    x = layer_norm(torch.cat([tokens, state["style_embedding"]], dim=1), "ln_pre")[0]
    for index in range(2):
        p = f"transformer_layes.{index}"
        h = layer_norm(x, f"{p}.ln_1")
        q, k, v = (h @ state[f"{p}.attn.in_proj_weight"].T + state[f"{p}.attn.in_proj_bias"]).chunk(3, dim=-1)
        size = width // heads
        heads_out = []
        for head in range(heads):
            part = slice(head * size, (head + 1) * size)
            weights = torch.softmax(q[:, part] @ k[:, part].T / math.sqrt(size), dim=-1)
            heads_out.append(weights @ v[:, part])
        x = x + torch.cat(heads_out, -1) @ state[f"{p}.attn.out_proj.weight"].T + state[f"{p}.attn.out_proj.bias"]
        h = layer_norm(x, f"{p}.ln_2") @ state[f"{p}.mlp.c_fc.weight"].T + state[f"{p}.mlp.c_fc.bias"]
        x = x + (h * torch.sigmoid(1.702 * h)) @ state[f"{p}.mlp.c_proj.weight"].T + state[f"{p}.mlp.c_proj.bias"]
    expected = layer_norm(x[-count:], "ln_post") @ state["proj"]
    assert got.shape == (1, count, 12)
    assert torch.allclose(got[0], expected, atol=1e-5)
