"""The headless CLI end to end on image-only workflows (no models needed): exit codes, --set, PNG input."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

import cli
import folders
from imaging.png_metadata import read_png_text

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def base_dir(tmp_path: Path) -> Iterator[Path]:
    """A base directory with one input image; the process-wide folders are restored afterwards."""
    previous = folders.get_folders()
    base = tmp_path / "base"
    (base / "input").mkdir(parents=True)
    Image.new("RGBA", (8, 6), (200, 100, 50, 255)).save(base / "input" / "photo.png")
    yield base
    folders.use(previous)


def invert_workflow(prefix: str = "inverted", image: str = "photo.png") -> dict[str, object]:
    return {
        "format": "latent-loom/workflow",
        "version": 1,
        "nodes": {
            "1": {"class_type": "LoadImage", "inputs": {"image": image}, "ui": {"pos": [0, 0], "title": "Source"}},
            "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}, "ui": {"pos": [300, 0]}},
            "3": {
                "class_type": "SaveImage",
                "inputs": {"images": ["2", 0], "filename_prefix": prefix},
                "ui": {"pos": [600, 0], "title": "Out"},
            },
        },
        "ui": {"groups": []},
    }


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def run(base: Path, *args: str | Path) -> int:
    return cli.main(["run", *map(str, args), "--base-directory", str(base), "--no-progress"])


def test_run_native_workflow_prints_files_and_embeds_metadata(
    base_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = write_json(tmp_path / "wf.json", invert_workflow())
    assert run(base_dir, workflow) == 0
    out = capsys.readouterr().out.split()
    produced = base_dir / "output" / "inverted_00001_.png"
    assert out == [str(produced.resolve())]
    with Image.open(produced) as image:
        pixel = image.getpixel((0, 0))
        assert isinstance(pixel, tuple)
        # 255 - (200, 100, 50), within the one step ComfyUI's truncation to 8 bits may lose
        assert all(abs(got - want) <= 1 for got, want in zip(pixel, (55, 155, 205), strict=True))
    chunks = read_png_text(produced)
    prompt = json.loads(chunks["prompt"])
    assert prompt["3"]["class_type"] == "SaveImage" and prompt["2"]["inputs"]["image"] == ["1", 0]
    saved = json.loads(chunks["workflow"])  # ComfyUI's UI format, which both editors open
    assert saved["version"] == 0.4
    assert [node["title"] for node in saved["nodes"] if node["id"] == 1] == ["Source"]


def test_run_a_png_made_by_a_run_and_set_overrides(
    base_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(base_dir, write_json(tmp_path / "wf.json", invert_workflow())) == 0
    first = Path(capsys.readouterr().out.strip())
    # The PNG is a workflow file; the counter continues; --set by node title and by id.
    assert run(base_dir, first, "--set", "Out.filename_prefix=again/x_%width%") == 0
    second = Path(capsys.readouterr().out.strip())
    assert second == (base_dir / "output" / "again" / "x_8_00001_.png").resolve()
    assert json.loads(read_png_text(second)["prompt"])["3"]["inputs"]["filename_prefix"] == "again/x_%width%"
    assert run(base_dir, first) == 0
    assert Path(capsys.readouterr().out.strip()).name == "inverted_00002_.png"


def test_run_comfyui_api_prompt_with_output_directory(
    base_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompt = {
        "10": {"class_type": "LoadImage", "inputs": {"image": "photo.png", "upload": "image"}},
        "11": {"class_type": "ImageScale", "inputs": {"image": ["10", 0], "upscale_method": "bilinear",
                                                      "width": 16, "height": 0, "crop": "disabled"}},
        "12": {"class_type": "SaveImage", "inputs": {"images": ["11", 0], "filename_prefix": "ComfyUI"}},
    }
    out_dir = tmp_path / "elsewhere"
    code = run(base_dir, write_json(tmp_path / "api.json", prompt), "--output", out_dir)
    assert code == 0
    produced = Path(capsys.readouterr().out.strip())
    assert produced == (out_dir / "ComfyUI_00001_.png").resolve()
    with Image.open(produced) as image:
        assert image.size == (16, 12)


def test_run_comfyui_ui_workflow(base_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A workflow saved by ComfyUI's editor (LiteGraph 0.4, positional widgets_values)."""
    ui = {
        "last_node_id": 3, "last_link_id": 2, "version": 0.4, "groups": [], "config": {}, "extra": {},
        "nodes": [
            {"id": 1, "type": "LoadImage", "pos": [0, 0], "size": [315, 314], "flags": {}, "order": 0, "mode": 0,
             "inputs": [], "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1], "slot_index": 0},
                                       {"name": "MASK", "type": "MASK", "links": None}],
             "properties": {"Node name for S&R": "LoadImage"}, "widgets_values": ["photo.png", "image"]},
            {"id": 2, "type": "ImageInvert", "pos": [400, 0], "size": [210, 26], "flags": {}, "order": 1,
             "mode": 0, "inputs": [{"name": "image", "type": "IMAGE", "link": 1}],
             "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [2], "slot_index": 0}],
             "properties": {}},
            {"id": 3, "type": "SaveImage", "pos": [700, 0], "size": [315, 270], "flags": {}, "order": 2, "mode": 0,
             "inputs": [{"name": "images", "type": "IMAGE", "link": 2}], "outputs": [], "properties": {},
             "widgets_values": ["from_ui"]},
        ],
        "links": [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"]],
    }
    assert run(base_dir, write_json(tmp_path / "ui.json", ui), "--set", "3.filename_prefix=from_ui_set") == 0
    assert Path(capsys.readouterr().out.strip()).name == "from_ui_set_00001_.png"


