"""Classifier-free guidance over CONDITIONING lists: the denoiser D(x; σ) that samplers call.

Semantics follow ComfyUI (behaviour, not code):

* every conditioning entry is evaluated on its area (``ConditioningSetArea``: pixels → latent cells, edges
  feathered over up to 8 cells where the area does not touch the border) with weight ``strength``; the
  predictions of overlapping entries are averaged with those weights;
* compatible entries (same area size, same ControlNet chain) are batched into one UNet call, negative first;
  cross-attention contexts of different lengths are tiled to their least common multiple (softmax over
  repeated keys is unchanged);
* CFG: ``uncond + (cond − uncond)·cfg`` (Ho & Salimans 2022, arXiv:2207.12598); cfg = 1 skips the negative;
* InstructPix2Pix / inpainting models: each entry's concat channels (diffusion/sampling/concat.py) are appended
  to the scaled UNet input, cropped to the entry's area;
* ControlNet residuals (Zhang et al. 2023, arXiv:2302.05543) are summed over the hint chain, scaled by
  strength, active only between ``start_percent`` and ``end_percent`` of the σ range.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from diffusion.models.model_options import (
    NO_OPTIONS,
    CfgArgs,
    ModelOptions,
    PostCfgArgs,
    UnetHook,
    hooks_installed,
    unet_call,
)
from diffusion.sampling.concat import ConcatSource, check_entries, concat_for, unet_variant
from diffusion.sampling.cond_regions import resolve_region
from diffusion.sampling.latent_ops import center_crop, resize
from diffusion.sampling.model_sampling import ModelSampling
from diffusion.types import Conditioning, ConditioningEntry, ControlHint

_EMPTY = 1e-37


@dataclass
class _Entry:
    """One conditioning entry resolved against the latent: slot, area in cells, weight map, model inputs."""

    slot: int
    area: tuple[int, int, int, int]  # (h, w, y, x) in latent cells
    mult: torch.Tensor  # [1 or B, 1, h, w]
    cross_attn: torch.Tensor
    pooled: torch.Tensor | None
    time_ids: torch.Tensor | None
    control: ControlHint | None
    #: (σ_start, σ_end): the entry is evaluated only for σ_end ≤ σ ≤ σ_start (ConditioningSetTimestepRange).
    sigma_range: tuple[float, float] | None = None
    #: Extra UNet input channels (InstructPix2Pix image, inpainting mask + image), whole latent, or None.
    concat: torch.Tensor | None = None
    #: The entry's extras (Flux's ``guidance``), for models that read them.
    extras: dict[str, Any] | None = None

    @property
    def is_uncond(self) -> bool:
        return self.slot == 1

    def active(self, sigma: float) -> bool:
        if self.sigma_range is None:
            return True
        start, end = self.sigma_range
        return end <= sigma <= start


@dataclass(frozen=True)
class SlotPrediction:
    """A slot's raw model output averaged over its entries, and the weight that covered each cell."""

    raw: torch.Tensor
    count: torch.Tensor

    @property
    def covered(self) -> bool:
        return bool((self.count > _EMPTY).all())


def repeat_to_batch(t: torch.Tensor, n: int) -> torch.Tensor:
    """Tile or cut a tensor along dim 0 to ``n`` rows (ComfyUI's rule for conds and hints)."""
    if t.shape[0] > n:
        return t[:n]
    if t.shape[0] < n:
        reps = math.ceil(n / t.shape[0])
        return t.repeat(reps, *([1] * (t.ndim - 1)))[:n]
    return t


def _sdxl_time_ids(entry: ConditioningEntry, latent_hw: tuple[int, int], downscale: int, refiner: bool,
                   is_uncond: bool) -> tuple[float, ...]:
    if entry.sdxl_time_ids is not None:
        return entry.sdxl_time_ids
    height, width = latent_hw[0] * downscale, latent_hw[1] * downscale
    if refiner:
        return (height, width, 0, 0, 2.5 if is_uncond else 6.0)
    return (height, width, 0, 0, height, width)


def _resolve_apply_to_uncond(positive: Conditioning, negative: Conditioning) -> Conditioning:
    """ControlNetApply (old) controls reach full-image negatives that have none (``control_apply_to_uncond``)."""
    cond_controls = [e.control for e in positive
                     if e.area is None and e.control is not None and e.extras.get("control_apply_to_uncond")]
    if not cond_controls or any(e.control is not None for e in negative if e.area is None):
        return negative
    plain = [i for i, e in enumerate(negative) if e.area is None and e.control is None]
    if not plain:
        return negative
    out = list(negative)
    for k, control in enumerate(cond_controls):
        # With more controls than plain negatives, later ones replace earlier ones (reference behaviour).
        idx = plain[k % len(plain)]
        out[idx] = negative[idx].with_changes(control=control)
    return out


