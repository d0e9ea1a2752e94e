"""Model patches that change how a MODEL samples without copying its weights: FreeU, FreeU_V2, RescaleCFG,
ModelSamplingDiscrete, DifferentialDiffusion, PerturbedAttentionGuidance, SelfAttentionGuidance,
PatchModelAddDownscale (ComfyUI's names, inputs, defaults and limits)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from diffusion.models.attention_patches import PerturbedAttentionGuidance
from diffusion.models.downscale_patch import DeepShrink
from diffusion.models.model import UnetModel
from diffusion.models.model_options import SamplingOverride, options_of
from diffusion.models.sag_patch import SelfAttentionGuidance
from diffusion.models.unet_patches import FreeU
from diffusion.sampling.cfg_patches import RescaleCfg
from diffusion.sampling.guiders import model_sampling_for
from diffusion.sampling.mask_patches import DifferentialDiffusionMask
from diffusion.types import DiffusionModel
from graph.spec import Outputs, node
from graph.widgets import OptionalInput, Range, Toggle
from nodes.sockets import MODEL

FreeUScale = Annotated[float, Range(0.0, 10.0, step=0.01)]


class ModelResult(Outputs):
    model: MODEL


def patched(node_id: str, model: DiffusionModel, label: str, **changes: Any) -> ModelResult:
    """A new MODEL value with one more sampling-time patch; the UNet and its weight patches are shared."""
    if not isinstance(model, UnetModel):
        raise ValueError(f"{node_id}: input 'model' expected a UNet MODEL (from a checkpoint loader), "
                         f"received {type(model).__name__}")
    return ModelResult(model.with_options(options_of(model).with_changes(label, **changes)))


def _freeu(node_id: str, model: DiffusionModel, patch: FreeU) -> ModelResult:
    hooks = (*options_of(model).unet_hooks, patch)
    return patched(node_id, model, f"{node_id}({patch.b1}, {patch.b2}, {patch.s1}, {patch.s2})", unet_hooks=hooks)


@node("FreeU", category="model_patches/unet")
def freeu(model: MODEL, b1: FreeUScale = 1.1, b2: FreeUScale = 1.2, s1: FreeUScale = 0.9,
          s2: FreeUScale = 0.2) -> ModelResult:
    """FreeU: boost decoder backbone features (b1, b2) and damp low frequencies of the skips (s1, s2)."""
    return _freeu("FreeU", model, FreeU(b1, b2, s1, s2, version=1))


@node("FreeU_V2", category="model_patches/unet")
def freeu_v2(model: MODEL, b1: FreeUScale = 1.3, b2: FreeUScale = 1.4, s1: FreeUScale = 0.9,
             s2: FreeUScale = 0.2) -> ModelResult:
    """FreeU as released by its authors: the backbone boost follows the normalised channel mean."""
    return _freeu("FreeU_V2", model, FreeU(b1, b2, s1, s2, version=2))


@node("RescaleCFG", category="advanced/model")
def rescale_cfg(model: MODEL,
                multiplier: Annotated[float, Range(0.0, 1.0, step=0.01)] = 0.7) -> ModelResult:
    """Rescale the guided prediction's std to the positive one's (for v-prediction and zero-SNR models)."""
    return patched("RescaleCFG", model, f"RescaleCFG({multiplier})", cfg_function=RescaleCfg(multiplier))


@node("ModelSamplingDiscrete", category="advanced/model")
def model_sampling_discrete(
    model: MODEL,
    sampling: Literal["eps", "v_prediction", "lcm", "x0", "img_to_img"] = "eps",
    zsnr: Annotated[bool, Toggle()] = False,
) -> ModelResult:
    """Read the model's output as ε, v, x0, LCM or image-to-image, optionally with a zero-terminal-SNR σ table."""
    return patched("ModelSamplingDiscrete", model, f"ModelSamplingDiscrete({sampling}, zsnr={zsnr})",
                   sampling=SamplingOverride(sampling, zsnr))


@node("DifferentialDiffusion", category="_for_testing", display_name="Differential Diffusion")
def differential_diffusion(
    model: MODEL,
    strength: Annotated[float, Range(0.0, 1.0, step=0.01), OptionalInput()] = 1.0,
) -> ModelResult:
    """Treat a soft inpainting mask as per-pixel denoise strength (repaint each cell for a share of the steps)."""
    return patched("DifferentialDiffusion", model, f"DifferentialDiffusion({strength})",
                   denoise_mask_function=DifferentialDiffusionMask(strength))


@node("PerturbedAttentionGuidance", category="model_patches/unet")
def perturbed_attention_guidance(
    model: MODEL, scale: Annotated[float, Range(0.0, 100.0, step=0.01, round=0.01)] = 3.0,
) -> ModelResult:
    """Guide away from a prediction whose middle-block self-attention is the identity (one extra pass a step)."""
    post = (*options_of(model).post_cfg, PerturbedAttentionGuidance(scale))
    return patched("PerturbedAttentionGuidance", model, f"PerturbedAttentionGuidance({scale})", post_cfg=post)


ResizeMethod = Literal["bicubic", "nearest-exact", "bilinear", "area", "bislerp"]


@node("PatchModelAddDownscale", category="model_patches/unet",
      display_name="PatchModelAddDownscale (Kohya Deep Shrink)")
def patch_model_add_downscale(
    model: MODEL,
    block_number: Annotated[int, Range(1, 32, step=1)] = 3,
    downscale_factor: Annotated[float, Range(0.1, 9.0, step=0.001)] = 2.0,
    start_percent: Annotated[float, Range(0.0, 1.0, step=0.001)] = 0.0,
    end_percent: Annotated[float, Range(0.0, 1.0, step=0.001)] = 0.35,
    downscale_after_skip: Annotated[bool, Toggle()] = True,
    downscale_method: ResizeMethod = "bicubic",
    upscale_method: ResizeMethod = "bicubic",
) -> ModelResult:
    """Shrink the UNet's features after an encoder block early in sampling (less repetition at large sizes)."""
    ms = model_sampling_for(model)
    shrink = DeepShrink(block_number, downscale_factor, ms.percent_to_sigma(start_percent),
                        ms.percent_to_sigma(end_percent), downscale_after_skip, downscale_method, upscale_method)
    hooks = (*options_of(model).unet_hooks, shrink)
    return patched("PatchModelAddDownscale", model, f"PatchModelAddDownscale({block_number}, {downscale_factor})",
                   unet_hooks=hooks)


@node("SelfAttentionGuidance", category="_for_testing", display_name="Self-Attention Guidance")
def self_attention_guidance(
    model: MODEL,
    scale: Annotated[float, Range(-2.0, 5.0, step=0.01)] = 0.5,
    blur_sigma: Annotated[float, Range(0.0, 10.0, step=0.1)] = 2.0,
) -> ModelResult:
    """Guide away from a prediction blurred where the middle block's self-attention is strongest."""
    sag = SelfAttentionGuidance(scale, blur_sigma)
    options = options_of(model)
    return patched("SelfAttentionGuidance", model, f"SelfAttentionGuidance({scale}, {blur_sigma})",
                   unet_hooks=(*options.unet_hooks, sag), post_cfg=(*options.post_cfg, sag))
