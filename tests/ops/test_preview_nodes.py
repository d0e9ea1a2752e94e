"""MaskPreview and ImageCompare write temp previews the editor can show; EmptySD3LatentImage's shape."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from folders import Folders
from nodes.latent_sd3 import empty_sd3_latent_image
from nodes.previews import image_compare, mask_preview


def test_mask_preview_saves_the_mask_as_grey_and_passes_it_on(base: Folders) -> None:
    mask = torch.tensor([[[0.0, 1.0], [0.5, 0.25]]])
    out = mask_preview(mask)
    assert out.mask is mask
    assert out.ui is not None
    (entry,) = out.ui["images"]
    assert entry["type"] == "temp" and entry["filename"].startswith("ComfyUI_temp_")
    pixels = np.asarray(Image.open(base.temp_directory / entry["subfolder"] / entry["filename"]).convert("RGB"))
    assert pixels[..., 0].tolist() == [[0, 255], [127, 63]]  # 8-bit truncation, as every saved image


def test_image_compare_lists_both_sides(base: Folders) -> None:
    a, b = torch.zeros(2, 4, 4, 3), torch.ones(1, 4, 4, 3)
    ui = image_compare(a, b).ui
    assert ui is not None and len(ui["a_images"]) == 2 and len(ui["b_images"]) == 1
    assert ui["a_images"][0]["filename"].startswith("comfy.compare.a_temp_")
    assert image_compare(None, None).ui == {"a_images": [], "b_images": []}


def test_empty_sd3_latent() -> None:
    latent = empty_sd3_latent_image(1024, 512, 2).latent["samples"]
    assert latent.shape == (2, 16, 64, 128) and not latent.any()


def test_empty_sd3_latent_size_is_capped_at_validation() -> None:
    from graph.registry import REGISTRY
    from graph.validate import validate
    from graph.workflow import Link, Workflow, WorkflowNode
    from nodes import load_catalog

    load_catalog()
    workflow = Workflow()
    workflow.nodes["1"] = WorkflowNode("1", "EmptySD3LatentImage", {"width": 16384, "height": 16384, "batch_size": 64})
    workflow.nodes["2"] = WorkflowNode("2", "PreviewAny", {"source": Link("1", 0)})
    issues = validate(workflow, REGISTRY)
    assert any("pixels" in issue.message or issue.type == "too_many_pixels" for issue in issues), issues
