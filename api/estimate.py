"""How long a prompt will take on this machine, before it is queued (`POST /api/estimate`).

Only sampling is counted (UNet evaluations dominate a diffusion job; loading and decoding add seconds). For
each sampler node of an API prompt: its step count, the latent size and batch it starts from, how many UNet
evaluations a step costs (two with CFG, twice more for second-order samplers), and the UNet's size read from
the checkpoint header. `diffusion.speed` turns that into seconds with constants measured on this machine.
Anything that cannot be read from the prompt (a latent from an image, a size from a link) is assumed and named
in `assumptions`, so the editor can say what the figure rests on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Sampler nodes and where their step count comes from.
SAMPLERS = {"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"}
#: Samplers that evaluate the model twice per step (ComfyUI's second-order and SDE-midpoint samplers).
TWO_EVALS = {"heun", "heunpp2", "dpm_2", "dpm_2_ancestral", "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_sde_gpu"}
#: Loaders and the folder kind of the file that holds the UNet.
MODEL_LOADERS = {
    "CheckpointLoaderSimple": ("checkpoints", "ckpt_name"), "UNETLoader": ("diffusion_models", "unet_name"),
}
#: When a UNet's size cannot be read: SD 1.5's UNet (860M parameters).
ASSUMED_PARAMS = 860_000_000
ASSUMED_SIDE = 512
DEFAULT_STEPS = 20


@dataclass
class SamplerEstimate:
    node: str
    class_type: str
    steps: int
    evaluations_per_step: int
    width: int
    height: int
    batch: int
    model: str | None
    params: int
    seconds: float = 0.0


@dataclass
class Walk:
    """Reads values through links in one API prompt; collects what had to be assumed."""

    prompt: Mapping[str, Any]
    assumptions: list[str] = field(default_factory=list)

    def node(self, node_id: str) -> Mapping[str, Any]:
        node = self.prompt.get(node_id)
        return node if isinstance(node, Mapping) else {}

    def inputs(self, node_id: str) -> Mapping[str, Any]:
        inputs = self.node(node_id).get("inputs")
        return inputs if isinstance(inputs, Mapping) else {}

    def class_type(self, node_id: str) -> str:
        return str(self.node(node_id).get("class_type", ""))

    def source(self, node_id: str, name: str) -> str | None:
        """The node id linked into input `name`, if it is a link."""
        value = self.inputs(node_id).get(name)
        if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str | int):
            return str(value[0])
        return None

    def number(self, node_id: str, name: str, default: float) -> float:
        """A literal number, or the single number of a primitive node linked in; else `default` (assumed)."""
        value = self.inputs(node_id).get(name)
        if isinstance(value, list):
            upstream = self.inputs(str(value[0])) if len(value) == 2 else {}
            numbers = [v for v in upstream.values() if isinstance(v, int | float) and not isinstance(v, bool)]
            value = numbers[0] if len(numbers) == 1 else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        self.assumptions.append(f"node {node_id}: {name} = {default:g} (not readable before running)")
        return default


def _steps(walk: Walk, node_id: str) -> int:
    class_type = walk.class_type(node_id)
    if class_type == "KSamplerAdvanced":
        steps = walk.number(node_id, "steps", DEFAULT_STEPS)
        start = walk.number(node_id, "start_at_step", 0)
        end = min(walk.number(node_id, "end_at_step", 10000), steps)
        return max(int(end - start), 0)
    if class_type in ("SamplerCustom", "SamplerCustomAdvanced"):
        sigmas = walk.source(node_id, "sigmas")
        # Schedulers take `steps`; sigma operations (split, flip) take sigmas from another node.
        for _ in range(8):
            if sigmas is None:
                break
            if "steps" in walk.inputs(sigmas):
                return int(walk.number(sigmas, "steps", DEFAULT_STEPS))
            sigmas = walk.source(sigmas, "sigmas")
        walk.assumptions.append(f"node {node_id}: {DEFAULT_STEPS} steps (its sigmas come from an unknown node)")
        return DEFAULT_STEPS
    return int(walk.number(node_id, "steps", DEFAULT_STEPS))


def _evaluations(walk: Walk, node_id: str) -> int:
    """UNet evaluations per step: 2 with CFG (cfg != 1), doubled for second-order samplers."""
    class_type = walk.class_type(node_id)
    cfg_node = node_id
    if class_type == "SamplerCustomAdvanced":
        cfg_node = walk.source(node_id, "guider") or node_id
        if walk.class_type(cfg_node) == "BasicGuider":
            cfg_node = ""
    cfg = walk.number(cfg_node, "cfg", 7.0) if cfg_node else 1.0
    per_step = 1 if cfg == 1.0 else 2
    sampler = walk.inputs(node_id).get("sampler_name")
    sampler_node = walk.source(node_id, "sampler")
    if sampler_node is not None:
        sampler = walk.inputs(sampler_node).get("sampler_name")
    return per_step * (2 if sampler in TWO_EVALS else 1)


def _latent_size(walk: Walk, node_id: str) -> tuple[int, int, int]:
    """(width, height, batch) in pixels of the latent a sampler starts from."""
    size = _latent_from(walk, walk.source(node_id, "latent_image"), 16)
    if size is not None:
        return size
    walk.assumptions.append(
        f"node {node_id}: a {ASSUMED_SIDE}×{ASSUMED_SIDE} latent (its size is known only when it runs)"
    )
    return ASSUMED_SIDE, ASSUMED_SIDE, 1


def _latent_from(walk: Walk, source: str | None, depth: int) -> tuple[int, int, int] | None:
    """The size a latent-producing node outputs, followed through upscales and pass-through latent ops."""
    if source is None or depth == 0:
        return None
    inputs = walk.inputs(source)
    upstream = walk.source(source, "samples") or walk.source(source, "latent_image")
    if "width" in inputs and "height" in inputs:
        width = int(walk.number(source, "width", ASSUMED_SIDE))
        height = int(walk.number(source, "height", ASSUMED_SIDE))
        if "batch_size" in inputs:
            return width, height, int(walk.number(source, "batch_size", 1))
        below = _latent_from(walk, upstream, depth - 1)  # LatentUpscale: new size, same batch
        return width, height, below[2] if below else 1
    below = _latent_from(walk, upstream, depth - 1)
    if below is not None and walk.class_type(source) == "LatentUpscaleBy":
        scale = walk.number(source, "scale_by", 1.5)
        return int(below[0] * scale), int(below[1] * scale), below[2]
    return below


def _model(walk: Walk, node_id: str, params_of: Callable[[str, str], int | None]) -> tuple[str | None, int]:
    """The UNet file a sampler's model comes from (through LoRAs and patches) and its parameter count."""
    source = walk.source(node_id, "model")
    if walk.class_type(node_id) == "SamplerCustomAdvanced":
        guider = walk.source(node_id, "guider")
        source = walk.source(guider, "model") if guider else None
    for _ in range(32):
        if source is None:
            break
        loader = MODEL_LOADERS.get(walk.class_type(source))
        if loader is not None:
            kind, input_name = loader
            name = walk.inputs(source).get(input_name)
            params = params_of(kind, name) if isinstance(name, str) else None
            if params is None:
                walk.assumptions.append(f"node {source}: a UNet the size of SD 1.5's (its file could not be read)")
                return (name if isinstance(name, str) else None), ASSUMED_PARAMS
            return name, params
        source = walk.source(source, "model")
    walk.assumptions.append(f"node {node_id}: a UNet the size of SD 1.5's (no model loader found upstream)")
    return None, ASSUMED_PARAMS


