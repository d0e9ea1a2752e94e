"""ComfyUI's `comfy.model_management`: devices, interrupt checks raising Latent Loom's interrupt, cache emptying."""

from __future__ import annotations

from typing import Any

import torch

from comfy_compat.missing import not_provided
from diffusion.devices import default_device, empty_cache
from graph.runtime import Interrupted, check_interrupt

#: What ComfyUI raises when a job is interrupted; Latent Loom's executor reports it as an interrupted job.
InterruptProcessingException = Interrupted


def get_torch_device() -> torch.device:
    return default_device()


def intermediate_device() -> torch.device:
    return torch.device("cpu")


def unet_offload_device() -> torch.device:
    return torch.device("cpu")


def text_encoder_device() -> torch.device:
    return default_device()


def vae_device() -> torch.device:
    return default_device()


def is_device_cpu(device: Any) -> bool:
    return getattr(device, "type", str(device)) == "cpu"


def cpu_mode() -> bool:
    return default_device().type == "cpu"


def throw_exception_if_processing_interrupted() -> None:
    """Raises InterruptProcessingException (Latent Loom's `Interrupted`) once the job was asked to stop."""
    check_interrupt()


def processing_interrupted() -> bool:
    try:
        check_interrupt()
    except Interrupted:
        return True
    return False


def soft_empty_cache(force: bool = False) -> None:
    empty_cache()


def __getattr__(name: str) -> Any:
    raise not_provided("comfy.model_management", name)
