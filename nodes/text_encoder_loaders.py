"""Separate-file loaders of the newer families with ComfyUI's names and inputs: UNETLoader, CLIPLoader,
DualCLIPLoader, TripleCLIPLoader (files in models/diffusion_models (or unet) and models/text_encoders (or clip))."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

import folders
from diffusion.models.cache import MODEL_CACHE
from diffusion.models.diffusion_files import WeightDtype, load_diffusion_model
from diffusion.models.text_files import TextPart, clip_from_parts, load_text_encoder
from graph.fingerprint import file_fingerprint
from graph.spec import Effects, Outputs, node
from graph.widgets import Choices, OptionalInput
from nodes.sockets import CLIP, MODEL

ClipType = Literal["stable_diffusion", "stable_cascade", "sd3", "stable_audio", "mochi", "ltxv", "pixart", "cosmos",
                   "lumina2", "wan", "hidream", "chroma", "ace", "omnigen2", "qwen_image", "hunyuan_image"]
DualClipType = Literal["sdxl", "sd3", "flux", "hunyuan_video", "hidream"]
Device = Annotated[Literal["default", "cpu"], OptionalInput()]


def _choices(kind: str) -> Choices:
    return Choices(lambda: folders.list_model_files(kind), source=kind,
                   empty_hint=lambda: folders.missing_model_hint(kind))


def _fingerprint(kind: str, *inputs: str) -> Callable[[Mapping[str, Any]], str]:
    def fingerprint(values: Mapping[str, Any]) -> str:
        return "|".join(file_fingerprint(folders.model_path(kind, str(values[name]))) for name in inputs)

    return fingerprint


TextFile = Annotated[str, _choices("text_encoders")]


class ModelOutputs(Outputs):
    model: MODEL


class ClipOutputs(Outputs):
    clip: CLIP


def _part(name: str) -> TextPart:
    return MODEL_CACHE.get("text_encoder", folders.model_path("text_encoders", name), load_text_encoder)


@node("UNETLoader", category="advanced/loaders", display_name="Load Diffusion Model", effects=Effects.READS_FILES,
      fingerprint=_fingerprint("diffusion_models", "unet_name"))
def unet_loader(unet_name: Annotated[str, _choices("diffusion_models")],
                weight_dtype: WeightDtype = "default") -> ModelOutputs:
    """Load a diffusion model alone (SD3/SD3.5 MMDiT), optionally with fp8 weight precision."""
    path = folders.model_path("diffusion_models", unet_name)
    return ModelOutputs(model=MODEL_CACHE.get("diffusion_model", path, lambda p: load_diffusion_model(p, weight_dtype),
                                        weight_dtype))


@node("CLIPLoader", category="advanced/loaders", display_name="Load CLIP", effects=Effects.READS_FILES,
      fingerprint=_fingerprint("text_encoders", "clip_name"))
def clip_loader(clip_name: TextFile, type: ClipType = "stable_diffusion", device: Device = "default") -> ClipOutputs:
    """Load one text-encoder file as a CLIP of ``type``."""
    return ClipOutputs(clip=clip_from_parts("CLIPLoader", type, [("clip_name", _part(clip_name))]))


@node("DualCLIPLoader", category="advanced/loaders", effects=Effects.READS_FILES,
      fingerprint=_fingerprint("text_encoders", "clip_name1", "clip_name2"))
def dual_clip_loader(clip_name1: TextFile, clip_name2: TextFile, type: DualClipType = "sdxl",
                     device: Device = "default") -> ClipOutputs:
    """Load two text-encoder files as one CLIP of ``type`` (SD3: any two of CLIP-L, CLIP-G, T5)."""
    parts = [("clip_name1", _part(clip_name1)), ("clip_name2", _part(clip_name2))]
    return ClipOutputs(clip=clip_from_parts("DualCLIPLoader", type, parts))


@node("TripleCLIPLoader", category="advanced/loaders", effects=Effects.READS_FILES,
      fingerprint=_fingerprint("text_encoders", "clip_name1", "clip_name2", "clip_name3"))
def triple_clip_loader(clip_name1: TextFile, clip_name2: TextFile, clip_name3: TextFile) -> ClipOutputs:
    """Load CLIP-L, CLIP-G and T5-XXL files as one SD3 CLIP (the files are recognised by their tensors)."""
    parts = [("clip_name1", _part(clip_name1)), ("clip_name2", _part(clip_name2)), ("clip_name3", _part(clip_name3))]
    return ClipOutputs(clip=clip_from_parts("TripleCLIPLoader", "sd3", parts))
