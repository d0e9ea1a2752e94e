"""DualCFGGuider with ComfyUI's name, inputs, defaults and output (three-way guidance for SamplerCustomAdvanced)."""

from __future__ import annotations

from typing import Annotated, Literal

from diffusion.sampling.dual_cfg import DualCFGGuider
from graph.spec import Outputs, node
from graph.widgets import Range
from nodes.sockets import CONDITIONING, GUIDER, MODEL

Cfg = Annotated[float, Range(0.0, 100.0, step=0.1, round=0.01)]


class DualGuiderResult(Outputs):
    guider: GUIDER


@node("DualCFGGuider", category="sampling/custom_sampling/guiders")
def dual_cfg_guider(
    model: MODEL,
    cond1: CONDITIONING,
    cond2: CONDITIONING,
    negative: CONDITIONING,
    cfg_conds: Cfg = 8.0,
    cfg_cond2_negative: Cfg = 8.0,
    style: Literal["regular", "nested"] = "regular",
) -> DualGuiderResult:
    """Guidance from three conditionings: negative → cond2 scaled by cfg_cond2_negative, cond2 → cond1 by
    cfg_conds. InstructPix2Pix: cond1 and cond2 from InstructPixToPixConditioning (positive, negative), negative
    the plain negative prompt; cfg_conds is the text scale, cfg_cond2_negative the image scale."""
    return DualGuiderResult(DualCFGGuider(model, cond1, cond2, negative, cfg_conds, cfg_cond2_negative,
                                          nested=style == "nested"))
