"""The sampling-family nodes: ComfyUI's input names, order and defaults, and their behaviour."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from diffusers import AutoencoderKL
from PIL import Image
from sampling_fixtures import TinyModel, text_cond, tiny_controlnet, tiny_unet

from diffusion.sampling.ksampler import sample
from diffusion.vae import Vae
from graph import runtime
from graph.registry import REGISTRY
from nodes.controlnet_apply import controlnet_apply, controlnet_apply_advanced
from nodes.latent import (
    empty_latent_image,
    latent_from_batch,
    latent_upscale,
    latent_upscale_by,
    repeat_latent_batch,
    set_latent_noise_mask,
    vae_decode,
    vae_encode,
    vae_encode_for_inpaint,
)
from nodes.sampling import ksampler, ksampler_advanced

SEED_MAX = 2**64 - 1
#: (node, [(input, default, min, max)]) in ComfyUI's order (comfyui-compat.md §4); None = socket or no limit.
EXPECTED: dict[str, list[tuple[str, Any, Any, Any]]] = {
    "KSampler": [("model", None, None, None), ("seed", 0, 0, SEED_MAX), ("steps", 20, 1, 10000),
                 ("cfg", 8.0, 0.0, 100.0), ("sampler_name", "euler", None, None),
                 ("scheduler", "simple", None, None), ("positive", None, None, None),
                 ("negative", None, None, None), ("latent_image", None, None, None), ("denoise", 1.0, 0.0, 1.0)],
    "KSamplerAdvanced": [("model", None, None, None), ("add_noise", "enable", None, None),
                         ("noise_seed", 0, 0, SEED_MAX), ("steps", 20, 1, 10000), ("cfg", 8.0, 0.0, 100.0),
                         ("sampler_name", "euler", None, None), ("scheduler", "simple", None, None),
                         ("positive", None, None, None), ("negative", None, None, None),
                         ("latent_image", None, None, None), ("start_at_step", 0, 0, 10000),
                         ("end_at_step", 10000, 0, 10000), ("return_with_leftover_noise", "disable", None, None)],
    "EmptyLatentImage": [("width", 512, 16, 16384), ("height", 512, 16, 16384), ("batch_size", 1, 1, 4096)],
    "VAEDecode": [("samples", None, None, None), ("vae", None, None, None)],
    "VAEEncode": [("pixels", None, None, None), ("vae", None, None, None)],
    "VAEEncodeForInpaint": [("pixels", None, None, None), ("vae", None, None, None), ("mask", None, None, None),
                            ("grow_mask_by", 6, 0, 64)],
    "SetLatentNoiseMask": [("samples", None, None, None), ("mask", None, None, None)],
    "ControlNetApply": [("conditioning", None, None, None), ("control_net", None, None, None),
                        ("image", None, None, None), ("strength", 1.0, 0.0, 10.0)],
    "ControlNetApplyAdvanced": [("positive", None, None, None), ("negative", None, None, None),
                                ("control_net", None, None, None), ("image", None, None, None),
                                ("strength", 1.0, 0.0, 10.0), ("start_percent", 0.0, 0.0, 1.0),
                                ("end_percent", 1.0, 0.0, 1.0), ("vae", None, None, None)],
    "LatentUpscale": [("samples", None, None, None), ("upscale_method", "nearest-exact", None, None),
                      ("width", 512, 0, 16384), ("height", 512, 0, 16384), ("crop", "disabled", None, None)],
    "LatentUpscaleBy": [("samples", None, None, None), ("upscale_method", "nearest-exact", None, None),
                        ("scale_by", 1.5, 0.01, 8.0)],
    "LatentFromBatch": [("samples", None, None, None), ("batch_index", 0, 0, 63), ("length", 1, 1, 64)],
    "RepeatLatentBatch": [("samples", None, None, None), ("amount", 1, 1, 64)],
}


@pytest.mark.parametrize("node_id", sorted(EXPECTED))
def test_node_schema_matches_comfyui(node_id: str) -> None:
    spec = REGISTRY.get(node_id)
    assert spec is not None
    got = []
    for inp in spec.inputs:
        default = inp.default if inp.has_default and not inp.is_socket else None
        lo = inp.range.min if inp.range else None
        hi = inp.range.max if inp.range else None
        got.append((inp.name, default, lo, hi))
    assert got == EXPECTED[node_id]
    if node_id == "ControlNetApplyAdvanced":
        assert spec.input("vae").section == "optional"
    if node_id == "LatentUpscale":
        assert spec.input("upscale_method").options == ("nearest-exact", "bilinear", "area", "bicubic", "bislerp")


def _latent(batch: int = 1, size: int = 8, **extra: Any) -> dict:
    return {"samples": torch.randn(batch, 4, size, size, generator=torch.Generator().manual_seed(0)), **extra}


def test_empty_latent_image() -> None:
    out = empty_latent_image(width=96, height=64, batch_size=3).latent
    assert out["samples"].shape == (3, 4, 8, 12) and not out["samples"].any()


def test_latent_upscale_sizes_and_methods() -> None:
    lat = _latent(size=8)
    assert latent_upscale(lat, "bilinear", 128, 96, "disabled").latent["samples"].shape == (1, 4, 12, 16)
    assert latent_upscale(lat, "nearest-exact", 0, 128, "disabled").latent["samples"].shape == (1, 4, 16, 16)
    assert latent_upscale(lat, "area", 16, 0, "disabled").latent["samples"].shape == (1, 4, 8, 8)  # >= 64 px
    assert latent_upscale(lat, "nearest-exact", 0, 0, "disabled").latent is lat
    crop = latent_upscale(lat, "nearest-exact", 128, 64, "center").latent["samples"]
    torch.testing.assert_close(crop, torch.nn.functional.interpolate(lat["samples"][:, :, 2:6, :], size=(8, 16),
                                                                     mode="nearest-exact"))
    by = latent_upscale_by(lat, "bicubic", 1.5).latent["samples"]
    assert by.shape == (1, 4, 12, 12)


def test_bislerp_keeps_norms_and_identity() -> None:
    lat = _latent(size=8)
    same = latent_upscale_by(lat, "bislerp", 1.0).latent["samples"]
    torch.testing.assert_close(same, lat["samples"], rtol=1e-5, atol=1e-5)
    up = latent_upscale_by(lat, "bislerp", 2.0).latent["samples"]
    norms_in = lat["samples"].norm(dim=1)
    norms_out = up.norm(dim=1)
    assert up.shape == (1, 4, 16, 16) and float(norms_out.max()) <= float(norms_in.max()) * 1.0001


def test_latent_batch_nodes_keep_noise_indices() -> None:
    lat = _latent(batch=4)
    picked = latent_from_batch(lat, batch_index=1, length=2).latent
    assert picked["batch_index"] == [1, 2] and torch.equal(picked["samples"], lat["samples"][1:3])
    clipped = latent_from_batch(lat, batch_index=10, length=5).latent
    assert clipped["batch_index"] == [3]
    repeated = repeat_latent_batch(picked, amount=3).latent
    assert repeated["batch_index"] == [1, 2, 3, 4, 5, 6] and repeated["samples"].shape[0] == 6
    masked = set_latent_noise_mask(lat, torch.ones(4, 64, 64)).latent
    assert masked["noise_mask"].shape == (4, 1, 64, 64)
    assert latent_from_batch(masked, 2, 1).latent["noise_mask"].shape == (1, 1, 64, 64)


def test_batch_index_reproduces_one_image_of_a_batch() -> None:
    model = TinyModel(tiny_unet())
    args = {"seed": 9, "steps": 3, "cfg": 4.0, "sampler_name": "euler", "scheduler": "normal",
            "positive": [text_cond(1)], "negative": [text_cond(2)]}
    batch = sample(model, latent={"samples": torch.zeros(3, 4, 8, 8)}, **args)["samples"]
    one = latent_from_batch({"samples": torch.zeros(3, 4, 8, 8)}, batch_index=2, length=1).latent
    alone = sample(model, latent=one, **args)["samples"]
    # Same noise; only batch-size-dependent kernel rounding differs.
    assert float((alone - batch[2:3]).abs().max() / batch[2:3].std()) < 1e-4


@pytest.fixture(scope="module")
def vae() -> Vae:
    torch.manual_seed(0)
    module = AutoencoderKL(block_out_channels=(32, 32, 32, 32), down_block_types=("DownEncoderBlock2D",) * 4,
                           up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, norm_num_groups=32,
                           layers_per_block=1).eval()
    return Vae(module=module, latent_channels=4)


def test_vae_nodes_round_trip_shapes(vae: Vae) -> None:
    image = torch.rand(2, 64, 48, 3)
    latent = vae_encode(image, vae).latent
    assert latent["samples"].shape == (2, 4, 8, 6)
    decoded = vae_decode(latent, vae).image
    assert decoded.shape == (2, 64, 48, 3) and float(decoded.min()) >= 0 and float(decoded.max()) <= 1


def test_vae_encode_for_inpaint_crops_greys_and_grows(vae: Vae) -> None:
    image = torch.rand(1, 70, 66, 3)
    mask = torch.zeros(70, 66)
    mask[30:40, 30:40] = 1.0
    out = vae_encode_for_inpaint(image, vae, mask, grow_mask_by=6).latent
    assert out["samples"].shape == (1, 4, 8, 8)
    noise_mask = out["noise_mask"]
    assert noise_mask.shape == (1, 1, 64, 64)
    assert float(noise_mask.sum()) > 100  # 10x10 grown by the 6x6 kernel
    assert set(noise_mask.unique().tolist()) <= {0.0, 1.0}
    none = vae_encode_for_inpaint(image, vae, mask, grow_mask_by=0).latent["noise_mask"]
    assert float(none.sum()) == 100.0
    # Greying: the masked pixels do not matter to the encoding.
    other = image.clone()
    other[:, 30:40, 30:40] = torch.rand(1, 10, 10, 3)  # the masked pixels (the mask is cropped with the image)
    again = vae_encode_for_inpaint(other, vae, mask, grow_mask_by=6).latent["samples"]
    torch.testing.assert_close(again, out["samples"])


def test_bad_inputs_name_node_and_input(vae: Vae) -> None:
    with pytest.raises(ValueError, match="VAEDecode: input 'samples' expected a LATENT"):
        vae_decode({"samples": torch.zeros(4, 8, 8)}, vae)
    with pytest.raises(ValueError, match="SetLatentNoiseMask: input 'mask'"):
        set_latent_noise_mask(_latent(), torch.zeros(1, 1, 1, 8, 8))
    with pytest.raises(ValueError, match="ControlNetApplyAdvanced: input 'image'"):
        controlnet_apply_advanced([text_cond(1)], [text_cond(2)], object(), torch.zeros(1, 3, 64, 64))


class _Recorder:
    def __init__(self, stop_after: int | None = None) -> None:
        self.progress_calls: list[tuple[int, int, Any]] = []
        self.checks = 0
        self.stop_after = stop_after

    def progress(self, value: int, total: int, preview: Any | None = None) -> None:
        self.progress_calls.append((value, total, preview))

    def check_interrupt(self) -> None:
        self.checks += 1
        if self.stop_after is not None and self.checks > self.stop_after:
            raise runtime.Interrupted


def test_ksampler_node_reports_progress_with_previews() -> None:
    model = TinyModel(tiny_unet())
    recorder = _Recorder()
    kwargs = {"model": model, "seed": 5, "steps": 3, "cfg": 6.0, "sampler_name": "dpmpp_2m",
              "scheduler": "karras", "positive": [text_cond(1)], "negative": [text_cond(2)],
              "latent_image": {"samples": torch.zeros(1, 4, 8, 8)}}
    with runtime.installed(recorder):
        out = ksampler(**kwargs, denoise=1.0).latent
    assert [(v, t) for v, t, _ in recorder.progress_calls] == [(1, 3), (2, 3), (3, 3)]
    assert all(isinstance(p, Image.Image) and p.size == (64, 64) for _, _, p in recorder.progress_calls)
    direct = sample(model, seed=5, steps=3, cfg=6.0, sampler_name="dpmpp_2m", scheduler="karras",
                    positive=[text_cond(1)], negative=[text_cond(2)], latent={"samples": torch.zeros(1, 4, 8, 8)})
    assert torch.equal(out["samples"], direct["samples"])
    adv = ksampler_advanced(model=model, add_noise="enable", noise_seed=5, steps=3, cfg=6.0,
                            sampler_name="dpmpp_2m", scheduler="karras", positive=[text_cond(1)],
                            negative=[text_cond(2)], latent_image={"samples": torch.zeros(1, 4, 8, 8)},
                            start_at_step=0, end_at_step=10000, return_with_leftover_noise="disable").latent
    assert torch.equal(adv["samples"], direct["samples"])


def test_ksampler_node_stops_on_interrupt() -> None:
    model = TinyModel(tiny_unet())
    with runtime.installed(_Recorder(stop_after=2)), pytest.raises(runtime.Interrupted):
        ksampler(model=model, seed=1, steps=20, cfg=6.0, sampler_name="euler", scheduler="normal",
                 positive=[text_cond(1)], negative=[text_cond(2)],
                 latent_image={"samples": torch.zeros(1, 4, 8, 8)}, denoise=1.0)
    assert model.calls <= 3


def test_controlnet_apply_nodes_chain_and_share() -> None:
    unet = tiny_unet()
    net = tiny_controlnet(unet)
    image = torch.rand(1, 64, 64, 3)
    pos, neg = [text_cond(1)], [text_cond(2)]
    assert controlnet_apply_advanced(pos, neg, net, image, strength=0.0).positive is pos
    first = controlnet_apply_advanced(pos, neg, net, image, 0.8, 0.1, 0.9)
    assert first.positive[0].control is first.negative[0].control  # one hint: cond and uncond batch together
    hint = first.positive[0].control
    assert (hint.strength, hint.start_percent, hint.end_percent, hint.previous) == (0.8, 0.1, 0.9, None)
    second = controlnet_apply_advanced(first.positive, first.negative, net, image, 0.5)
    assert second.positive[0].control.previous is hint
    assert len(list(second.positive[0].control.chain())) == 2

    # The old node marks its hint for the negative too: one batched UNet call per step, with the hint.
    old = controlnet_apply(pos, net, image, 1.0).conditioning
    assert old[0].extras["control_apply_to_uncond"] is True
    model = TinyModel(unet)
    args = {"seed": 3, "steps": 2, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal",
            "latent": {"samples": torch.zeros(1, 4, 8, 8)}}
    via_old = sample(model, positive=old, negative=neg, **args)["samples"]
    assert model.calls == 2
    shared = controlnet_apply_advanced(pos, neg, net, image, 1.0)
    via_adv = sample(model, positive=shared.positive, negative=shared.negative, **args)["samples"]
    torch.testing.assert_close(via_old, via_adv)
