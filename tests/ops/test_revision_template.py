"""ComfyUI's SDXL revision template (two reference images through CLIP vision and unCLIPConditioning) run end to
end on tiny random models: the image embeddings reach the sampler and change the picture."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from folders import Folders
from graph.executor import Executor, InterruptFlag
from graph.formats import load_workflow
from graph.registry import REGISTRY
from nodes import load_catalog

TEMPLATE = "sdxl_revision_text_prompts"


def run_template(base: Folders, strength: float) -> np.ndarray:
    templates = pytest.importorskip("bench.templates")
    data: dict[str, Any] = json.loads((templates.corpus_dir() / f"{TEMPLATE}.json").read_text())
    load_catalog()
    workflow = load_workflow(data, REGISTRY)
    workflow.nodes["40"].inputs["ckpt_name"] = "tiny_sdxl.safetensors"
    workflow.nodes["39"].inputs["clip_name"] = "tiny_g.safetensors"
    workflow.nodes["34"].inputs["image"] = "ref1.png"
    workflow.nodes["38"].inputs["image"] = "ref2.png"
    workflow.nodes["5"].inputs.update(width=64, height=64)
    workflow.nodes["3"].inputs.update(steps=2, seed=5)
    for unclip in ("19", "37"):
        workflow.nodes[unclip].inputs["strength"] = strength
    result = Executor(REGISTRY).run(workflow, job_id=f"rev{strength}", emit=lambda event: None,
                                    interrupt=InterruptFlag())
    assert result.status == "succeeded", (result.error, result.issues)
    (saved,) = result.outputs["9"]["images"]
    return np.asarray(Image.open(base.output_directory / saved["subfolder"] / saved["filename"]))


def test_revision_template_runs_and_uses_the_images(base: Folders, tiny_sdxl_checkpoint: Path) -> None:
    models = base.base_directory / "models"
    (models / "checkpoints").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tiny_sdxl_checkpoint, models / "checkpoints" / "tiny_sdxl.safetensors")
    torch.manual_seed(0)
    # projection 32 = the tiny SDXL's pooled width (ViT-bigG's 1280 for the real model)
    vision = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=1, image_size=32,
        patch_size=8, projection_dim=32, hidden_act="gelu"))
    (models / "clip_vision").mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in vision.state_dict().items()}
    save_file(state, str(models / "clip_vision" / "tiny_g.safetensors"))
    rng = np.random.default_rng(0)
    for name in ("ref1.png", "ref2.png"):
        Image.fromarray(rng.integers(0, 256, size=(48, 40, 3), dtype=np.uint8)).save(base.input_directory / name)
    with_images = run_template(base, 0.75)
    text_only = run_template(base, 0.0)  # strength 0: unCLIPConditioning passes the text conditioning through
    assert with_images.shape == (64, 64, 3)
    assert np.abs(with_images.astype(int) - text_only.astype(int)).max() > 0