def estimate_prompt(
    prompt: Mapping[str, Any], step_seconds: Callable[[int, int, int], float],
    params_of: Callable[[str, str], int | None],
) -> dict[str, Any]:
    """The estimate for an API prompt: total seconds, one entry per sampler node, and the assumptions made."""
    walk = Walk(prompt)
    samplers: list[SamplerEstimate] = []
    for node_id in list(prompt):
        if walk.class_type(node_id) not in SAMPLERS:
            continue
        steps = _steps(walk, node_id)
        evaluations = _evaluations(walk, node_id)
        width, height, batch = _latent_size(walk, node_id)
        model, params = _model(walk, node_id, params_of)
        item = SamplerEstimate(node_id, walk.class_type(node_id), steps, evaluations, width, height, batch, model,
                               params)
        item.seconds = steps * step_seconds(params, (width // 8) * (height // 8), batch * evaluations)
        samplers.append(item)
    return {
        "seconds": round(sum(item.seconds for item in samplers), 2),
        "samplers": [vars(item) for item in samplers],
        "assumptions": walk.assumptions,
    }


class ParamCache:
    """UNet parameter counts per file, re-read only when the file changes (size and mtime)."""

    def __init__(self, resolve: Callable[[str, str], Path]) -> None:
        self.resolve = resolve
        self._lock = threading.Lock()
        self._known: dict[tuple[str, int, int], int | None] = {}

    def __call__(self, kind: str, name: str) -> int | None:
        from diffusion.speed import unet_parameter_count

        try:
            path = self.resolve(kind, name)
            stat = path.stat()
        except (OSError, ValueError, KeyError):
            return None
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if key not in self._known:
                self._known[key] = unet_parameter_count(path)
            return self._known[key]
