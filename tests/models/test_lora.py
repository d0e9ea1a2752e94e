"""LoRA: strength s changes exactly the targeted weights by s·ΔW; strength 0 is the base; base untouched."""

import pytest
import torch

from diffusion.models.checkpoint import load_checkpoint
from diffusion.models.lora import LoraError, apply_lora
from tests.fixtures.tiny_models import write_lora

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def sd1(tiny_sd1_checkpoint):
    return load_checkpoint(tiny_sd1_checkpoint, device=CPU)


def expected_delta(factors):
    return factors["up"] @ factors["down"] * (factors["alpha"] / factors["down"].shape[0])


def snapshot(module):
    return {k: (v.clone(), v.data_ptr()) for k, v in module.state_dict().items()}


@pytest.mark.parametrize(("layout", "strength"), [("kohya", 1.0), ("kohya", -2.0), ("peft", 0.5)])
def test_unet_lora_changes_exactly_the_targets(sd1, tiny_sd1_lora_factors, tmp_path, layout, strength):
    model, clip, _ = sd1
    path = write_lora(tiny_sd1_lora_factors, tmp_path / f"l_{layout}.safetensors", layout=layout)
    before = snapshot(model.unet)
    patched_model, _ = apply_lora(model, clip, path, strength, 0.0)
    targets = {n: f for t, f in tiny_sd1_lora_factors.items() for c, n in [t.split(":")] if c == "unet"}
    with patched_model.unet_for_sampling() as unet:
        during = {k: v.clone() for k, v in unet.state_dict().items()}
    for key, (base, _) in before.items():
        module = key.removesuffix(".weight")
        if key.endswith(".weight") and module in targets:
            torch.testing.assert_close(
                during[key] - base, strength * expected_delta(targets[module]), rtol=1e-5, atol=1e-6
            )
        else:
            assert torch.equal(during[key], base), key
    after = snapshot(model.unet)
    assert all(torch.equal(after[k][0], before[k][0]) and after[k][1] == before[k][1] for k in before)


def test_strength_zero_is_base_and_clip_strength_is_separate(sd1, tiny_sd1_lora, tiny_sd1_lora_factors):
    model, clip, _ = sd1
    base_cond = clip.encode("a photo of a cat").cross_attn
    m0, c0 = apply_lora(model, clip, tiny_sd1_lora, 0.0, 0.0)
    with m0.unet_for_sampling() as unet:
        assert all(
            torch.equal(a, b) for a, b in zip(unet.state_dict().values(), model.unet.state_dict().values(), strict=True)
        )
    assert torch.equal(c0.encode("a photo of a cat").cross_attn, base_cond)
    _, c1 = apply_lora(model, clip, tiny_sd1_lora, 0.0, 1.0)
    assert not torch.equal(c1.encode("a photo of a cat").cross_attn, base_cond)
    # the text-encoder patch targets the q/v projections by s·ΔW and leaves the base CLIP untouched
    encoder = clip.encoders[0].module
    name = "encoder.layers.0.self_attn.q_proj.weight"
    (patch,) = [p for p in c1.patches["clip_l"] if p.name == name]
    factors = tiny_sd1_lora_factors["te:encoder.layers.0.self_attn.q_proj"]
    torch.testing.assert_close(patch.delta.delta(encoder.get_parameter(name).shape), expected_delta(factors))
    assert torch.equal(clip.encode("a photo of a cat").cross_attn, base_cond)


def test_lora_for_another_model_is_refused(sd1, tmp_path):
    from safetensors.torch import save_file

    model, clip, _ = sd1
    save_file(
        {
            "lora_unet_nothing_here.lora_up.weight": torch.zeros(4, 2),
            "lora_unet_nothing_here.lora_down.weight": torch.zeros(2, 4),
        },
        str(tmp_path / "x.safetensors"),
    )
    with pytest.raises(LoraError, match="none of its 1 layers matches"):
        apply_lora(model, clip, tmp_path / "x.safetensors", 1.0, 1.0)


def test_ldm_named_kohya_keys_and_sdxl_text_encoders(tmp_path, tiny_sdxl, tiny_sdxl_checkpoint):
    from safetensors.torch import save_file

    from diffusion.models.ldm_keys import unet_key_to_ldm

    model, clip, _ = load_checkpoint(tiny_sdxl_checkpoint, device=CPU)
    g = torch.Generator().manual_seed(9)
    unet_target = "down_blocks.1.attentions.0.proj_in"
    ldm = unet_key_to_ldm(unet_target + ".weight", tiny_sdxl.unet_config).removesuffix(".weight")
    weight = dict(model.unet.named_parameters())[unet_target + ".weight"]
    te2_target = "text_model.encoder.layers.1.mlp.fc1"
    te2_weight = clip.encoder("clip_g").module.get_parameter(te2_target + ".weight")
    tensors = {
        f"lora_unet_{ldm.replace('.', '_')}.lora_up.weight": torch.randn(weight.shape[0], 2, generator=g),
        f"lora_unet_{ldm.replace('.', '_')}.lora_down.weight": torch.randn(2, weight.shape[1], generator=g),
        f"lora_te2_{te2_target.replace('.', '_')}.lora_up.weight": torch.randn(te2_weight.shape[0], 2, generator=g),
        f"lora_te2_{te2_target.replace('.', '_')}.lora_down.weight": torch.randn(2, te2_weight.shape[1], generator=g),
    }
    save_file(tensors, str(tmp_path / "xl.safetensors"))
    patched_model, patched_clip = apply_lora(model, clip, tmp_path / "xl.safetensors", 1.0, 0.5)
    assert [p.name for p in patched_model.patches] == [unet_target + ".weight"]
    assert [p.name for p in patched_clip.patches["clip_g"]] == [te2_target + ".weight"]
    assert patched_clip.patches.get("clip_l", ()) == ()
    before = clip.encode("a cat")
    after = patched_clip.encode("a cat")
    assert torch.equal(after.cross_attn[..., :32], before.cross_attn[..., :32])  # CLIP-L half untouched
    assert not torch.equal(after.cross_attn[..., 32:], before.cross_attn[..., 32:])


def test_unsupported_lora_variants_are_refused(sd1, tmp_path):
    from safetensors.torch import save_file

    model, clip, _ = sd1
    stem = "lora_unet_down_blocks_0_attentions_0_proj_in"
    save_file({f"{stem}.lora_up.weight": torch.zeros(32, 2), f"{stem}.lora_down.weight": torch.zeros(2, 32),
               f"{stem}.dora_scale": torch.ones(1, 32)}, str(tmp_path / "dora.safetensors"))  # fmt: skip
    with pytest.raises(LoraError, match="DoRA"):
        apply_lora(model, clip, tmp_path / "dora.safetensors", 1.0, 1.0)
