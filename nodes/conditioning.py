"""Text-encoding and conditioning nodes with ComfyUI's names, inputs and defaults."""

from __future__ import annotations

import logging
from typing import Annotated

import torch

from graph.spec import Outputs, node
from graph.widgets import MAX_RESOLUTION, Range, Text
from nodes.sockets import CLIP, CONDITIONING

log = logging.getLogger(__name__)

Prompt = Annotated[str, Text(multiline=True, dynamic_prompts=True)]
Size = Annotated[int, Range(0, MAX_RESOLUTION)]
AreaSize = Annotated[int, Range(64, MAX_RESOLUTION, step=8)]
AreaOffset = Annotated[int, Range(0, MAX_RESOLUTION, step=8)]


class ConditioningOutputs(Outputs):
    conditioning: CONDITIONING


class ClipOutputs(Outputs):
    clip: CLIP


@node("CLIPTextEncode", category="conditioning", display_name="CLIP Text Encode (Prompt)")
def clip_text_encode(text: Prompt = "", *, clip: CLIP) -> ConditioningOutputs:
    """Encode a prompt (ComfyUI weight syntax, embedding:name, any length) with the model's text encoders."""
    return ConditioningOutputs(conditioning=[clip.encode(text)])


@node("CLIPSetLastLayer", category="conditioning", display_name="CLIP Set Last Layer")
def clip_set_last_layer(
    clip: CLIP, stop_at_clip_layer: Annotated[int, Range(-24, -1, step=1)] = -1
) -> ClipOutputs:
    """Read the text encoder's output at an earlier layer ("clip skip"): -1 is the last layer."""
    return ClipOutputs(clip=clip.with_layer(stop_at_clip_layer))


@node("CLIPTextEncodeSDXL", category="advanced/conditioning")
def clip_text_encode_sdxl(
    clip: CLIP,
    width: Size = 1024,
    height: Size = 1024,
    crop_w: Size = 0,
    crop_h: Size = 0,
    target_width: Size = 1024,
    target_height: Size = 1024,
    text_g: Prompt = "",
    text_l: Prompt = "",
) -> ConditioningOutputs:
    """SDXL: one prompt per text encoder (G and L) plus size and crop conditioning."""
    names = [e.name for e in clip.encoders]
    if names != ["clip_l", "clip_g"]:
        raise ValueError(f"CLIPTextEncodeSDXL: clip: expected an SDXL CLIP (clip_l + clip_g), received {names}")
    entry = clip.encode_texts({"clip_g": text_g, "clip_l": text_l})
    time_ids = (float(height), float(width), float(crop_h), float(crop_w), float(target_height), float(target_width))
    return ConditioningOutputs(conditioning=[entry.with_changes(sdxl_time_ids=time_ids)])


@node("CLIPTextEncodeSDXLRefiner", category="advanced/conditioning")
def clip_text_encode_sdxl_refiner(
    ascore: Annotated[float, Range(0.0, 1000.0, step=0.01)] = 6.0,
    width: Size = 1024,
    height: Size = 1024,
    text: Prompt = "",
    *,
    clip: CLIP,  # keyword-only: a required socket after widgets, in ComfyUI's input order
) -> ConditioningOutputs:
    """SDXL refiner: prompt plus aesthetic score and size conditioning."""
    entry = clip.encode(text)
    time_ids = (float(height), float(width), 0.0, 0.0, float(ascore))
    return ConditioningOutputs(conditioning=[entry.with_changes(sdxl_time_ids=time_ids)])


@node("ConditioningCombine", category="conditioning", display_name="Conditioning (Combine)")
def conditioning_combine(conditioning_1: CONDITIONING, conditioning_2: CONDITIONING) -> ConditioningOutputs:
    """Both conditionings are denoised and their predictions averaged (a list concatenation)."""
    return ConditioningOutputs(conditioning=list(conditioning_1) + list(conditioning_2))


@node("ConditioningConcat", category="conditioning", display_name="Conditioning (Concat)")
def conditioning_concat(
    conditioning_to: CONDITIONING, conditioning_from: CONDITIONING
) -> ConditioningOutputs:
    """Append the tokens of the first entry of ``conditioning_from`` to every entry of ``conditioning_to``."""
    if not conditioning_from:
        raise ValueError("ConditioningConcat: conditioning_from: expected at least one entry, received none")
    if len(conditioning_from) > 1:
        log.warning("ConditioningConcat: conditioning_from has %d entries; only the first is used",
                    len(conditioning_from))  # fmt: skip
    tokens = conditioning_from[0].cross_attn
    out = []
    for entry in conditioning_to:
        if entry.cross_attn.shape[-1] != tokens.shape[-1]:
            raise ValueError(
                f"ConditioningConcat: conditioning_from: expected width {entry.cross_attn.shape[-1]}, "
                f"received {tokens.shape[-1]}"
            )
        repeated = tokens.expand(entry.cross_attn.shape[0], -1, -1) if tokens.shape[0] == 1 else tokens
        out.append(entry.with_changes(cross_attn=torch.cat([entry.cross_attn, repeated.to(entry.cross_attn)], 1)))
    return ConditioningOutputs(conditioning=out)


@node("ConditioningSetArea", category="conditioning", display_name="Conditioning (Set Area)")
def conditioning_set_area(
    conditioning: CONDITIONING,
    width: AreaSize = 64,
    height: AreaSize = 64,
    x: AreaOffset = 0,
    y: AreaOffset = 0,
    strength: Annotated[float, Range(0.0, 10.0, step=0.01)] = 1.0,
) -> ConditioningOutputs:
    """Restrict each entry to a rectangle (pixels; ComfyUI stores it in latent units, //8) with a strength."""
    area = (height, width, y, x)
    # A pixel area replaces a percentage area or mask bounds set before (ComfyUI keeps one "area").
    return ConditioningOutputs(conditioning=[e.with_changes(area=area, area_percent=None, strength=strength,
                                                            set_area_to_bounds=False) for e in conditioning])


@node("ConditioningZeroOut", category="advanced/conditioning")
def conditioning_zero_out(conditioning: CONDITIONING) -> ConditioningOutputs:
    """Zero the text embeddings and the pooled output (keeps everything else)."""
    out = []
    for entry in conditioning:
        pooled = None if entry.pooled_output is None else torch.zeros_like(entry.pooled_output)
        out.append(entry.with_changes(cross_attn=torch.zeros_like(entry.cross_attn), pooled_output=pooled))
    return ConditioningOutputs(conditioning=out)
