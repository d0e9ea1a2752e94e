"""Model patches that change how a MODEL samples without copying its weights: FreeU, FreeU_V2, RescaleCFG,
ModelSamplingDiscrete, DifferentialDiffusion (ComfyUI's names, inputs, defaults and limits)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from diffusion.models.model import UnetModel
from diffusion.models.model_options import SamplingOverride, options_of
from diffusion.models.unet_patches import FreeU
from diffusion.sampling.cfg_patches import RescaleCfg
from diffusion.sampling.mask_patches import DifferentialDiffusionMask
from diffusion.types import DiffusionModel
from graph.sockets import Socket
from graph.spec import Outputs, node
from graph.widgets import OptionalInput, Range, Toggle

ModelInput = Annotated[DiffusionModel, Socket("MODEL")]
FreeUScale = Annotated[float, Range(0.0, 10.0, step=0.01)]


class ModelResult(Outputs):
    model: Annotated[DiffusionModel, Socket("MODEL")]


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
def freeu(model: ModelInput, b1: FreeUScale = 1.1, b2: FreeUScale = 1.2, s1: FreeUScale = 0.9,
          s2: FreeUScale = 0.2) -> ModelResult:
    """FreeU: boost decoder backbone features (b1, b2) and damp low frequencies of the skips (s1, s2)."""
    return _freeu("FreeU", model, FreeU(b1, b2, s1, s2, version=1))


@node("FreeU_V2", category="model_patches/unet")
def freeu_v2(model: ModelInput, b1: FreeUScale = 1.3, b2: FreeUScale = 1.4, s1: FreeUScale = 0.9,
             s2: FreeUScale = 0.2) -> ModelResult:
    """FreeU as released by its authors: the backbone boost follows the normalised channel mean."""
    return _freeu("FreeU_V2", model, FreeU(b1, b2, s1, s2, version=2))


@node("RescaleCFG", category="advanced/model")
def rescale_cfg(model: ModelInput,
                multiplier: Annotated[float, Range(0.0, 1.0, step=0.01)] = 0.7) -> ModelResult:
    """Rescale the guided prediction's std to the positive one's (for v-prediction and zero-SNR models)."""
    return patched("RescaleCFG", model, f"RescaleCFG({multiplier})", cfg_function=RescaleCfg(multiplier))


@node("ModelSamplingDiscrete", category="advanced/model")
def model_sampling_discrete(
    model: ModelInput,
    sampling: Literal["eps", "v_prediction", "lcm", "x0", "img_to_img"] = "eps",
    zsnr: Annotated[bool, Toggle()] = False,
) -> ModelResult:
    """Read the model's output as ε, v, x0, LCM or image-to-image, optionally with a zero-terminal-SNR σ table."""
    return patched("ModelSamplingDiscrete", model, f"ModelSamplingDiscrete({sampling}, zsnr={zsnr})",
                   sampling=SamplingOverride(sampling, zsnr))


@node("DifferentialDiffusion", category="_for_testing", display_name="Differential Diffusion")
def differential_diffusion(
    model: ModelInput,
    strength: Annotated[float, Range(0.0, 1.0, step=0.01), OptionalInput()] = 1.0,
) -> ModelResult:
    """Treat a soft inpainting mask as per-pixel denoise strength (repaint each cell for a share of the steps)."""
    return patched("DifferentialDiffusion", model, f"DifferentialDiffusion({strength})",
                   denoise_mask_function=DifferentialDiffusionMask(strength))
