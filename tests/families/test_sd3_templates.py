"""ComfyUI's SD3.5 template, unchanged, run headless with its checkpoint replaced by a tiny random one of the
same key layout (the file name the template names)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

import cli
import folders
from diffusion.models.tiny_sd3 import write_tiny_sd3

CORPUS = "comfyui_workflow_templates_json"


def _template(name: str) -> Path:
    from importlib import resources

    return Path(str(resources.files(CORPUS).joinpath("templates", f"{name}.json")))


def test_sd35_simple_example_runs_headless(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tiny_sd3(tmp_path / "models" / "checkpoints" / "sd3.5_large_fp8_scaled.safetensors")
    previous = folders.get_folders()
    try:
        code = cli.main(["run", str(_template("sd3.5_simple_example")), "--base-directory", str(tmp_path),
                         "--output", str(tmp_path / "out"), "--no-progress",
                         "--set", "53.width=64", "--set", "53.height=64", "--set", "3.steps=2"])
    finally:
        folders.use(previous)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    saved = [Path(p) for p in captured.out.split() if Path(p).suffix == ".png"]
    assert saved
    with Image.open(saved[0]) as image:
        assert image.size == (64, 64)
