"""The op nodes' schemas as ComfyUI declares them: input names and order, defaults, ranges, output types.

Transcribed from ComfyUI's nodes.py, comfy_extras/nodes_mask.py, nodes_images.py, nodes_latent.py and
nodes_post_processing.py: (input name, default, min, max, step) per widget; sockets as (name, TYPE).
"""

from __future__ import annotations

from typing import Any

import pytest

from graph.registry import REGISTRY
from graph.schema import object_info
from graph.widgets import MAX_RESOLUTION as M
from nodes import load_catalog

load_catalog()

EXPECTED: dict[str, tuple[list[tuple[Any, ...]], list[str]]] = {
    "ImagePadForOutpaint": (
        [("image", "IMAGE"), ("left", 0, 0, M, 8), ("top", 0, 0, M, 8), ("right", 0, 0, M, 8),
         ("bottom", 0, 0, M, 8), ("feathering", 40, 0, M, 1)], ["IMAGE", "MASK"]),
    "ImageScaleToTotalPixels": (
        [("image", "IMAGE"), ("upscale_method", ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]),
         ("megapixels", 1.0, 0.01, 16.0, 0.01), ("resolution_steps", 1, 1, 256, None)], ["IMAGE"]),
    "ImageCrop": ([("image", "IMAGE"), ("width", 512, 1, M, 1), ("height", 512, 1, M, 1), ("x", 0, 0, M, 1),
                   ("y", 0, 0, M, 1)], ["IMAGE"]),
    "ImageCompositeMasked": (
        [("destination", "IMAGE"), ("source", "IMAGE"), ("x", 0, 0, M, 1), ("y", 0, 0, M, 1),
         ("resize_source", False), ("mask", "MASK")], ["IMAGE"]),
    "ImageBlend": ([("image1", "IMAGE"), ("image2", "IMAGE"), ("blend_factor", 0.5, 0.0, 1.0, 0.01),
                    ("blend_mode", ["normal", "multiply", "screen", "overlay", "soft_light", "difference"])],
                   ["IMAGE"]),
    "ImageBlur": ([("image", "IMAGE"), ("blur_radius", 1, 1, 31, 1), ("sigma", 1.0, 0.1, 10.0, 0.1)], ["IMAGE"]),
    "ImageSharpen": ([("image", "IMAGE"), ("sharpen_radius", 1, 1, 31, 1), ("sigma", 1.0, 0.1, 10.0, 0.01),
                      ("alpha", 1.0, 0.0, 5.0, 0.01)], ["IMAGE"]),
    "EmptyImage": ([("width", 512, 1, M, 1), ("height", 512, 1, M, 1), ("batch_size", 1, 1, 4096, None),
                    ("color", 0, 0, 0xFFFFFF, 1)], ["IMAGE"]),
    "GetImageSize": ([("image", "IMAGE")], ["INT", "INT", "INT"]),
    "ImageBatch": ([("image1", "IMAGE"), ("image2", "IMAGE")], ["IMAGE"]),
    "RepeatImageBatch": ([("image", "IMAGE"), ("amount", 1, 1, 4096, None)], ["IMAGE"]),
    "ImageFlip": ([("image", "IMAGE"), ("flip_method", ["x-axis: vertically", "y-axis: horizontally"])], ["IMAGE"]),
    "ImageRotate": ([("image", "IMAGE"), ("rotation", ["none", "90 degrees", "180 degrees", "270 degrees"])],
                    ["IMAGE"]),
    "GrowMask": ([("mask", "MASK"), ("expand", 0, -M, M, 1), ("tapered_corners", True)], ["MASK"]),
    "FeatherMask": ([("mask", "MASK"), ("left", 0, 0, M, 1), ("top", 0, 0, M, 1), ("right", 0, 0, M, 1),
                     ("bottom", 0, 0, M, 1)], ["MASK"]),
    "InvertMask": ([("mask", "MASK")], ["MASK"]),
    "MaskToImage": ([("mask", "MASK")], ["IMAGE"]),
    "ImageToMask": ([("image", "IMAGE"), ("channel", ["red", "green", "blue", "alpha"])], ["MASK"]),
    "SolidMask": ([("value", 1.0, 0.0, 1.0, 0.01), ("width", 512, 1, M, 1), ("height", 512, 1, M, 1)], ["MASK"]),
    "MaskComposite": ([("destination", "MASK"), ("source", "MASK"), ("x", 0, 0, M, 1), ("y", 0, 0, M, 1),
                       ("operation", ["multiply", "add", "subtract", "and", "or", "xor"])], ["MASK"]),
    "ThresholdMask": ([("mask", "MASK"), ("value", 0.5, 0.0, 1.0, 0.01)], ["MASK"]),
    "CropMask": ([("mask", "MASK"), ("x", 0, 0, M, 1), ("y", 0, 0, M, 1), ("width", 512, 1, M, 1),
                  ("height", 512, 1, M, 1)], ["MASK"]),
    "LatentComposite": ([("samples_to", "LATENT"), ("samples_from", "LATENT"), ("x", 0, 0, M, 8),
                         ("y", 0, 0, M, 8), ("feather", 0, 0, M, 8)], ["LATENT"]),
    "LatentCompositeMasked": ([("destination", "LATENT"), ("source", "LATENT"), ("x", 0, 0, M, 8),
                               ("y", 0, 0, M, 8), ("resize_source", False), ("mask", "MASK")], ["LATENT"]),
    "LatentBlend": ([("samples1", "LATENT"), ("samples2", "LATENT"), ("blend_factor", 0.5, 0, 1, 0.01)],
                    ["LATENT"]),
    "LatentAdd": ([("samples1", "LATENT"), ("samples2", "LATENT")], ["LATENT"]),
    "LatentSubtract": ([("samples1", "LATENT"), ("samples2", "LATENT")], ["LATENT"]),
    "LatentMultiply": ([("samples", "LATENT"), ("multiplier", 1.0, -10.0, 10.0, 0.01)], ["LATENT"]),
    "LatentInterpolate": ([("samples1", "LATENT"), ("samples2", "LATENT"), ("ratio", 1.0, 0.0, 1.0, 0.01)],
                          ["LATENT"]),
    "LatentRotate": ([("samples", "LATENT"), ("rotation", ["none", "90 degrees", "180 degrees", "270 degrees"])],
                     ["LATENT"]),
    "LatentFlip": ([("samples", "LATENT"), ("flip_method", ["x-axis: vertically", "y-axis: horizontally"])],
                   ["LATENT"]),
    "LatentCrop": ([("samples", "LATENT"), ("width", 512, 64, M, 8), ("height", 512, 64, M, 8), ("x", 0, 0, M, 8),
                    ("y", 0, 0, M, 8)], ["LATENT"]),
    "LatentBatch": ([("samples1", "LATENT"), ("samples2", "LATENT")], ["LATENT"]),
    "LatentBatchSeedBehavior": ([("samples", "LATENT"), ("seed_behavior", ["random", "fixed"])], ["LATENT"]),
    "CLIPVisionEncode": ([("clip_vision", "CLIP_VISION"), ("image", "IMAGE"), ("crop", ["center", "none"])],
                         ["CLIP_VISION_OUTPUT"]),
    "unCLIPConditioning": ([("conditioning", "CONDITIONING"), ("clip_vision_output", "CLIP_VISION_OUTPUT"),
                            ("strength", 1.0, -10.0, 10.0, 0.01), ("noise_augmentation", 0.0, 0.0, 1.0, 0.01)],
                           ["CONDITIONING"]),
    "StyleModelApply": ([("conditioning", "CONDITIONING"), ("style_model", "STYLE_MODEL"),
                         ("clip_vision_output", "CLIP_VISION_OUTPUT"), ("strength", 1.0, 0.0, 10.0, 0.001),
                         ("strength_type", ["multiply", "attn_bias"])], ["CONDITIONING"]),
    "StringConcatenate": ([("string_a", "STRING"), ("string_b", "STRING"), ("delimiter", "STRING")], ["STRING"]),
    "PrimitiveBoolean": ([("value", False)], ["BOOLEAN"]),
    "PrimitiveString": ([("value", "STRING")], ["STRING"]),
    "EmptySD3LatentImage": ([("width", 1024, 16, M, 16), ("height", 1024, 16, M, 16), ("batch_size", 1, 1, 4096, None)],
                            ["LATENT"]),
    "MaskPreview": ([("mask", "MASK")], ["MASK"]),
    "ImageCompare": ([("image_a", "IMAGE"), ("image_b", "IMAGE")], []),
}


def _declared(info: dict[str, Any]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for section in ("required", "optional"):
        for name in info["input_order"].get(section, []):
            entry = info["input"][section][name]
            kind, options = entry[0], (entry[1] if len(entry) > 1 else {})
            if isinstance(kind, list):
                rows.append((name, kind))
            elif kind in ("INT", "FLOAT"):
                rows.append((name, options["default"], options["min"], options["max"], options.get("step")))
            elif kind == "BOOLEAN":
                rows.append((name, options["default"]))
            else:
                rows.append((name, kind))
    return rows


@pytest.mark.parametrize("node_id", sorted(EXPECTED))
def test_schema_matches_comfyui(node_id: str) -> None:
    spec = REGISTRY.get(node_id)
    assert spec is not None, f"{node_id} is not registered"
    info = object_info(spec)
    inputs, outputs = EXPECTED[node_id]
    assert _declared(info) == inputs
    assert info["output"] == outputs
    labels = {"GetImageSize": ["width", "height", "batch_size"], "MaskPreview": ["mask"]}
    if node_id in labels:
        assert info["output_name"] == labels[node_id]
    if node_id in ("ImageCompositeMasked", "LatentCompositeMasked"):
        assert info["input_order"]["optional"] == ["mask"]
