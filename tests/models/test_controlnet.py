"""ControlNet files in the three layouts load exactly, for SD1.x and SDXL."""

import pytest
import torch

from diffusion.models.architectures import UnknownModelLayout
from diffusion.models.controlnet import load_controlnet
from tests.fixtures.tiny_models import build_tiny_controlnet, write_controlnet

CPU = torch.device("cpu")


@pytest.mark.parametrize("layout", ["ldm", "ldm_bare", "diffusers"])
def test_sd1_controlnet_layouts_load_exactly(tiny_sd1_controlnet_model, tmp_path, layout):
    path = write_controlnet(tiny_sd1_controlnet_model, tmp_path / f"cn_{layout}.safetensors", layout=layout)
    loaded = load_controlnet(path, device=CPU)
    assert loaded.family == "sd1"
    ours, source = loaded.module.state_dict(), tiny_sd1_controlnet_model.module.state_dict()
    assert ours.keys() == source.keys()
    assert all(torch.equal(ours[k], source[k]) for k in source)


def test_sd1_controlnet_output_matches(tiny_sd1_controlnet_model, tiny_sd1_controlnet):
    loaded = load_controlnet(tiny_sd1_controlnet, device=CPU)
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    ctx = torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(1))
    hint = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours = loaded.module(x, 5, encoder_hidden_states=ctx, controlnet_cond=hint, return_dict=False)
        ref = tiny_sd1_controlnet_model.module(x, 5, encoder_hidden_states=ctx, controlnet_cond=hint, return_dict=False)
    for a, b in zip([*ours[0], ours[1]], [*ref[0], ref[1]], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_sdxl_controlnet_loads_exactly(tiny_sdxl, tmp_path):
    cn = build_tiny_controlnet(tiny_sdxl)
    path = write_controlnet(cn, tmp_path / "cn_xl.safetensors")
    loaded = load_controlnet(path, device=CPU, pooled_dim=32)
    assert loaded.family == "sdxl"
    ours, source = loaded.module.state_dict(), cn.module.state_dict()
    assert ours.keys() == source.keys() and all(torch.equal(ours[k], source[k]) for k in source)


def test_checkpoint_is_not_a_controlnet(tiny_sd1_checkpoint):
    with pytest.raises(UnknownModelLayout, match="not a ControlNet"):
        load_controlnet(tiny_sd1_checkpoint, device=CPU)


def test_sd2_controlnet_loads_exactly(tiny_sd2_v, tmp_path):
    cn = build_tiny_controlnet(tiny_sd2_v)
    loaded = load_controlnet(write_controlnet(cn, tmp_path / "cn_sd2.safetensors"), device=CPU)
    assert loaded.family == "sd2" and loaded.module.config.upcast_attention
    ours, source = loaded.module.state_dict(), cn.module.state_dict()
    assert ours.keys() == source.keys() and all(torch.equal(ours[k], source[k]) for k in source)