class CondPredictor:
    """Evaluates the UNet for several conditioning lists ("slots") at once: areas, masks, timestep ranges,
    batching of compatible entries and ControlNet. Guiders combine the slots' predictions."""

    def __init__(
        self,
        unet: torch.nn.Module,
        model_sampling: ModelSampling,
        slots: Sequence[Conditioning],
        *,
        latent_shape: torch.Size,
        dtype: torch.dtype,
        device: torch.device,
        refiner: bool = False,
        downscale: int = 8,
        interrupt: Callable[[], None] | None = None,
        concat: ConcatSource | None = None,
        slot_names: Sequence[str] = ("positive", "negative"),
    ) -> None:
        self.unet = unet
        self.ms = model_sampling
        self.dtype = dtype
        self.device = device
        self.interrupt = interrupt
        self.n_slots = len(slots)
        latent_hw = (int(latent_shape[2]), int(latent_shape[3]))
        self.needs_added = getattr(getattr(unet, "config", None), "addition_embed_type", None) == "text_time"
        # Transformer families (SD3, Flux) take the pooled text embedding without SDXL's size conditioning.
        self.needs_pooled = bool(getattr(unet, "needs_pooled", False))
        self.latent_shape = latent_shape
        self.variant = unet_variant(unet, int(latent_shape[1]))
        names = [slot_names[i] if i < len(slot_names) else f"conditioning {i + 1}" for i in range(len(slots))]
        check_entries(self.variant, [(names[i], e) for i, c in enumerate(slots) for e in c], int(latent_shape[1]))
        self.concat_source = concat or ConcatSource()
        self.entries: list[_Entry] = []
        for slot, conditioning in enumerate(slots):
            for entry in conditioning:
                self.entries.append(self._resolve(entry, slot, latent_hw, downscale, refiner))
        self.batches = self._plan_batches()
        self._hint_cache: dict[tuple[int, int, int], torch.Tensor] = {}

    def _resolve(self, entry: ConditioningEntry, slot: int, latent_hw: tuple[int, int], downscale: int,
                 refiner: bool) -> _Entry:
        region = resolve_region(entry, latent_hw, downscale)
        time_ids = None
        if self.needs_added:
            if entry.pooled_output is None:
                raise ValueError("conditioning: this model (SDXL) needs pooled_output, received None")
            time_ids = torch.tensor([_sdxl_time_ids(entry, latent_hw, downscale, refiner, slot == 1)],
                                    dtype=torch.float32)
        if self.needs_pooled and entry.pooled_output is None:
            raise ValueError("conditioning: this model needs pooled_output (encode with its own CLIP), received None")
        sigma_range = None
        if entry.timestep_range is not None:
            start, end = entry.timestep_range
            sigma_range = (self.ms.percent_to_sigma(start), self.ms.percent_to_sigma(end))
        extra = concat_for(entry, self.variant, self.latent_shape, self.concat_source)
        return _Entry(
            slot=slot, area=region.area, mult=region.mult.to(self.device),
            concat=None if extra is None else extra.to(self.device, self.dtype),
            cross_attn=entry.cross_attn.to(self.device, self.dtype),
            pooled=entry.pooled_output.to(self.device, self.dtype) if entry.pooled_output is not None else None,
            time_ids=time_ids, control=entry.control, sigma_range=sigma_range, extras=entry.extras,
        )

    def _plan_batches(self) -> list[list[_Entry]]:
        """Group entries that can share one UNet call: same area size and ControlNet chain; later slots first."""
        pending = list(self.entries)
        batches: list[list[_Entry]] = []
        while pending:
            first = pending[0]
            group = [e for e in pending
                     if e.area[:2] == first.area[:2] and e.control is first.control
                     and (e.pooled is None) == (first.pooled is None)]
            group.reverse()
            batches.append(group)
            pending = [e for e in pending if all(e is not g for g in group)]
        return batches

    def predict(self, x: torch.Tensor, sigma: torch.Tensor, slots: Sequence[int] | None = None
                ) -> list[SlotPrediction]:
        """Raw outputs per slot (all slots, or only ``slots``; the others come back empty)."""
        if self.interrupt is not None:
            self.interrupt()
        wanted = set(range(self.n_slots)) if slots is None else set(slots)
        sums = [torch.zeros_like(x) for _ in range(self.n_slots)]
        counts = [torch.full_like(x, _EMPTY) for _ in range(self.n_slots)]
        s = float(sigma)
        for planned in self.batches:
            group = [e for e in planned if e.slot in wanted and e.active(s)]
            if not group:
                continue
            outputs = self._run_group(group, x, sigma)
            for entry, out in zip(group, outputs, strict=True):
                h, w, y, x0 = entry.area
                mult = repeat_to_batch(entry.mult, x.shape[0])
                sums[entry.slot][:, :, y:y + h, x0:x0 + w] += out * mult
                counts[entry.slot][:, :, y:y + h, x0:x0 + w] += mult
        return [SlotPrediction(sums[i] / counts[i], counts[i]) for i in range(self.n_slots)]

    def denoised(self, sigma: torch.Tensor, prediction: SlotPrediction, x: torch.Tensor) -> torch.Tensor:
        """The x0 estimate of one slot; cells no entry covers predict 0, as in the reference implementation."""
        denoised = self.ms.calculate_denoised(sigma, prediction.raw, x)
        return torch.where(prediction.count > _EMPTY, denoised, torch.zeros_like(denoised))

    # --- model evaluation ---------------------------------------------------------------------------------

    def _run_group(self, group: list[_Entry], x: torch.Tensor, sigma: torch.Tensor) -> list[torch.Tensor]:
        batch = x.shape[0]
        h, w, _, _ = group[0].area
        x_parts = [x[:, :, e.area[2]:e.area[2] + h, e.area[3]:e.area[3] + w] for e in group]
        x_batch = torch.cat(x_parts)
        x_in = self.ms.calculate_input(sigma, x_batch).to(self.dtype)
        t = self.ms.timestep(sigma.reshape(1)).expand(x_in.shape[0]).to(self.device)
        context = self._context(group, batch)
        kwargs: dict[str, Any] = {"encoder_hidden_states": context}
        if self.needs_added:
            kwargs["added_cond_kwargs"] = {
                "text_embeds": torch.cat([repeat_to_batch(e.pooled, batch) for e in group if e.pooled is not None]),
                "time_ids": torch.cat([e.time_ids.to(self.device, self.dtype).expand(batch, -1)
                                       for e in group if e.time_ids is not None]),
            }
        elif self.needs_pooled:
            pooled = [repeat_to_batch(e.pooled, batch) for e in group if e.pooled is not None]
            kwargs["added_cond_kwargs"] = {"text_embeds": torch.cat(pooled), "extras": [e.extras or {} for e in group]}
        control = group[0].control
        if control is not None:
            residuals = self._control_residuals(control, x_in, t, sigma, kwargs, len(group), batch)
            if residuals is not None:
                kwargs["down_block_additional_residuals"] = residuals[0]
                kwargs["mid_block_additional_residual"] = residuals[1]
        if group[0].concat is not None:
            # After the ControlNet: it sees the plain latent, the UNet the latent plus the concat channels.
            parts = [e.concat[:, :, e.area[2]:e.area[2] + h, e.area[3]:e.area[3] + w] for e in group
                     if e.concat is not None]
            x_in = torch.cat([x_in, torch.cat(parts)], dim=1)
        with unet_call(float(sigma), tuple(e.slot for e in group)):
            out = self.unet(x_in, t, return_dict=False, **kwargs)[0]
        return list(out.float().chunk(len(group)))

    def _context(self, group: list[_Entry], batch: int) -> torch.Tensor:
        lengths = [e.cross_attn.shape[1] for e in group]
        target = math.lcm(*lengths)
        parts = []
        for e in group:
            ctx = repeat_to_batch(e.cross_attn, batch)
            if ctx.shape[1] != target:
                ctx = ctx.repeat(1, target // ctx.shape[1], 1)
            parts.append(ctx)
        return torch.cat(parts)

    def _control_residuals(self, control: ControlHint, x_in: torch.Tensor, t: torch.Tensor, sigma: torch.Tensor,
                           unet_kwargs: dict[str, Any], chunks: int, batch: int
                           ) -> tuple[list[torch.Tensor], torch.Tensor] | None:
        total: tuple[list[torch.Tensor], torch.Tensor] | None = None
        s = float(sigma)
        for hint in control.chain():
            start = self.ms.percent_to_sigma(hint.start_percent)
            end = self.ms.percent_to_sigma(hint.end_percent)
            if s > start or s < end:
                continue
            net = controlnet_module(hint.control_net)
            net_dtype = next(net.parameters()).dtype
            cond_image = self._hint_image(hint, x_in.shape[2], x_in.shape[3], chunks, batch).to(net_dtype)
            kwargs = {k: v for k, v in unet_kwargs.items() if k in ("encoder_hidden_states", "added_cond_kwargs")}
            if net_dtype != self.dtype:
                kwargs["encoder_hidden_states"] = kwargs["encoder_hidden_states"].to(net_dtype)
            down, mid = net(x_in.to(net_dtype), t, controlnet_cond=cond_image,
                            conditioning_scale=float(hint.strength), return_dict=False, **kwargs)
            down, mid = [d.to(self.dtype) for d in down], mid.to(self.dtype)
            if total is None:
                total = (list(down), mid)
            else:
                total = ([a + b for a, b in zip(total[0], down, strict=True)], total[1] + mid)
        return total

    def _hint_image(self, hint: ControlHint, lh: int, lw: int, chunks: int, batch: int) -> torch.Tensor:
        key = (id(hint), lh, lw)
        if key not in self._hint_cache:
            image = hint.hint.movedim(-1, 1).float().contiguous()
            target = (lh * 8, lw * 8)
            if tuple(image.shape[2:]) != target:
                image = resize(center_crop(image, target[1], target[0]), target[1], target[0], "nearest-exact")
            self._hint_cache[key] = image.to(self.device, self.dtype)
        image = repeat_to_batch(self._hint_cache[key], batch)
        return torch.cat([image] * chunks)


def controlnet_module(value: Any) -> torch.nn.Module:
    """The diffusers ControlNetModel inside a CONTROL_NET value (the module itself or a wrapper of it)."""
    if isinstance(value, torch.nn.Module):
        return value
    for attr in ("model", "controlnet", "module"):
        inner = getattr(value, attr, None)
        if isinstance(inner, torch.nn.Module):
            return inner
    raise TypeError(f"control_net: expected a ControlNetModel or a wrapper with .model, received {type(value)}")


class CFGDenoiser:
    """D(x; σ) with classifier-free guidance over a positive and a negative conditioning list, plus the
    MODEL's CFG patches (RescaleCFG replaces the combination; PAG and the like run after it)."""

    def __init__(
        self,
        unet: torch.nn.Module,
        model_sampling: ModelSampling,
        positive: Conditioning,
        negative: Conditioning | None,
        cfg: float,
        *,
        latent_shape: torch.Size,
        dtype: torch.dtype,
        device: torch.device,
        refiner: bool = False,
        downscale: int = 8,
        interrupt: Callable[[], None] | None = None,
        options: ModelOptions = NO_OPTIONS,
        concat: ConcatSource | None = None,
    ) -> None:
        if not positive:
            raise ValueError("positive: expected at least one conditioning entry, received an empty list")
        self.cfg = float(cfg)
        self.options = options
        # cfg = 1 never evaluates the negative (ComfyUI's "cfg1 optimization"); BasicGuider has none at all.
        self.skip_uncond = negative is None or math.isclose(self.cfg, 1.0)
        if not self.skip_uncond and not negative:
            raise ValueError("negative: expected at least one conditioning entry when cfg != 1, received none")
        slots: list[Conditioning] = [positive]
        if not self.skip_uncond and negative is not None:
            slots.append(_resolve_apply_to_uncond(positive, negative))
        self.predictor = CondPredictor(unet, model_sampling, slots, latent_shape=latent_shape, dtype=dtype,
                                       device=device, refiner=refiner, downscale=downscale, interrupt=interrupt,
                                       concat=concat)
        self.ms = model_sampling
        self.unet = unet

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        p = self.predictor
        preds = p.predict(x, sigma)
        cond = preds[0]
        cond_d = p.denoised(sigma, cond, x)
        if self.skip_uncond:
            uncond_d = torch.zeros_like(x)
            if self.options.cfg_function is None:
                result = cond_d
            else:
                result = self.options.cfg_function(CfgArgs(x, sigma, cond_d, uncond_d, self.cfg))
        else:
            uncond = preds[1]
            uncond_d = p.denoised(sigma, uncond, x)
            if self.options.cfg_function is not None:
                result = self.options.cfg_function(CfgArgs(x, sigma, cond_d, uncond_d, self.cfg))
            elif cond.covered and uncond.covered:
                # Guidance on the raw prediction: bit-identical to diffusers' pipelines for plain prompts.
                result = self.ms.calculate_denoised(sigma, uncond.raw + (cond.raw - uncond.raw) * self.cfg, x)
            else:
                result = uncond_d + (cond_d - uncond_d) * self.cfg
        for post in self.options.post_cfg:
            result = post(PostCfgArgs(x, sigma, result, cond_d, self._predict_with(x, sigma),
                                      None if self.skip_uncond else uncond_d, self._predict_uncond(sigma)))
        return result

    def _predict_uncond(self, sigma: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor] | None:
        if self.skip_uncond:
            return None

        def predict(x: torch.Tensor) -> torch.Tensor:
            return self.predictor.denoised(sigma, self.predictor.predict(x, sigma, slots=[1])[1], x)

        return predict

    def _predict_with(self, x: torch.Tensor, sigma: torch.Tensor) -> Callable[[Sequence[UnetHook]], torch.Tensor]:
        def predict(hooks: Sequence[UnetHook]) -> torch.Tensor:
            with hooks_installed(self.unet, hooks):
                return self.predictor.denoised(sigma, self.predictor.predict(x, sigma, slots=[0])[0], x)

        return predict
