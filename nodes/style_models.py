"""Style-model nodes with ComfyUI's names, inputs and outputs: StyleModelLoader and StyleModelApply (Flux Redux
and the T2I-Adapter style model: image tokens appended to the text conditioning)."""

from __future__ import annotations

from typing import Annotated, Literal

import torch

import folders
from diffusion.models.cache import MODEL_CACHE
from diffusion.vision.style_model import load_style_model
from graph.spec import Effects, Outputs, node
from graph.widgets import Range
from nodes.clip_vision import ConditioningResult
from nodes.loaders import _fingerprint, _model_choices
from nodes.sockets import CLIP_VISION_OUTPUT, CONDITIONING, STYLE_MODEL


class StyleModelResult(Outputs):
    style_model: STYLE_MODEL


@node(
    "StyleModelLoader",
    category="loaders",
    display_name="Load Style Model",
    effects=Effects.READS_FILES,
    fingerprint=_fingerprint("style_models", "style_model_name"),
)
def style_model_loader(style_model_name: Annotated[str, _model_choices("style_models")]) -> StyleModelResult:
    """Load a style model (Flux Redux, T2I-Adapter style) from models/style_models/."""
    path = folders.model_path("style_models", style_model_name)
    return StyleModelResult(MODEL_CACHE.get("style_model", path, load_style_model))


@node("StyleModelApply", category="conditioning/style_model", display_name="Apply Style Model")
def style_model_apply(
    conditioning: CONDITIONING,
    style_model: STYLE_MODEL,
    clip_vision_output: CLIP_VISION_OUTPUT,
    strength: Annotated[float, Range(0.0, 10.0, step=0.001)] = 1.0,
    strength_type: Literal["multiply", "attn_bias"] = "multiply",
) -> ConditioningResult:
    """Append the style tokens (all images' tokens in one row) to every entry's text tokens.

    `multiply` scales the tokens by `strength`. `attn_bias` weights them through an attention bias of
    log(strength), which this engine's attention does not take yet: only strength 1 (no bias) runs.
    """
    tokens = style_model.tokens(clip_vision_output.last_hidden_state).flatten(0, 1).unsqueeze(0)
    if strength_type == "multiply":
        tokens = tokens * strength
    elif strength != 1.0:
        raise ValueError(f"StyleModelApply: strength_type 'attn_bias' with strength {strength} needs attention "
                         "masks, which this engine does not support yet; use 'multiply' or strength 1.0")
    out = []
    for entry in conditioning:
        if tokens.shape[-1] != entry.cross_attn.shape[-1]:
            raise ValueError(f"StyleModelApply: the style model gives tokens of width {tokens.shape[-1]} and the "
                             f"conditioning has width {entry.cross_attn.shape[-1]} (a model of another family?)")
        extra = tokens.to(entry.cross_attn.device, entry.cross_attn.dtype).expand(entry.cross_attn.shape[0], -1, -1)
        out.append(entry.with_changes(cross_attn=torch.cat((entry.cross_attn, extra), dim=1)))
    return ConditioningResult(out)
