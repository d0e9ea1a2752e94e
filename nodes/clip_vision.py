"""Image-prompting nodes with ComfyUI's names, inputs and outputs: CLIPVisionLoader, CLIPVisionEncode and
unCLIPConditioning (the revision/unCLIP path: image embeddings attached to the conditioning)."""

from __future__ import annotations

from typing import Annotated, Literal

import folders
from diffusion.models.cache import MODEL_CACHE
from diffusion.vision.clip_vision import load_clip_vision
from graph.spec import Effects, Outputs, node
from graph.widgets import Range
from imaging.batching import as_image_batch
from nodes.loaders import _fingerprint, _model_choices
from nodes.sockets import CLIP_VISION, CLIP_VISION_OUTPUT, CONDITIONING, IMAGE


class ClipVisionResult(Outputs):
    clip_vision: CLIP_VISION


class ClipVisionEncoded(Outputs):
    clip_vision_output: CLIP_VISION_OUTPUT


class ConditioningResult(Outputs):
    conditioning: CONDITIONING


@node(
    "CLIPVisionLoader",
    category="loaders",
    display_name="Load CLIP Vision",
    effects=Effects.READS_FILES,
    fingerprint=_fingerprint("clip_vision", "clip_name"),
)
def clip_vision_loader(clip_name: Annotated[str, _model_choices("clip_vision")]) -> ClipVisionResult:
    """Load a CLIP (ViT-L/H/bigG) or SigLIP vision tower from models/clip_vision/."""
    path = folders.model_path("clip_vision", clip_name)
    return ClipVisionResult(MODEL_CACHE.get("clip_vision", path, load_clip_vision))


@node("CLIPVisionEncode", category="conditioning", display_name="CLIP Vision Encode")
def clip_vision_encode(clip_vision: CLIP_VISION, image: IMAGE, crop: Literal["center", "none"] = "center"
                       ) -> ClipVisionEncoded:
    """Encode images: `center` scales the short side to the tower's size and crops, `none` squashes."""
    images = as_image_batch("CLIPVisionEncode", image)
    return ClipVisionEncoded(clip_vision.encode(images, crop=crop == "center"))


@node("unCLIPConditioning", category="conditioning", display_name="unCLIPConditioning")
def unclip_conditioning(
    conditioning: CONDITIONING,
    clip_vision_output: CLIP_VISION_OUTPUT,
    strength: Annotated[float, Range(-10.0, 10.0, step=0.01)] = 1.0,
    noise_augmentation: Annotated[float, Range(0.0, 1.0, step=0.01)] = 0.0,
) -> ConditioningResult:
    """Attach image embeddings to every entry (`unclip_conditioning` in its extras); strength 0 changes nothing.

    unCLIP models and SDXL (revision) read them when sampling, in place of or next to the text's pooled output.
    """
    if strength == 0:
        return ConditioningResult(conditioning)
    item = {"clip_vision_output": clip_vision_output, "strength": strength,
            "noise_augmentation": noise_augmentation}
    out = []
    for entry in conditioning:
        extras = dict(entry.extras)
        extras["unclip_conditioning"] = [*extras.get("unclip_conditioning", []), item]
        out.append(entry.with_changes(extras=extras))
    return ConditioningResult(out)
