"""SD3/SD3.5 nodes with ComfyUI's names, inputs and defaults: ModelSamplingSD3, CLIPTextEncodeSD3."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Literal

from diffusion.models.model import UnetModel
from diffusion.sampling.flow import FlowParams
from diffusion.text.sd3_text import encode_sd3
from graph.spec import Outputs, node
from graph.widgets import Range, Text
from nodes.sockets import CLIP, CONDITIONING, MODEL

Prompt = Annotated[str, Text(multiline=True, dynamic_prompts=True)]


class ModelResult(Outputs):
    model: MODEL


class ConditioningResult(Outputs):
    conditioning: CONDITIONING


@node("ModelSamplingSD3", category="advanced/model")
def model_sampling_sd3(model: MODEL, shift: Annotated[float, Range(0.0, 100.0, step=0.01)] = 3.0) -> ModelResult:
    """Rectified-flow sampling with SD3's time shift σ = s·t / (1 + (s−1)·t) (higher: more steps at high noise)."""
    if not isinstance(model, UnetModel):
        raise ValueError(f"ModelSamplingSD3: input 'model' expected a diffusion MODEL from a loader, "
                         f"received {type(model).__name__}")
    return ModelResult(replace(model, extras={**model.extras, "flow": FlowParams("sd3", float(shift), 1000.0)}))


@node("CLIPTextEncodeSD3", category="advanced/conditioning")
def clip_text_encode_sd3(
    clip: CLIP, clip_l: Prompt = "", clip_g: Prompt = "", t5xxl: Prompt = "",
    empty_padding: Literal["none", "empty_prompt"] = "none",
) -> ConditioningResult:
    """Encode one prompt per SD3 text encoder; with empty_padding "none" an empty prompt contributes nothing."""
    if clip.family != "sd3":
        raise ValueError(f"CLIPTextEncodeSD3: input 'clip' expected an SD3 CLIP (CLIP-L/CLIP-G/T5), "
                         f"received a {clip.family} CLIP")
    entry = encode_sd3(clip, {"clip_l": clip_l, "clip_g": clip_g, "t5xxl": t5xxl},
                       skip_empty=empty_padding == "none")
    return ConditioningResult(conditioning=[entry])