def test_run_comfyui_png_reads_its_prompt(base_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A PNG as ComfyUI writes it (prompt + UI workflow chunks) runs headless."""
    from PIL import PngImagePlugin

    prompt = {"5": {"class_type": "LoadImage", "inputs": {"image": "photo.png", "upload": "image"}},
              "9": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "from_comfy"}}}
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(prompt))
    info.add_text("workflow", json.dumps({"nodes": [], "links": [], "version": 0.4}))
    source = tmp_path / "ComfyUI_00001_.png"
    Image.new("RGB", (4, 4)).save(source, pnginfo=info, compress_level=4)
    assert run(base_dir, source) == 0
    assert Path(capsys.readouterr().out.strip()).name == "from_comfy_00001_.png"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("nope.seed=1", "no node with id or title 'nope'"),
        ("3.bogus=1", "has no input 'bogus'; its widgets are: filename_prefix"),
        ("3.images=1", "is a IMAGE socket"),
        ("3filename_prefix", "expected NODE.INPUT=VALUE"),
    ],
)
def test_bad_set_flags_exit_2(
    base_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str, message: str
) -> None:
    assert run(base_dir, write_json(tmp_path / "wf.json", invert_workflow()), "--set", override) == 2
    assert message in capsys.readouterr().err
    assert not any((base_dir / "output").iterdir())


def test_set_parses_by_widget_type(base_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workflow = invert_workflow()
    nodes = workflow["nodes"]
    assert isinstance(nodes, dict)
    nodes["4"] = {"class_type": "ImageScaleBy", "inputs": {"image": ["1", 0], "upscale_method": "area",
                                                            "scale_by": 1.0}}
    nodes["5"] = {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "scaled"}}
    path = write_json(tmp_path / "wf.json", workflow)
    assert run(base_dir, path, "--set", "4.scale_by=2", "--set", "3.filename_prefix=123") == 0
    files = sorted(Path(line).name for line in capsys.readouterr().out.split())
    assert files == ["123_00001_.png", "scaled_00001_.png"]
    assert run(base_dir, path, "--set", "4.scale_by=big") == 2
    assert "scale_by expects a finite number, got 'big'" in capsys.readouterr().err
    assert run(base_dir, path, "--set", "4.scale_by=nan") == 2


ESCAPING_NAMES = ["../../etc/passwd", "/etc/passwd", "C:\\x", "a\\..\\b", "%2e%2e/photo.png", "photo.png\x00"]


@pytest.mark.parametrize("image", ["missing.png", *ESCAPING_NAMES])
def test_validation_errors_exit_2_and_run_nothing(
    base_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], image: str
) -> None:
    assert run(base_dir, write_json(tmp_path / "wf.json", invert_workflow(image=image))) == 2
    err = capsys.readouterr().err
    assert "is not valid" in err and "node 1" in err and "image" in err
    assert not any((base_dir / "output").iterdir())


def test_unreadable_and_malformed_files_exit_2(
    base_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(base_dir, tmp_path / "absent.json") == 2
    assert "cannot read" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{not json")
    assert run(base_dir, tmp_path / "bad.json") == 2
    assert "invalid JSON" in capsys.readouterr().err
    Image.new("RGB", (2, 2)).save(tmp_path / "plain.png")
    assert run(base_dir, tmp_path / "plain.png") == 2
    assert "carries no workflow" in capsys.readouterr().err


def test_node_error_exits_1_naming_the_node(base_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (base_dir / "input" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    assert run(base_dir, write_json(tmp_path / "wf.json", invert_workflow(image="broken.png"))) == 1
    err = capsys.readouterr().err
    assert "node 1 (LoadImage) failed" in err and "broken.png" in err


def test_progress_bars_go_to_stderr(base_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["run", str(write_json(tmp_path / "wf.json", invert_workflow())), "--base-directory",
                     str(base_dir)])
    assert code == 0
    captured = capsys.readouterr()
    assert "nodes" in captured.err and "3/3" in captured.err
    assert len(captured.out.split()) == 1


def test_server_py_dispatches_run(base_dir: Path, tmp_path: Path) -> None:
    workflow = write_json(tmp_path / "wf.json", invert_workflow())
    done = subprocess.run(
        [sys.executable, "server.py", "run", str(workflow), "--base-directory", str(base_dir), "--no-progress"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str((base_dir / "output" / "inverted_00001_.png").resolve())


# ------------------------------------------------------------------ first run: no checkpoint, then the demo model


def _needs(*class_types: str) -> None:
    import nodes
    from graph.registry import REGISTRY

    nodes.load_catalog(None)
    missing = [name for name in class_types if name not in REGISTRY]
    if missing:
        pytest.fail(f"node types not registered yet: {', '.join(missing)}")


TXT2IMG = REPO / "workflows" / "txt2img.json"
SMALL_TXT2IMG = ["--set", "5.width=64", "--set", "5.height=64", "--set", "3.steps=2"]


def test_first_run_without_checkpoint_says_where_to_put_one(
    base_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _needs("CheckpointLoaderSimple")
    assert run(base_dir, TXT2IMG) == 2
    err = capsys.readouterr().err
    assert "node 4 (CheckpointLoaderSimple)" in err
    assert str(base_dir / "models" / "checkpoints") in err
    assert "SD 1.x" in err and "SDXL" in err and "demo-model" in err


def test_demo_model_then_txt2img_runs(base_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _needs("CheckpointLoaderSimple", "KSampler", "VAEDecode", "EmptyLatentImage", "CLIPTextEncode")
    assert cli.main(["demo-model", "--base-directory", str(base_dir)]) == 0
    captured = capsys.readouterr()
    demo = base_dir / "models" / "checkpoints" / cli.DEMO_CHECKPOINT_NAME
    assert captured.out.strip() == str(demo.resolve()) and demo.stat().st_size > 0
    assert "draws noise" in captured.err
    written = demo.stat().st_mtime_ns
    assert cli.main(["demo-model", "--base-directory", str(base_dir)]) == 0  # kept unless --force
    assert demo.stat().st_mtime_ns == written and "already exists" in capsys.readouterr().err
    code = cli.main(["run", str(TXT2IMG), "--base-directory", str(base_dir),
                     "--set", f"4.ckpt_name={cli.DEMO_CHECKPOINT_NAME}", *SMALL_TXT2IMG])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "3 KSampler" in captured.err and "2/2" in captured.err  # the sampler's step bar
    assert "7/7" in captured.err  # the node bar
    with Image.open(captured.out.strip()) as image:
        assert image.size == (64, 64)


@pytest.mark.parametrize("name", ["../escape.safetensors", "/tmp/x.safetensors", "demo.ckpt"])
def test_demo_model_refuses_bad_names(base_dir: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    assert cli.main(["demo-model", "--base-directory", str(base_dir), "--name", name]) == 2
    assert "error:" in capsys.readouterr().err


def test_run_loads_the_plugins_of_the_base_directory_like_the_server(
    base_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plugins = base_dir / "custom_nodes"
    plugins.mkdir()
    (plugins / "cli_echo.py").write_text(
        "from typing import Annotated\n"
        "from graph.spec import NoOutputs, node\n"
        "from graph.widgets import Text\n\n"
        "@node('CliEchoPlugin', category='plugins', output_node=True)\n"
        "def echo(text: Annotated[str, Text()] = '') -> NoOutputs:\n"
        "    print('plugin says', text)\n"
        "    return NoOutputs(ui={'text': [text]})\n"
    )
    workflow = write_json(tmp_path / "plugin.json", {"1": {"class_type": "CliEchoPlugin", "inputs": {"text": "hi"}}})
    assert run(base_dir, workflow) == 0
    assert "plugin says hi" in capsys.readouterr().out
