"""SaveLatent/LoadLatent: ComfyUI's .latent layout, naming, metadata, and the older format's scaling."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from folders import Folders, PathOutsideFolderError
from graph.registry import REGISTRY
from imaging.latent_io import LatentFileError
from nodes.latent_files import load_latent_node, save_latent_node

PROMPT = {"1": {"class_type": "SaveLatent", "inputs": {}}}


def test_save_latent_writes_comfyui_s_layout(base: Folders) -> None:
    samples = torch.randn(2, 4, 8, 8)
    out = save_latent_node({"samples": samples}, prompt=PROMPT, extra_pnginfo={"workflow": {"nodes": []}})
    assert out.ui == {"latents": [{"filename": "ComfyUI_00001_.latent", "subfolder": "latents", "type": "output"}]}
    path = base.output_directory / "latents" / "ComfyUI_00001_.latent"
    with safe_open(str(path), framework="pt") as handle:
        assert sorted(handle.keys()) == ["latent_format_version_0", "latent_tensor"]
        assert torch.equal(handle.get_tensor("latent_tensor"), samples)
        assert handle.get_tensor("latent_format_version_0").numel() == 0
        assert handle.metadata() == {"prompt": json.dumps(PROMPT), "workflow": json.dumps({"nodes": []})}
    second = save_latent_node({"samples": samples})
    assert second.ui is not None and second.ui["latents"][0]["filename"] == "ComfyUI_00002_.latent"


def test_round_trip_through_input(base: Folders) -> None:
    samples = torch.randn(1, 4, 6, 5)
    save_latent_node({"samples": samples}, "mine")
    (base.input_directory / "mine.latent").write_bytes((base.output_directory / "mine_00001_.latent").read_bytes())
    assert torch.equal(load_latent_node("mine.latent").latent["samples"], samples)


def test_older_format_is_rescaled(base: Folders) -> None:
    samples = torch.ones(1, 4, 2, 2)
    save_file({"latent_tensor": samples}, str(base.input_directory / "old.latent"))
    loaded = load_latent_node("old.latent").latent["samples"]
    assert torch.allclose(loaded, samples / 0.18215)


def test_load_latent_options_and_errors(base: Folders) -> None:
    save_file({"other": torch.ones(1)}, str(base.input_directory / "wrong.latent"))
    (base.input_directory / "junk.latent").write_bytes(b"\x00" * 16)
    (base.input_directory / "image.png").write_bytes(b"x")
    spec = REGISTRY.get("LoadLatent")
    assert spec is not None
    latent_input = spec.input("latent")
    assert latent_input is not None and latent_input.combo_options() == ["junk.latent", "wrong.latent"]
    with pytest.raises(LatentFileError, match=r"wrong\.latent has no 'latent_tensor'"):
        load_latent_node("wrong.latent")
    with pytest.raises(LatentFileError, match=r"cannot read latent file junk\.latent"):
        load_latent_node("junk.latent")
    with pytest.raises(PathOutsideFolderError):
        load_latent_node("../output/x.latent")


def test_save_latent_rejects_bad_input_and_escapes(base: Folders) -> None:
    with pytest.raises(ValueError, match=r"expected a LATENT with 'samples' \[B, C, h, w\], received \[4, 4\]"):
        save_latent_node({"samples": torch.zeros(4, 4)})
    with pytest.raises(PathOutsideFolderError):
        save_latent_node({"samples": torch.zeros(1, 4, 2, 2)}, "../../x")
