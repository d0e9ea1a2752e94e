"""Checkpoints -> (MODEL, CLIP, VAE): single-file LDM layouts and diffusers folders, fully offline.

Models are created on the meta device and the file's tensors are assigned to them (memory-mapped
for safetensors; only a dtype change copies, and the file pages of a copied tensor are released).
Keys are checked strictly: a missing, misshapen or unexpected tensor is an error naming the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import torch

from diffusion import devices
from diffusion.models import architectures as arch
from diffusion.models import sd3
from diffusion.models.convert import CheckpointKeyError, ComponentKind, from_ldm
from diffusion.models.files import MappedTensors, read_state_dict
from diffusion.models.model import UnetModel, UnknownVariant, model_variant, training_alphas_cumprod
from diffusion.sampling.flow import FlowParams
from diffusion.text.clip import Clip, TextEncoder
from diffusion.text.t5 import T5Encoder
from diffusion.text.tokenizer import END_TOKEN
from diffusion.types import Family, PredictionType
from diffusion.vae import Vae

T = TypeVar("T")

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."

#: Tensors real checkpoints carry that no model needs (schedule buffers, EMA copies, CLIP extras).
_IGNORED = re.compile(
    r"(^|\.)position_ids$|(^|\.)logit_scale$|(^|\.)attn_mask$|^model_ema\.|^cond_stage_model\.model\.text_projection$"
    r"|^(betas|alphas_cumprod|alphas_cumprod_prev|sqrt_alphas_cumprod|sqrt_one_minus_alphas_cumprod"
    r"|log_one_minus_alphas_cumprod|sqrt_recip_alphas_cumprod|sqrt_recipm1_alphas_cumprod"
    r"|posterior_\w+|lvlb_weights|logvar|v_pred|ztsnr)$"
)
_SD2_V_PROBE = "output_blocks.11.1.transformer_blocks.0.norm1.bias"


def _summary(state: Mapping[str, torch.Tensor]) -> str:
    prefixes: dict[str, int] = {}
    for key in state:
        head = ".".join(key.split(".")[:2])
        prefixes[head] = prefixes.get(head, 0) + 1
    top = sorted(prefixes.items(), key=lambda kv: -kv[1])[:6]
    return f"{len(state)} tensors; most common prefixes: " + ", ".join(f"{p} ({n})" for p, n in top)


def normalize_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Old SD1 files keep CLIP under ``cond_stage_model.transformer.*`` without ``text_model.``."""
    old = "cond_stage_model.transformer."
    if any(k.startswith(old + "embeddings.") for k in state):
        renamed = {}
        for key, value in state.items():
            if key.startswith(old) and not key.startswith(old + "text_model."):
                key = old + "text_model." + key[len(old) :]
            renamed[key] = value
        if isinstance(state, MappedTensors):
            state.clear()
            state.update(renamed)
            return state
        return renamed
    return state


