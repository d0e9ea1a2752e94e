"""The catalog's socket annotations: one per type of the vocabulary (graph/sockets.py), one Python class each.

    def vae_decode(samples: LATENT, vae: VAE) -> ImageResult: ...

Node modules take their socket parameter and output-field types from here instead of spelling
`Annotated[..., Socket(...)]` themselves, so a type name always means the same class. A test checks that each
annotation's class is the one the vocabulary names. Optional sockets add `OptionalInput()` to their own
`Annotated[X | None, Socket(...), OptionalInput()]`.
"""

from __future__ import annotations

from typing import Annotated, Any

import torch

from diffusion.models.controlnet import ControlNet
from diffusion.models.model import UnetModel
from diffusion.sampling.custom_values import NoiseSource, SamplerChoice
from diffusion.sampling.guiders import Guider
from diffusion.text.clip import Clip
from diffusion.types import Conditioning
from diffusion.vae import Vae
from diffusion.vision.clip_vision import ClipVision, ClipVisionOutput
from diffusion.vision.style_model import StyleModel
from graph.sockets import Socket

MODEL = Annotated[UnetModel, Socket("MODEL")]
CLIP = Annotated[Clip, Socket("CLIP")]
VAE = Annotated[Vae, Socket("VAE")]
CONDITIONING = Annotated[Conditioning, Socket("CONDITIONING")]
#: A LATENT value: {"samples": Tensor[B, C, H/8, W/8], "noise_mask"?: Tensor, "batch_index"?: list[int]}
LatentDict = dict[str, Any]
LATENT = Annotated[LatentDict, Socket("LATENT")]
IMAGE = Annotated[torch.Tensor, Socket("IMAGE")]
MASK = Annotated[torch.Tensor, Socket("MASK")]
CONTROL_NET = Annotated[ControlNet, Socket("CONTROL_NET")]
SIGMAS = Annotated[torch.Tensor, Socket("SIGMAS")]
SAMPLER = Annotated[SamplerChoice, Socket("SAMPLER")]
GUIDER = Annotated[Guider, Socket("GUIDER")]
NOISE = Annotated[NoiseSource, Socket("NOISE")]
CLIP_VISION = Annotated[ClipVision, Socket("CLIP_VISION")]
CLIP_VISION_OUTPUT = Annotated[ClipVisionOutput, Socket("CLIP_VISION_OUTPUT")]
STYLE_MODEL = Annotated[StyleModel, Socket("STYLE_MODEL")]
#: Widget value types as outputs (GetImageSize, primitives): links from them feed widget inputs of the same type.
INT = Annotated[int, Socket("INT")]
FLOAT = Annotated[float, Socket("FLOAT")]
STRING = Annotated[str, Socket("STRING")]
BOOLEAN = Annotated[bool, Socket("BOOLEAN")]
