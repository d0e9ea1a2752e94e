"""Bad model files are refused cleanly, by content not extension (design-anchors §C4 items 53-57)."""

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from diffusion.models.architectures import UnknownModelLayout
from diffusion.models.checkpoint import load_checkpoint
from diffusion.models.convert import CheckpointKeyError
from diffusion.models.files import ModelFileError, read_state_dict
from graph.fingerprint import file_fingerprint

CPU = torch.device("cpu")
MARKER = Path(os.environ.get("TMPDIR", "/tmp")) / "latent_loom_pickle_payload_ran"


class Payload:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def test_pickle_payload_is_refused_and_never_runs(tmp_path):
    MARKER.unlink(missing_ok=True)
    for name in ("evil.ckpt", "evil.pt"):
        path = tmp_path / name
        torch.save({"state_dict": {"w": torch.zeros(1)}, "x": Payload()}, path)
        with pytest.raises(ModelFileError, match="refused") as info:
            read_state_dict(path)
        assert str(path) in str(info.value)
    assert not MARKER.exists()


def test_raw_pickle_renamed_to_safetensors_is_sniffed(tmp_path):
    MARKER.unlink(missing_ok=True)
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"x": Payload()}, protocol=4))
    with pytest.raises(ModelFileError, match="refused"):
        read_state_dict(path)
    assert not MARKER.exists()


def test_not_a_model_file(tmp_path):
    path = tmp_path / "notes.safetensors"
    path.write_text("hello, this is text")
    with pytest.raises(ModelFileError, match="not a safetensors or PyTorch checkpoint") as info:
        read_state_dict(path)
    assert "notes.safetensors" in str(info.value)
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError):
        read_state_dict(empty)


def _raw_safetensors(path: Path, header: dict, data: bytes, header_len: int | None = None) -> Path:
    text = json.dumps(header).encode()
    path.write_bytes((header_len if header_len is not None else len(text)).to_bytes(8, "little") + text + data)
    return path


def test_header_larger_than_file_or_absurd(tmp_path):
    small = _raw_safetensors(tmp_path / "a.safetensors", {}, b"", header_len=10_000)
    with pytest.raises(ModelFileError, match="larger than the file"):
        read_state_dict(small)
    huge = _raw_safetensors(tmp_path / "b.safetensors", {}, b"", header_len=2**40)
    with pytest.raises(ModelFileError, match="above the"):
        read_state_dict(huge)
    bad_json = tmp_path / "c.safetensors"
    bad_json.write_bytes((5).to_bytes(8, "little") + b"{abc}")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        read_state_dict(bad_json)


def test_truncated_and_overlapping(tmp_path, tiny_sd1_checkpoint):
    data = tiny_sd1_checkpoint.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated") as info:
        load_checkpoint(cut, device=CPU)
    assert "cut.safetensors" in str(info.value)
    overlap = _raw_safetensors(
        tmp_path / "o.safetensors",
        {
            "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
        },
        bytes(12),
    )
    with pytest.raises(ModelFileError, match="overlap"):
        read_state_dict(overlap)
    wrong_size = _raw_safetensors(
        tmp_path / "w.safetensors", {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8)
    )
    with pytest.raises(ModelFileError, match="do not fit"):
        read_state_dict(wrong_size)


def test_safe_ckpt_with_state_dict_loads(tmp_path, tiny_sd1_checkpoint):
    state = load_file(str(tiny_sd1_checkpoint))
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": state, "global_step": 1}, path)
    model, _, _ = load_checkpoint(path, device=CPU)
    assert model.family == "sd1"


def test_wrong_content_missing_and_unexpected_tensors(tmp_path, tiny_sd1_checkpoint):
    state = load_file(str(tiny_sd1_checkpoint))
    vae_only = {k: v for k, v in state.items() if k.startswith("first_stage_model.")}
    save_file(vae_only, str(tmp_path / "vae.safetensors"))
    with pytest.raises(UnknownModelLayout, match=r"vae\.safetensors: not a Stable Diffusion checkpoint"):
        load_checkpoint(tmp_path / "vae.safetensors", device=CPU)

    missing = dict(state)
    del missing["model.diffusion_model.out.2.weight"]
    save_file(missing, str(tmp_path / "missing.safetensors"))
    with pytest.raises(CheckpointKeyError, match=r"missing.*model\.diffusion_model\.out\.2\.weight"):
        load_checkpoint(tmp_path / "missing.safetensors", device=CPU)

    extra = dict(state)
    extra["model.diffusion_model.surprise.weight"] = torch.zeros(3)
    save_file(extra, str(tmp_path / "extra.safetensors"))
    with pytest.raises(CheckpointKeyError, match=r"unexpected tensors.*surprise"):
        load_checkpoint(tmp_path / "extra.safetensors", device=CPU)

    reshaped = dict(state)
    reshaped["model.diffusion_model.out.2.bias"] = torch.zeros(5)
    save_file(reshaped, str(tmp_path / "shape.safetensors"))
    with pytest.raises(CheckpointKeyError, match=r"out\.2\.bias has shape \[5\]"):
        load_checkpoint(tmp_path / "shape.safetensors", device=CPU)


def test_fingerprint_changes_when_file_is_replaced(tmp_path):
    path = tmp_path / "m.safetensors"
    save_file({"a": torch.zeros(2)}, str(path))
    before = file_fingerprint(path)
    replacement = tmp_path / "new.safetensors"
    save_file({"a": torch.ones(2)}, str(replacement))
    os.replace(replacement, path)
    assert file_fingerprint(path) != before
