"""SD3 from separate files, as ComfyUI's SD3.5 templates load it: UNETLoader (models/diffusion_models or
models/unet), TripleCLIPLoader / DualCLIPLoader / CLIPLoader (models/text_encoders or models/clip), VAELoader
(16-channel VAE). Results must equal the single-file checkpoint's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import folders
from diffusion.models.checkpoint import load_checkpoint
from diffusion.models.tiny_sd3 import TinySd3, write_tiny_sd3
from diffusion.sampling.ksampler import sample
from nodes import text_encoder_loaders as tl
from nodes.conditioning import conditioning_zero_out
from nodes.loaders import vae_loader

CPU = torch.device("cpu")


def _save(state: dict[str, torch.Tensor], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))


def _part(state: dict[str, torch.Tensor], prefix: str, new_prefix: str = "") -> dict[str, torch.Tensor]:
    return {new_prefix + k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


@pytest.fixture(scope="module")
def sd3_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, TinySd3]]:
    base = tmp_path_factory.mktemp("sd3_files")
    tiny = write_tiny_sd3(base / "models" / "checkpoints" / "sd3.safetensors")
    s = tiny.state
    models = base / "models"
    _save(_part(s, "model.diffusion_model."), models / "diffusion_models" / "mmdit.safetensors")
    _save(_part(s, "model.diffusion_model.", "model.diffusion_model."), models / "unet" / "mmdit_prefixed.safetensors")
    _save(_part(s, "text_encoders.clip_l.transformer."), models / "text_encoders" / "clip_l.safetensors")
    _save(_part(s, "text_encoders.clip_g.transformer."), models / "clip" / "clip_g.safetensors")
    _save(_part(s, "text_encoders.t5xxl.transformer."), models / "text_encoders" / "t5xxl.safetensors")
    _save(_part(s, "first_stage_model."), models / "vae" / "sd3_vae.safetensors")
    previous = folders.use(folders.Folders.at(base, load_default_extra_config=False))
    yield base, tiny
    folders.use(previous)


def test_separate_files_equal_the_single_file(sd3_dir: tuple[Path, TinySd3]) -> None:
    base, _ = sd3_dir
    ref_model, ref_clip, ref_vae = load_checkpoint(base / "models" / "checkpoints" / "sd3.safetensors", device=CPU)
    assert "mmdit_prefixed.safetensors" in folders.list_model_files("diffusion_models")
    model = tl.unet_loader("mmdit.safetensors").model
    clip = tl.triple_clip_loader("clip_l.safetensors", "clip_g.safetensors", "t5xxl.safetensors").clip
    vae = vae_loader("sd3_vae.safetensors").vae
    assert vae.latent_channels == 16
    image = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(vae.encode(image), ref_vae.encode(image))
    prompt = "a red boat"
    entry = clip.encode(prompt)
    ref_entry = ref_clip.encode(prompt)
    torch.testing.assert_close(entry.cross_attn, ref_entry.cross_attn)
    negative = conditioning_zero_out([entry]).conditioning
    latent = {"samples": torch.zeros(1, 16, 8, 8)}
    kwargs = dict(seed=3, steps=3, cfg=3.0, sampler_name="euler", scheduler="simple", latent=latent)
    out = sample(model, positive=[entry], negative=negative, **kwargs)["samples"]  # type: ignore[arg-type]
    ref = sample(ref_model, positive=[ref_entry], negative=negative, **kwargs)["samples"]  # type: ignore[arg-type]
    torch.testing.assert_close(out, ref)


def test_dual_and_single_loaders_and_unet_folder(sd3_dir: tuple[Path, TinySd3]) -> None:
    dual = tl.dual_clip_loader("clip_l.safetensors", "clip_g.safetensors", "sd3").clip
    assert [e.name for e in dual.encoders] == ["clip_l", "clip_g"] and dual.t5 is None
    assert dual.encode("x").cross_attn.shape == (1, 77, 4096)  # no T5: CLIP part padded to T5-XXL's width
    t5_only = tl.clip_loader("t5xxl.safetensors", "sd3").clip
    assert t5_only.encoders == () and t5_only.t5 is not None
    entry = t5_only.encode("a cat")
    assert entry.cross_attn.shape == (1, 77, 64) and entry.pooled_output is not None
    assert torch.count_nonzero(entry.pooled_output) == 0
    fp8 = tl.unet_loader("mmdit_prefixed.safetensors", "fp8_e4m3fn").model
    weight = fp8.unet.get_submodule("transformer.proj_out").weight
    torch.testing.assert_close(weight, weight.to(torch.float8_e4m3fn).float(), rtol=0, atol=0)


def test_unsupported_type_and_duplicates_are_clear_errors(sd3_dir: tuple[Path, TinySd3]) -> None:
    with pytest.raises(ValueError, match="CLIPLoader: input 'type' 'wan' is not supported yet"):
        tl.clip_loader("clip_l.safetensors", "wan")
    with pytest.raises(ValueError, match="DualCLIPLoader: input 'clip_name2' is a second clip_l encoder"):
        tl.dual_clip_loader("clip_l.safetensors", "clip_l.safetensors", "sd3")
    with pytest.raises(ValueError, match="not a supported diffusion model"):
        _raise_not_dit(sd3_dir[0])


def _raise_not_dit(base: Path) -> None:
    from diffusion.models.diffusion_files import load_diffusion_model

    load_diffusion_model(base / "models" / "text_encoders" / "clip_l.safetensors", device=CPU)