def detect_family(state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> Family:
    """SD1.x, SD2.x, SDXL base or refiner from which parts are present and their layouts."""

    def has(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in state)

    if not has(UNET_PREFIX + "input_blocks.0.0."):
        raise arch.UnknownModelLayout(
            f"{source}: not a Stable Diffusion checkpoint (no {UNET_PREFIX}input_blocks); {_summary(state)}"
        )
    if has(UNET_PREFIX + "label_emb."):
        if has("conditioner.embedders.1.model.transformer.") and has("conditioner.embedders.0.transformer."):
            return "sdxl"
        if has("conditioner.embedders.0.model.transformer.") and not has("conditioner.embedders.1."):
            return "sdxl_refiner"
        raise arch.UnknownModelLayout(f"{source}: SDXL-style UNet without the SDXL text encoders; {_summary(state)}")
    if has("cond_stage_model.model.transformer."):
        return "sd2"
    if has("cond_stage_model.transformer.text_model."):
        return "sd1"
    raise arch.UnknownModelLayout(
        f"{source}: UNet found but no known text encoder (cond_stage_model / conditioner); {_summary(state)}"
    )


def detect_prediction(family: Family, state: Mapping[str, torch.Tensor]) -> PredictionType:
    """v-prediction if the file says so (``v_pred`` key) or, for SD2, by ComfyUI's norm-bias heuristic."""
    if "v_pred" in state:
        return "v_prediction"
    probe = state.get(UNET_PREFIX + _SD2_V_PROBE)
    if family == "sd2" and probe is not None and torch.std(probe.float(), unbiased=False) > 0.09:
        return "v_prediction"
    return "epsilon"


def _assign(
    kind: ComponentKind,
    module: torch.nn.Module,
    state: Mapping[str, torch.Tensor],
    config: Mapping[str, Any],
    prefix: str,
    used: set[str],
    *,
    device: torch.device,
    dtype: torch.dtype,
    source: str,
) -> torch.nn.Module:
    shapes = {k: v.shape for k, v in module.state_dict().items()}
    tensors, sources = from_ldm(kind, shapes, state, config, prefix, source=source)
    used |= set(sources.values())
    converted: dict[str, torch.Tensor] = {}
    for key, tensor in tensors.items():
        target = dtype if tensor.is_floating_point() else tensor.dtype
        converted[key] = tensor.to(device=device, dtype=target).contiguous()
        if isinstance(state, MappedTensors) and converted[key].data_ptr() != tensor.data_ptr():
            # A copy was made: drop the file pages now so file and copy are never both resident.
            state.release(sources[key])
    module.load_state_dict(converted, strict=True, assign=True)
    return module.eval().requires_grad_(False)


def _check_leftovers(state: Mapping[str, torch.Tensor], used: set[str], source: str) -> None:
    extra = sorted(k for k in state if k not in used and not _IGNORED.search(k))
    if extra:
        shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        raise CheckpointKeyError(f"{source}: {len(extra)} unexpected tensors the model does not use: {shown}")


def _text_encoders(
    family: Family, state: Mapping[str, torch.Tensor], used: set[str], device: torch.device, source: str
) -> tuple[TextEncoder, ...]:
    encoders = []
    for spec in arch.family_config(family)["text_encoders"]:
        if family == "sd3" and not any(k.startswith(spec["prefix"]) for k in state):
            continue  # SD3 files may leave out some text encoders (loaded separately then)
        text_config = _derive(spec["name"], source, partial(arch.derive_text_config, spec, state, spec["prefix"]))
        module = arch.build_text_encoder(text_config, with_projection=spec["with_projection"], empty=True)
        kind: ComponentKind = "open_clip" if spec["layout"] == "open_clip" else "clip"
        _assign(kind, module, state, {}, spec["prefix"], used, device=device,
                dtype=devices.text_encoder_dtype(device), source=source)  # fmt: skip
        encoders.append(
            TextEncoder(
                name=spec["name"],
                module=module,
                default_layer=int(spec["default_layer"]),
                layer_norm_hidden_state=bool(spec["layer_norm_hidden_state"]),
                pad_token=int(spec.get("pad_token", 0 if spec["layout"] == "open_clip" else END_TOKEN)),
                with_projection=bool(spec["with_projection"]),
            )
        )
    return tuple(encoders)


def _derive(what: str, source: str, derive: Callable[[], T]) -> T:
    """Run a config derivation; a tensor it needs that is absent becomes a clean key error."""
    try:
        return derive()
    except (KeyError, StopIteration, IndexError) as exc:
        missing = f" ({exc.args[0]})" if isinstance(exc, KeyError) else ""
        raise CheckpointKeyError(
            f"{source}: cannot read the {what} architecture, a tensor is missing{missing}"
        ) from exc


def load_state_checkpoint(
    state: dict[str, torch.Tensor],
    *,
    source: str,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> tuple[UnetModel, Clip, Vae]:
    """Build MODEL, CLIP and VAE from an LDM-layout state dict (see :func:`load_checkpoint`)."""
    device = device or devices.default_device()
    state = normalize_keys(state)
    if sd3.is_sd3(state):
        return _load_sd3(state, source=source, device=device, dtype=dtype)
    family = detect_family(state, source)
    config = arch.family_config(family)
    used: set[str] = set()
    encoders = _text_encoders(family, state, used, device, source)
    pooled_dim = int(encoders[-1].tower.config.projection_dim) if encoders[-1].with_projection else None
    unet_config = _derive(
        "UNet", source, lambda: arch.derive_unet_config(family, state, UNET_PREFIX, pooled_dim=pooled_dim)
    )
    unet = arch.build_unet(unet_config, empty=True)
    _assign("unet", unet, state, unet_config, UNET_PREFIX, used, device=device,
            dtype=dtype or devices.unet_dtype(device), source=source)  # fmt: skip
    vae_config = _derive("VAE", source, lambda: arch.derive_vae_config(family, state, VAE_PREFIX))
    vae_module = arch.build_vae(vae_config, empty=True)
    _assign("vae", vae_module, state, vae_config, VAE_PREFIX, used, device=device,
            dtype=devices.vae_dtype(device), source=source)  # fmt: skip
    _check_leftovers(state, used, source)
    latent_channels = int(vae_config["latent_channels"])
    try:
        variant = model_variant(int(unet_config["in_channels"]), latent_channels)
    except UnknownVariant as exc:
        raise arch.UnknownModelLayout(f"{source}: {exc}") from exc
    model = UnetModel(
        unet=unet,
        family=family,
        prediction_type=detect_prediction(family, state),
        alphas_cumprod=training_alphas_cumprod(config["schedule"]),
        latent_scale_factor=float(config["latent_scale_factor"]),
        latent_channels=latent_channels,
        variant=variant,
        source=source,
    )
    vae = Vae(
        module=vae_module,
        latent_channels=latent_channels,
        scaling_factor=float(vae_config["scaling_factor"]),
        source=source,
    )
    return model, Clip(family=family, encoders=encoders), vae


def _load_vae(family: Family, state: Mapping[str, torch.Tensor], used: set[str], device: torch.device,
              source: str) -> tuple[Vae, dict[str, Any]]:
    vae_config = _derive("VAE", source, lambda: arch.derive_vae_config(family, state, VAE_PREFIX))
    vae_module = arch.build_vae(vae_config, empty=True)
    _assign("vae", vae_module, state, vae_config, VAE_PREFIX, used, device=device,
            dtype=devices.vae_dtype(device), source=source)  # fmt: skip
    vae = Vae(module=vae_module, latent_channels=int(vae_config["latent_channels"]),
              scaling_factor=float(vae_config["scaling_factor"]), source=source)
    return vae, vae_config


def _load_sd3(
    state: dict[str, torch.Tensor], *, source: str, device: torch.device, dtype: torch.dtype | None
) -> tuple[UnetModel, Clip, Vae]:
    """SD3/SD3.5 single file (ComfyUI layout): MMDiT, CLIP-L/CLIP-G/T5 (those present) and the 16-channel VAE."""
    config = arch.family_config("sd3")
    used: set[str] = set()
    encoders = _text_encoders("sd3", state, used, device, source)
    t5_prefix = str(config["t5"]["prefix"])
    t5 = None
    if any(k.startswith(t5_prefix) for k in state):
        module = sd3.load_t5(state, t5_prefix, used, device=device, dtype=sd3.text_dtype(device), source=source)
        t5 = T5Encoder(module, min_length=int(config["t5"]["min_length"]))
    transformer = sd3.load_sd3_transformer(state, UNET_PREFIX, used, device=device,
                                           dtype=dtype or devices.unet_dtype(device), source=source)
    if not any(k.startswith(VAE_PREFIX) for k in state):
        raise CheckpointKeyError(f"{source}: SD3 checkpoint without a VAE ({VAE_PREFIX}*); load one with VAELoader")
    vae, _ = _load_vae("sd3", state, used, device, source)
    _check_leftovers(state, used, source)
    model = sd3_model(transformer, source)
    return model, Clip(family="sd3", encoders=encoders, t5=t5), vae


def sd3_model(transformer: torch.nn.Module, source: str) -> UnetModel:
    """The MODEL value of an SD3/SD3.5 MMDiT (flow sampling with shift 3, latent shift/scale of the SD3 VAE)."""
    config = arch.family_config("sd3")
    transformer_config: Any = transformer.config
    return UnetModel(
        unet=sd3.TransformerAdapter(transformer),
        family="sd3",
        prediction_type="epsilon",
        alphas_cumprod=training_alphas_cumprod(config["schedule"]),
        latent_scale_factor=float(config["latent_scale_factor"]),
        latent_channels=int(transformer_config.in_channels),
        source=source,
        extras={"flow": FlowParams(**config["flow"]), "latent_shift": float(config["latent_shift"])},
    )


def load_checkpoint(
    path: str | Path, *, device: torch.device | None = None, dtype: torch.dtype | None = None
) -> tuple[UnetModel, Clip, Vae]:
    """Load a checkpoint file (LDM single file: safetensors, or ckpt/pt with weights_only) or diffusers folder.

    ``dtype`` overrides the UNet dtype (default: fp16 on GPU, fp32 on CPU).
    """
    path = Path(path)
    if path.is_dir():
        from diffusion.models.diffusers_folder import load_diffusers_folder

        return load_diffusers_folder(path, device=device, dtype=dtype)
    return load_state_checkpoint(read_state_dict(path), source=str(path), device=device, dtype=dtype)
