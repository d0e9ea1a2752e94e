"""CLIP and SigLIP vision encoders from single files in the layout ComfyUI loads (transformers' key names).

    vision = load_clip_vision(path)            # CLIPVisionModelWithProjection or SiglipVisionModel inside
    out = vision.encode(images, crop=True)     # ClipVisionOutput: last_hidden_state, image_embeds, penultimate

The file's keys are transformers' (`vision_model.encoder.layers.N.self_attn.q_proj.weight`,
`visual_projection.weight`), as in ComfyUI's `models/clip_vision/` files. The configuration is read off the
tensor shapes (width, depth, patch and image size, projection); heads follow the published models (16 for
ViT-L/H/bigG and SigLIP so400m, width/64 otherwise). A file with `vision_model.head.*` and no class embedding is
SigLIP. OpenCLIP's `visual.transformer.resblocks.*` layout is not converted (a clear error says so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from accelerate import init_empty_weights
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection, SiglipVisionConfig, SiglipVisionModel

from diffusion import devices
from diffusion.models.files import read_state_dict

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
SIGLIP_MEAN = SIGLIP_STD = (0.5, 0.5, 0.5)
#: Attention heads of the published towers by width (head width is not stored in the weights).
KNOWN_HEADS = {768: 12, 1024: 16, 1152: 16, 1280: 16, 1664: 16}
PATCH_KEY = "vision_model.embeddings.patch_embedding.weight"


class ClipVisionFileError(ValueError):
    """The file is not a CLIP/SigLIP vision tower this loader understands; the message says why."""


@dataclass(frozen=True)
class ClipVisionOutput:
    """The CLIP_VISION_OUTPUT value (ComfyUI's fields)."""

    #: Token states after the last layer [B, tokens, width] (SigLIP: after its final layer norm).
    last_hidden_state: torch.Tensor
    #: CLIP: the projected pooled embedding [B, projection_dim]; SigLIP: the token states (no projection).
    image_embeds: torch.Tensor
    #: Token states entering the last layer [B, tokens, width].
    penultimate_hidden_states: torch.Tensor


def preprocess(images: torch.Tensor, size: int, mean: tuple[float, ...], std: tuple[float, ...],
               crop: bool) -> torch.Tensor:
    """IMAGE [B, H, W, C] -> normalised pixels [B, 3, size, size], as ComfyUI's clip_preprocess.

    With `crop` the short side is scaled to `size` (bicubic, antialiased) and the centre cut out; without, the
    image is squashed to size x size. Pixels are rounded to 8 bits before normalising.
    """
    pixels = images[..., :3].movedim(-1, 1).float()
    if pixels.shape[2] != size or pixels.shape[3] != size:
        if crop:
            scale = size / min(pixels.shape[2], pixels.shape[3])
            target = (round(scale * pixels.shape[2]), round(scale * pixels.shape[3]))
        else:
            target = (size, size)
        pixels = F.interpolate(pixels, size=target, mode="bicubic", antialias=True)
        top, left = (pixels.shape[2] - size) // 2, (pixels.shape[3] - size) // 2
        pixels = pixels[:, :, top : top + size, left : left + size]
    pixels = torch.clip(255.0 * pixels, 0, 255).round() / 255.0
    return (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def _layer_count(state: dict[str, torch.Tensor]) -> int:
    indices = {int(m.group(1)) for key in state if (m := re.match(r"vision_model\.encoder\.layers\.(\d+)\.", key))}
    if not indices:
        raise ClipVisionFileError("no vision_model.encoder.layers.* tensors")
    return max(indices) + 1


def vision_config(state: dict[str, torch.Tensor]) -> CLIPVisionConfig | SiglipVisionConfig:
    """The transformers configuration a vision state dict was made with, read off its shapes."""
    patch = state[PATCH_KEY]
    width, channels, patch_size = int(patch.shape[0]), int(patch.shape[1]), int(patch.shape[2])
    positions = int(state["vision_model.embeddings.position_embedding.weight"].shape[0])
    siglip = "vision_model.embeddings.class_embedding" not in state
    grid = round((positions if siglip else positions - 1) ** 0.5)
    common: dict[str, Any] = {
        "hidden_size": width,
        "intermediate_size": int(state["vision_model.encoder.layers.0.mlp.fc1.weight"].shape[0]),
        "num_hidden_layers": _layer_count(state),
        "num_attention_heads": KNOWN_HEADS.get(width, max(1, width // 64)),
        "num_channels": channels,
        "image_size": grid * patch_size,
        "patch_size": patch_size,
    }
    if siglip:
        return SiglipVisionConfig(**common, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6,
                                  vision_use_head="vision_model.head.probe" in state)
    if "visual_projection.weight" not in state:
        raise ClipVisionFileError("a CLIP vision tower without visual_projection.weight (no image embeddings)")
    # OpenAI's ViT-L/14 was trained with quick GELU; the LAION ViT-H and bigG towers with exact GELU.
    quick = width == 1024 and common["num_hidden_layers"] == 24
    return CLIPVisionConfig(**common, projection_dim=int(state["visual_projection.weight"].shape[0]),
                            hidden_act="quick_gelu" if quick else "gelu", layer_norm_eps=1e-5)


class ClipVision:
    """The CLIP_VISION value: a vision tower with its preprocessing."""

    def __init__(self, model: torch.nn.Module, config: CLIPVisionConfig | SiglipVisionConfig, source: str) -> None:
        self.model = model
        self.config = config
        self.source = source
        self.siglip = isinstance(config, SiglipVisionConfig)
        size = config.image_size
        self.image_size = size if isinstance(size, int) else int(size[0]) if isinstance(size, list | tuple) else 224

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def encode(self, images: torch.Tensor, crop: bool = True) -> ClipVisionOutput:
        """Encode IMAGE [B, H, W, C]; outputs are float32 on the CPU."""
        mean, std = (SIGLIP_MEAN, SIGLIP_STD) if self.siglip else (CLIP_MEAN, CLIP_STD)
        pixels = preprocess(images, self.image_size, mean, std, crop)
        dtype = next(self.model.parameters()).dtype
        out = self.model(pixel_values=pixels.to(self.device, dtype), output_hidden_states=True)
        last = out.last_hidden_state.float().cpu()
        embeds = last if self.siglip else out.image_embeds.float().cpu()
        return ClipVisionOutput(last, embeds, out.hidden_states[-2].float().cpu())


def load_clip_vision_state(state: dict[str, torch.Tensor], *, source: str = "<state dict>",
                           device: torch.device | None = None, dtype: torch.dtype | None = None) -> ClipVision:
    """Build the vision tower of `state` (transformers key names, an optional prefix before `vision_model.`)."""
    anchor = next((key for key in state if key.endswith(PATCH_KEY)), None)
    if anchor is None:
        if any(key.startswith("visual.transformer.resblocks.") for key in state):
            raise ClipVisionFileError(f"{source}: OpenCLIP layout (visual.transformer.*) is not supported; "
                                      "use the transformers-format file (vision_model.*)")
        raise ClipVisionFileError(f"{source}: not a CLIP vision model (no {PATCH_KEY})")
    prefix = anchor[: -len(PATCH_KEY)]
    own = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
    own = {key: value for key, value in own.items()
           if key.startswith(("vision_model.", "visual_projection."))}
    try:
        config = vision_config(own)
    except KeyError as error:
        raise ClipVisionFileError(f"{source}: missing tensor {error}") from None
    device = device or devices.default_device()
    dtype = dtype or devices.text_encoder_dtype(device)
    with init_empty_weights():
        model: torch.nn.Module = (SiglipVisionModel(config) if isinstance(config, SiglipVisionConfig)
                                  else CLIPVisionModelWithProjection(config))
    expected = set(model.state_dict())
    # transformers 5 names SiglipVisionModel's tensors without the `vision_model.` the files carry.
    own = {key if key in expected else key.removeprefix("vision_model."): value for key, value in own.items()}
    missing, unexpected = expected - set(own), set(own) - expected
    if missing or unexpected:
        raise ClipVisionFileError(f"{source}: tensors do not fit the inferred {type(model).__name__} "
                                  f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")
    model.load_state_dict({key: value.to(dtype) for key, value in own.items()}, strict=True, assign=True)
    return ClipVision(model.to(device).eval().requires_grad_(False), config, source)


def load_clip_vision(path: str | Path, *, device: torch.device | None = None,
                     dtype: torch.dtype | None = None) -> ClipVision:
    """CLIPVisionLoader: read a vision tower file (safetensors, or ckpt/pt with weights_only)."""
    return load_clip_vision_state(read_state_dict(path), source=str(path), device=device, dtype=dtype)
