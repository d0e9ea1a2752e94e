"""Image nodes with ComfyUI's names, inputs and defaults: load, save, preview, scale, invert, Canny."""

from __future__ import annotations

import io
import logging
import random
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import torch

import folders
from graph.comfy_export import to_comfy_ui
from graph.fingerprint import file_fingerprint
from graph.formats import NATIVE_FORMAT, load_workflow
from graph.registry import REGISTRY
from graph.spec import Effects, NoOutputs, Outputs, node
from graph.widgets import MAX_RESOLUTION, Allocates, Choices, Hidden, ImageUpload, Range, Text
from imaging.canny import canny_edges
from imaging.png_metadata import PREVIEW_COMPRESS_LEVEL, SAVE_COMPRESS_LEVEL, save_png
from imaging.resize import CropMethod, ImageUpscaleMethod, scale_images
from imaging.tensors import check_image_tensor, load_image_frames, load_mask_channel, tensor_to_pil
from nodes.sockets import IMAGE, MASK

log = logging.getLogger(__name__)

PromptGraph = Annotated[dict[str, Any] | None, Hidden("PROMPT")]
ExtraPngInfo = Annotated[dict[str, Any] | None, Hidden("EXTRA_PNGINFO")]


def input_images() -> list[str]:
    """The image files in input/ (subfolders included): LoadImage's options."""
    return folders.list_input_files(folders.IMAGE_EXTENSIONS)


InputImage = Annotated[str, Choices(input_images, source="input images"), ImageUpload()]


def input_image_path(name: str) -> Path:
    """The input/ file a LoadImage value names; ComfyUI's " [input]" annotation (its mask editor writes
    "clipspace/x.png [input]") is accepted. Other folders' annotations are not: validation refuses them."""
    kind, plain = folders.split_annotated_name(name)
    return folders.resolve_path("input", plain if kind == "input" else name)


def _input_file_hash(values: Mapping[str, Any]) -> str:
    """The sha256 of the chosen input image (memoised by size and mtime): a replaced file reruns the node."""
    return file_fingerprint(input_image_path(str(values["image"])), content_hash=True)


class LoadedImage(Outputs):
    image: IMAGE
    mask: MASK


class MaskResult(Outputs):
    mask: MASK


class ImageResult(Outputs):
    image: IMAGE


@node(
    "LoadImage",
    category="image",
    display_name="Load Image",
    effects=Effects.READS_FILES,
    fingerprint=_input_file_hash,
)
def load_image(image: InputImage) -> LoadedImage:
    """Load an image from input/: all frames as a batch, and a mask from its alpha (1 - alpha)."""
    images, masks = load_image_frames(input_image_path(image))
    return LoadedImage(image=images, mask=masks)


@node(
    "LoadImageMask",
    category="mask",
    display_name="Load Image (as Mask)",
    effects=Effects.READS_FILES,
    fingerprint=_input_file_hash,
)
def load_image_mask(image: InputImage, channel: Literal["alpha", "red", "green", "blue"]) -> MaskResult:
    """Load one channel of an image from input/ as a mask (alpha is inverted: 1 - alpha)."""
    return MaskResult(mask=load_mask_channel(input_image_path(image), channel))


def comfyui_pnginfo(extra_pnginfo: dict[str, Any] | None) -> dict[str, Any] | None:
    """extra_pnginfo with a native-format `workflow` rewritten as a ComfyUI UI workflow.

    ComfyUI's editor opens a dropped file from its `workflow` chunk and only falls back to `prompt` when there
    is none, so a chunk in our own format would stop the file from opening there. Our editor reads both forms.
    A workflow that cannot be converted is left out (the `prompt` chunk still carries the graph).
    """
    if not extra_pnginfo:
        return extra_pnginfo
    workflow = extra_pnginfo.get("workflow")
    if not (isinstance(workflow, dict) and workflow.get("format") == NATIVE_FORMAT):
        return extra_pnginfo
    converted = dict(extra_pnginfo)
    try:
        converted["workflow"] = to_comfy_ui(load_workflow(workflow, REGISTRY), REGISTRY)
    except Exception as error:  # metadata must never fail a save
        log.warning("workflow left out of the saved file's metadata: %s", error)
        del converted["workflow"]
    return converted


