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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from diffusion.sampling.concat import ConcatSource, check_entries, concat_for, unet_variant
from diffusion.sampling.latent_ops import center_crop, resize
from diffusion.sampling.model_sampling import ModelSampling
from diffusion.types import Conditioning, ConditioningEntry, ControlHint

_FEATHER_CELLS = 8


@dataclass
class _Entry:
    """One conditioning entry resolved against the latent: area in cells, weight map, model inputs."""

    is_uncond: bool
    area: tuple[int, int, int, int]  # (h, w, y, x) in latent cells
    mult: torch.Tensor  # [1, 1, h, w]
    cross_attn: torch.Tensor
    pooled: torch.Tensor | None
    time_ids: torch.Tensor | None
    control: ControlHint | None
    #: Extra UNet input channels (InstructPix2Pix image, inpainting mask + image), whole latent, or None.
    concat: torch.Tensor | None = None


def repeat_to_batch(t: torch.Tensor, n: int) -> torch.Tensor:
    """Tile or cut a tensor along dim 0 to ``n`` rows (ComfyUI's rule for conds and hints)."""
    if t.shape[0] > n:
        return t[:n]
    if t.shape[0] < n:
        reps = math.ceil(n / t.shape[0])
        return t.repeat(reps, *([1] * (t.ndim - 1)))[:n]
    return t


def _area_in_cells(entry: ConditioningEntry, latent_hw: tuple[int, int], downscale: int
                   ) -> tuple[int, int, int, int]:
    lh, lw = latent_hw
    if entry.area is None:
        return (lh, lw, 0, 0)
    height, width, y, x = entry.area
    h, w, y0, x0 = height // downscale, width // downscale, y // downscale, x // downscale
    h, w = min(h, lh - y0), min(w, lw - x0)
    if h <= 0 or w <= 0:
        raise ValueError(
            f"conditioning area: expected an area overlapping the {lw * downscale}x{lh * downscale} image, "
            f"received (height, width, y, x) = {entry.area}"
        )
    return (h, w, y0, x0)


def _area_weights(area: tuple[int, int, int, int], latent_hw: tuple[int, int], strength: float,
                  has_area: bool) -> torch.Tensor:
    h, w, y, x = area
    mult = torch.full((1, 1, h, w), float(strength))
    if not has_area:
        return mult
    for dim, (size, offset, full) in enumerate(((h, y, latent_hw[0]), (w, x, latent_hw[1]))):
        ramp_len = min(_FEATHER_CELLS, size // 4)
        for t in range(ramp_len):
            factor = (1.0 / ramp_len) * (t + 1)
            if offset != 0:
                mult.narrow(dim + 2, t, 1).mul_(factor)
            if size + offset < full:
                mult.narrow(dim + 2, size - 1 - t, 1).mul_(factor)
    return mult


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


class CFGDenoiser:
    """D(x; σ) for a UNet with positive/negative conditioning, CFG scale, areas and ControlNet."""

    def __init__(
        self,
        unet: torch.nn.Module,
        model_sampling: ModelSampling,
        positive: Conditioning,
        negative: Conditioning,
        cfg: float,
        *,
        latent_shape: torch.Size,
        dtype: torch.dtype,
        device: torch.device,
        refiner: bool = False,
        downscale: int = 8,
        interrupt: Callable[[], None] | None = None,
        concat: ConcatSource | None = None,
    ) -> None:
        if not positive:
            raise ValueError("positive: expected at least one conditioning entry, received an empty list")
        self.unet = unet
        self.ms = model_sampling
        self.cfg = float(cfg)
        self.dtype = dtype
        self.device = device
        self.interrupt = interrupt
        self.skip_uncond = math.isclose(self.cfg, 1.0)
        if not self.skip_uncond and not negative:
            raise ValueError("negative: expected at least one conditioning entry when cfg != 1, received none")
        negative = _resolve_apply_to_uncond(positive, negative)
        latent_hw = (int(latent_shape[2]), int(latent_shape[3]))
        self.needs_added = getattr(getattr(unet, "config", None), "addition_embed_type", None) == "text_time"
        entries = [(e, False) for e in positive] + ([] if self.skip_uncond else [(e, True) for e in negative])
        variant = unet_variant(unet, int(latent_shape[1]))
        check_entries(variant, [("negative" if u else "positive", e) for e, u in entries], int(latent_shape[1]))
        concat = concat or ConcatSource()
        self.entries: list[_Entry] = []
        for entry, is_uncond in entries:
            area = _area_in_cells(entry, latent_hw, downscale)
            extra = concat_for(entry, variant, latent_shape, concat)
            time_ids = None
            if self.needs_added:
                if entry.pooled_output is None:
                    raise ValueError("conditioning: this model (SDXL) needs pooled_output, received None")
                time_ids = torch.tensor([_sdxl_time_ids(entry, latent_hw, downscale, refiner, is_uncond)],
                                        dtype=torch.float32)
            self.entries.append(_Entry(
                is_uncond=is_uncond, area=area,
                mult=_area_weights(area, latent_hw, entry.strength, entry.area is not None).to(device),
                cross_attn=entry.cross_attn.to(device, dtype), pooled=(
                    entry.pooled_output.to(device, dtype) if entry.pooled_output is not None else None),
                time_ids=time_ids, control=entry.control,
                concat=None if extra is None else extra.to(device, dtype),
            ))
        self.batches = self._plan_batches()
        self._hint_cache: dict[tuple[int, int, int], torch.Tensor] = {}

    def _plan_batches(self) -> list[list[_Entry]]:
        """Group entries that can share one UNet call: same area size and ControlNet chain; negatives first."""
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

    # --- model evaluation ---------------------------------------------------------------------------------

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        if self.interrupt is not None:
            self.interrupt()
        sums = {False: torch.zeros_like(x), True: torch.zeros_like(x)}
        counts = {False: torch.full_like(x, 1e-37), True: torch.full_like(x, 1e-37)}
        for group in self.batches:
            outputs = self._run_group(group, x, sigma)
            for entry, out in zip(group, outputs, strict=True):
                h, w, y, x0 = entry.area
                sums[entry.is_uncond][:, :, y:y + h, x0:x0 + w] += out * entry.mult
                counts[entry.is_uncond][:, :, y:y + h, x0:x0 + w] += entry.mult
        cond = sums[False] / counts[False]
        if self.skip_uncond:
            return self._denoised(sigma, cond, x, counts[False])
        uncond = sums[True] / counts[True]
        if bool((counts[False] > 1e-37).all()) and bool((counts[True] > 1e-37).all()):
            # Guidance on the raw prediction: bit-identical to diffusers' pipelines for plain prompts.
            return self.ms.calculate_denoised(sigma, uncond + (cond - uncond) * self.cfg, x)
        cond_d = self._denoised(sigma, cond, x, counts[False])
        uncond_d = self._denoised(sigma, uncond, x, counts[True])
        return uncond_d + (cond_d - uncond_d) * self.cfg

    def _denoised(self, sigma: torch.Tensor, out: torch.Tensor, x: torch.Tensor, count: torch.Tensor
                  ) -> torch.Tensor:
        denoised = self.ms.calculate_denoised(sigma, out, x)
        # Cells no entry covers predict 0, as in the reference implementation.
        return torch.where(count > 1e-37, denoised, torch.zeros_like(denoised))

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
