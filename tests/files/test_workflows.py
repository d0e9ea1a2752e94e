"""Shipped workflows: structure checked against ComfyUI's catalog now; each one run through the CLI on tiny models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest
from PIL import Image

import cli
import folders
import nodes
from graph.formats import load_workflow, to_api_prompt
from graph.registry import REGISTRY
from imaging.png_metadata import read_png_text

WORKFLOWS_DIR = Path(__file__).resolve().parents[2] / "workflows"
SHIPPED = sorted(path.stem for path in WORKFLOWS_DIR.glob("*.json"))
REQUIRED = {"txt2img", "img2img", "inpaint", "controlnet_canny", "hires_fix", "lora", "sdxl_refiner", "instruct_edit",
            "inpaint_model"}

# ComfyUI's signatures (comfyui-compat.md §4): input name -> socket type or widget kind, in input order; outputs.
S = "STRING"
CATALOG: dict[str, tuple[dict[str, str], list[str]]] = {
    "CheckpointLoaderSimple": ({"ckpt_name": "COMBO"}, ["MODEL", "CLIP", "VAE"]),
    "CLIPTextEncode": ({"text": S, "clip": "CLIP"}, ["CONDITIONING"]),
    "EmptyLatentImage": ({"width": "INT", "height": "INT", "batch_size": "INT"}, ["LATENT"]),
    "KSampler": ({"model": "MODEL", "seed": "INT", "steps": "INT", "cfg": "FLOAT", "sampler_name": "COMBO",
                  "scheduler": "COMBO", "positive": "CONDITIONING", "negative": "CONDITIONING",
                  "latent_image": "LATENT", "denoise": "FLOAT"}, ["LATENT"]),
    "KSamplerAdvanced": ({"model": "MODEL", "add_noise": "COMBO", "noise_seed": "INT", "steps": "INT",
                          "cfg": "FLOAT", "sampler_name": "COMBO", "scheduler": "COMBO",
                          "positive": "CONDITIONING", "negative": "CONDITIONING", "latent_image": "LATENT",
                          "start_at_step": "INT", "end_at_step": "INT", "return_with_leftover_noise": "COMBO"},
                         ["LATENT"]),
    "VAEDecode": ({"samples": "LATENT", "vae": "VAE"}, ["IMAGE"]),
    "VAEEncode": ({"pixels": "IMAGE", "vae": "VAE"}, ["LATENT"]),
    "VAEEncodeForInpaint": ({"pixels": "IMAGE", "vae": "VAE", "mask": "MASK", "grow_mask_by": "INT"}, ["LATENT"]),
    "LoadImage": ({"image": "COMBO"}, ["IMAGE", "MASK"]),
    "SaveImage": ({"images": "IMAGE", "filename_prefix": S}, []),
    "PreviewImage": ({"images": "IMAGE"}, []),
    "ImageScale": ({"image": "IMAGE", "upscale_method": "COMBO", "width": "INT", "height": "INT",
                    "crop": "COMBO"}, ["IMAGE"]),
    "Canny": ({"image": "IMAGE", "low_threshold": "FLOAT", "high_threshold": "FLOAT"}, ["IMAGE"]),
    "ControlNetLoader": ({"control_net_name": "COMBO"}, ["CONTROL_NET"]),
    "ControlNetApplyAdvanced": ({"positive": "CONDITIONING", "negative": "CONDITIONING",
                                 "control_net": "CONTROL_NET", "image": "IMAGE", "strength": "FLOAT",
                                 "start_percent": "FLOAT", "end_percent": "FLOAT", "vae": "VAE"},
                                ["CONDITIONING", "CONDITIONING"]),
    "LoraLoader": ({"model": "MODEL", "clip": "CLIP", "lora_name": "COMBO", "strength_model": "FLOAT",
                    "strength_clip": "FLOAT"}, ["MODEL", "CLIP"]),
    "LatentUpscale": ({"samples": "LATENT", "upscale_method": "COMBO", "width": "INT", "height": "INT",
                       "crop": "COMBO"}, ["LATENT"]),
    "InstructPixToPixConditioning": ({"positive": "CONDITIONING", "negative": "CONDITIONING", "vae": "VAE",
                                      "pixels": "IMAGE"}, ["CONDITIONING", "CONDITIONING", "LATENT"]),
    "InpaintModelConditioning": ({"positive": "CONDITIONING", "negative": "CONDITIONING", "vae": "VAE",
                                  "pixels": "IMAGE", "mask": "MASK", "noise_mask": "BOOLEAN"},
                                 ["CONDITIONING", "CONDITIONING", "LATENT"]),
    "DualCFGGuider": ({"model": "MODEL", "cond1": "CONDITIONING", "cond2": "CONDITIONING",
                       "negative": "CONDITIONING", "cfg_conds": "FLOAT", "cfg_cond2_negative": "FLOAT",
                       "style": "COMBO"}, ["GUIDER"]),
    "RandomNoise": ({"noise_seed": "INT"}, ["NOISE"]),
    "KSamplerSelect": ({"sampler_name": "COMBO"}, ["SAMPLER"]),
    "BasicScheduler": ({"model": "MODEL", "scheduler": "COMBO", "steps": "INT", "denoise": "FLOAT"}, ["SIGMAS"]),
    "SamplerCustomAdvanced": ({"noise": "NOISE", "guider": "GUIDER", "sampler": "SAMPLER", "sigmas": "SIGMAS",
                               "latent_image": "LATENT"}, ["LATENT", "LATENT"]),
}
OPTIONAL = {("ControlNetApplyAdvanced", "vae")}
OUTPUT_NODES = {"SaveImage", "PreviewImage"}
WIDGET_PY: dict[str, type | tuple[type, ...]] = {"INT": int, "FLOAT": (int, float), "STRING": str, "COMBO": str,
                                                 "BOOLEAN": bool}


def read(name: str) -> dict[str, Any]:
    data = json.loads((WORKFLOWS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


def test_every_required_workflow_ships() -> None:
    assert set(SHIPPED) >= REQUIRED


@pytest.mark.parametrize("name", SHIPPED)
def test_workflow_structure_matches_comfyui_catalog(name: str) -> None:
    data = read(name)
    assert data["format"] == "latent-loom/workflow" and data["version"] == 1
    assert isinstance(data["ui"]["groups"], list)
    for group in data["ui"]["groups"]:
        assert isinstance(group["title"], str) and len(group["bounding"]) == 4
    graph = nx.DiGraph()
    workflow_nodes: dict[str, Any] = data["nodes"]
    for node_id, node in workflow_nodes.items():
        class_type = node["class_type"]
        assert class_type in CATALOG, f"{name}: node {node_id} uses {class_type}, not in the core catalog"
        inputs, _ = CATALOG[class_type]
        required = {key for key in inputs if (class_type, key) not in OPTIONAL}
        assert required <= set(node["inputs"]) <= set(inputs), f"{name}: node {node_id} inputs"
        pos = node["ui"]["pos"]
        assert len(pos) == 2 and all(isinstance(v, int | float) for v in pos)
        graph.add_node(node_id)
        for key, value in node["inputs"].items():
            kind = inputs[key]
            if is_link(value):
                source = workflow_nodes.get(value[0])
                assert source is not None, f"{name}: node {node_id}.{key} links to missing node {value[0]}"
                outputs = CATALOG[source["class_type"]][1]
                assert value[1] < len(outputs), f"{name}: node {node_id}.{key} links to a missing output"
                assert outputs[value[1]] == kind, f"{name}: node {node_id}.{key} wants {kind}, gets {outputs[value[1]]}"
                graph.add_edge(value[0], node_id)
            else:
                assert kind in WIDGET_PY, f"{name}: node {node_id}.{key} is a {kind} socket but holds a constant"
                assert isinstance(value, WIDGET_PY[kind]) and (kind == "BOOLEAN") == isinstance(value, bool)
    assert nx.is_directed_acyclic_graph(graph)
    assert any(node["class_type"] == "SaveImage" for node in workflow_nodes.values())
    # Every node feeds an output (nothing is left dangling in a template).
    sinks = [node_id for node_id, node in workflow_nodes.items() if node["class_type"] in OUTPUT_NODES]
    reaching = set(sinks).union(*(nx.ancestors(graph, sink) for sink in sinks))
    assert reaching == set(workflow_nodes), f"{name}: nodes not feeding an output: {set(workflow_nodes) - reaching}"
    # Nodes do not sit on top of each other (approximate node size 300×180).
    positions = [tuple(node["ui"]["pos"]) for node in workflow_nodes.values()]
    for i, (x1, y1) in enumerate(positions):
        for x2, y2 in positions[i + 1 :]:
            assert abs(x1 - x2) >= 300 or abs(y1 - y2) >= 180, f"{name}: nodes overlap at {(x1, y1)} and {(x2, y2)}"


@pytest.mark.parametrize("name", SHIPPED)
def test_workflow_loads_and_registered_nodes_match_comfyui(name: str) -> None:
    nodes.load_catalog(None)
    workflow = load_workflow(read(name), REGISTRY)
    assert set(workflow.nodes) == set(read(name)["nodes"])
    for node in workflow.nodes.values():
        spec = REGISTRY.get(node.class_type)
        if spec is None:
            continue  # not landed yet: the end-to-end test below says which
        expected_inputs, expected_outputs = CATALOG[node.class_type]
        visible = [item.name for item in spec.inputs if item.section != "hidden"]
        assert visible == list(expected_inputs), f"{node.class_type}: input order differs from ComfyUI's"
        assert [output.type_name for output in spec.outputs] == expected_outputs


# ------------------------------------------------------------------ end to end on the tiny models

SMALL = ["5.width=64", "5.height=64", "3.steps=2"]
OVERRIDES: dict[str, list[str]] = {
    "txt2img": ["4.ckpt_name=tiny_sd1.safetensors", *SMALL],
    "compare_schedulers": ["4.ckpt_name=tiny_sd1.safetensors", *SMALL],  # one cell here; the grid: tests/seeing
    "img2img": ["4.ckpt_name=tiny_sd1.safetensors", "11.width=64", "11.height=64", "3.steps=2"],
    "inpaint": ["4.ckpt_name=tiny_sd1.safetensors", "3.steps=2"],
    "controlnet_canny": [
        "4.ckpt_name=tiny_sd1.safetensors", "15.control_net_name=tiny_cn.safetensors",
        "11.width=64", "11.height=64", *SMALL,
    ],
    "hires_fix": ["4.ckpt_name=tiny_sd1.safetensors", *SMALL, "10.width=128", "10.height=128", "11.steps=2"],
    "lora": ["4.ckpt_name=tiny_sd1.safetensors", "10.lora_name=tiny_lora.safetensors", *SMALL],
    "instruct_edit": ["4.ckpt_name=tiny_ip2p.safetensors", "15.steps=2"],
    "inpaint_model": ["4.ckpt_name=tiny_inpaint.safetensors", "3.steps=2"],
    "sdxl_refiner": [
        "4.ckpt_name=tiny_sdxl.safetensors", "12.ckpt_name=tiny_sdxl_refiner.safetensors", "5.width=64",
        "5.height=64", "10.steps=4", "10.end_at_step=3", "11.steps=4", "11.start_at_step=3",
    ],
}
EXPECTED_SIZE = {"hires_fix": (128, 128)}


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A base directory holding the tiny fixture models and an example input image with a transparent hole."""
    from tests.fixtures import tiny_models

    base = tmp_path_factory.mktemp("tiny_base")
    checkpoints = base / "models" / "checkpoints"
    sd1 = tiny_models.build_tiny("sd1", 0)
    tiny_models.write_checkpoint(sd1, checkpoints / "tiny_sd1.safetensors")
    tiny_models.write_checkpoint(tiny_models.build_tiny("sdxl", 0), checkpoints / "tiny_sdxl.safetensors")
    try:
        refiner = tiny_models.build_tiny("sdxl_refiner", 0)
        tiny_models.write_checkpoint(refiner, checkpoints / "tiny_sdxl_refiner.safetensors")
    except Exception:  # no tiny refiner builder yet: the base stands in for it
        tiny_models.write_checkpoint(tiny_models.build_tiny("sdxl", 1), checkpoints / "tiny_sdxl_refiner.safetensors")
    tiny_models.write_checkpoint(tiny_models.build_tiny("sd1", 0, in_channels=8), checkpoints / "tiny_ip2p.safetensors")
    tiny_models.write_checkpoint(tiny_models.build_tiny("sd1", 0, in_channels=9),
                                 checkpoints / "tiny_inpaint.safetensors")
    tiny_models.write_controlnet(tiny_models.build_tiny_controlnet(sd1), base / "models/controlnet/tiny_cn.safetensors")
    tiny_models.write_lora(tiny_models.build_tiny_lora(sd1), base / "models/loras/tiny_lora.safetensors")
    pixels = np.random.default_rng(0).integers(0, 256, size=(64, 64, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    pixels[16:48, 16:48, 3] = 0  # the hole inpaint repaints
    (base / "input").mkdir()
    Image.fromarray(pixels).save(base / "input" / "example.png")
    return base


def without_meta(prompt: dict[str, Any]) -> dict[str, Any]:
    return {node_id: {k: v for k, v in node.items() if k != "_meta"} for node_id, node in prompt.items()}


def missing_node_types(name: str) -> list[str]:
    nodes.load_catalog(None)
    wanted = {node["class_type"] for node in read(name)["nodes"].values()}
    return sorted(class_type for class_type in wanted if class_type not in REGISTRY)


@pytest.mark.parametrize("name", SHIPPED)
def test_workflow_runs_headless_on_tiny_models(
    name: str, tiny_base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = missing_node_types(name)
    if missing:
        pytest.fail(f"{name}: node types not registered yet: {', '.join(missing)}")
    previous = folders.get_folders()
    try:
        args = ["run", str(WORKFLOWS_DIR / f"{name}.json"), "--base-directory", str(tiny_base),
                "--output", str(tmp_path / "out"), "--no-progress"]
        for override in OVERRIDES.get(name, []):
            args += ["--set", override]
        code = cli.main(args)
    finally:
        folders.use(previous)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    files = [Path(line) for line in captured.out.split()]
    saved = [path for path in files if path.parent == (tmp_path / "out").resolve()]
    assert saved, f"{name}: no image saved; printed {files}"
    for path in saved:
        with Image.open(path) as image:
            assert image.size == EXPECTED_SIZE.get(name, (64, 64))
        chunks = read_png_text(path)
        prompt = json.loads(chunks["prompt"])
        assert prompt["9"]["class_type"] == "SaveImage"
        # The workflow chunk is ComfyUI's UI format and means exactly what ran (titles equal to the
        # display name are not stored, as in ComfyUI, so `_meta` is left out of the comparison).
        reopened = to_api_prompt(load_workflow(json.loads(chunks["workflow"]), REGISTRY))
        assert without_meta(reopened) == without_meta(prompt)


def test_shipped_example_image_has_an_inpaint_patch() -> None:
    from imaging.tensors import load_image_frames

    images, masks = load_image_frames(WORKFLOWS_DIR / "example.png")
    assert images.shape == (1, 512, 512, 3)
    covered = float(masks.mean())
    assert 0.02 < covered < 0.2  # a patch to repaint, not the whole picture


def test_instruct_edit_on_a_plain_model_is_refused_with_the_model_type_needed(
    tiny_base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An InstructPix2Pix conditioning on a 4-channel model: a run-time error naming the node, the input and
    the model type needed, never a shape crash or a traceback."""
    previous = folders.get_folders()
    try:
        code = cli.main(["run", str(WORKFLOWS_DIR / "instruct_edit.json"), "--base-directory", str(tiny_base),
                         "--output", str(tmp_path / "out"), "--no-progress",
                         "--set", "4.ckpt_name=tiny_sd1.safetensors", "--set", "15.steps=1"])
    finally:
        folders.use(previous)
    err = capsys.readouterr().err
    assert code == 1, err
    assert "SamplerCustomAdvanced" in err
    assert "cond1: conditioning from InstructPixToPixConditioning needs an InstructPix2Pix checkpoint" in err
    assert "plain 4-channel model" in err and "Traceback" not in err and "size mismatch" not in err