def write_images(
    images: torch.Tensor,
    filename_prefix: str,
    *,
    kind: str,
    prompt: dict[str, Any] | None,
    extra_pnginfo: dict[str, Any] | None,
    compress_level: int,
) -> NoOutputs:
    """Save a batch as `prefix_NNNNN_.png` in the folder of `kind`, with ComfyUI's metadata and ui record."""
    check_image_tensor(images)
    height, width = int(images.shape[1]), int(images.shape[2])
    target = folders.save_target(filename_prefix, width, height, kind=kind)
    counter = target.counter
    metadata = comfyui_pnginfo(extra_pnginfo)
    results = []
    for index, image in enumerate(images):
        encoded = io.BytesIO()
        save_png(
            tensor_to_pil(image),
            encoded,
            prompt=prompt,
            extra_pnginfo=metadata,
            compress_level=compress_level,
        )
        name, used = target.write_new_file(encoded.getvalue(), "png", counter, batch_number=index)
        counter = used + 1
        results.append({"filename": name, "subfolder": target.subfolder, "type": kind})
    return NoOutputs(ui={"images": results})


@node("SaveImage", category="image", display_name="Save Image", effects=Effects.WRITES_FILES)
def save_image(
    images: IMAGE,
    filename_prefix: Annotated[str, Text(check=folders.output_prefix_problem)] = "ComfyUI",
    prompt: PromptGraph = None,
    extra_pnginfo: ExtraPngInfo = None,
) -> NoOutputs:
    """Save images to output/ as PNGs that carry the workflow (`prompt` and `workflow` chunks, as ComfyUI)."""
    return write_images(
        images,
        filename_prefix,
        kind="output",
        prompt=prompt,
        extra_pnginfo=extra_pnginfo,
        compress_level=SAVE_COMPRESS_LEVEL,
    )


@node("PreviewImage", category="image", display_name="Preview Image", effects=Effects.WRITES_FILES)
def preview_image(images: IMAGE, prompt: PromptGraph = None, extra_pnginfo: ExtraPngInfo = None) -> NoOutputs:
    """Save images to temp/ for viewing (emptied at start and exit)."""
    suffix = "".join(random.choice(string.ascii_lowercase) for _ in range(5))
    return write_images(
        images,
        f"ComfyUI_temp_{suffix}",
        kind="temp",
        prompt=prompt,
        extra_pnginfo=extra_pnginfo,
        compress_level=PREVIEW_COMPRESS_LEVEL,
    )


Size = Annotated[int, Range(0, MAX_RESOLUTION, step=1)]


@node("ImageScale", category="image/upscaling", display_name="Upscale Image")
def image_scale(
    image: IMAGE,
    upscale_method: ImageUpscaleMethod,
    width: Annotated[Size, Allocates("width")] = 512,
    height: Annotated[Size, Allocates("height")] = 512,
    crop: CropMethod = "disabled",
) -> ImageResult:
    """Resize to width x height; 0 for one side keeps the aspect ratio; `center` crops to the new aspect."""
    check_image_tensor(image, "image")
    return ImageResult(image=scale_images(image, upscale_method, width, height, crop))


@node("ImageScaleBy", category="image/upscaling", display_name="Upscale Image By")
def image_scale_by(
    image: IMAGE,
    upscale_method: ImageUpscaleMethod,
    scale_by: Annotated[float, Range(0.01, 8.0, step=0.01)] = 1.0,
) -> ImageResult:
    """Resize by a factor (each side rounded to whole pixels)."""
    check_image_tensor(image, "image")
    width = max(1, round(image.shape[2] * scale_by))
    height = max(1, round(image.shape[1] * scale_by))
    return ImageResult(image=scale_images(image, upscale_method, width, height, "disabled"))


@node("ImageInvert", category="image", display_name="Invert Image")
def image_invert(image: IMAGE) -> ImageResult:
    """1 - image."""
    check_image_tensor(image, "image")
    return ImageResult(image=1.0 - image)


Threshold = Annotated[float, Range(0.01, 0.99, step=0.01)]


@node("Canny", category="image/preprocessors", display_name="Canny")
def canny(image: IMAGE, low_threshold: Threshold = 0.4, high_threshold: Threshold = 0.8) -> ImageResult:
    """Edge map (white edges on black) for ControlNet; thresholds apply to the gradient of the 0..1 image."""
    check_image_tensor(image, "image")
    if low_threshold > high_threshold:
        raise ValueError(
            f"Canny: low_threshold ({low_threshold}) must not be above high_threshold ({high_threshold})"
        )
    return ImageResult(image=canny_edges(image, low_threshold, high_threshold))
