"""Area, percentage area, mask, strength, timestep range and average conditioning against hand-worked values.

A stand-in UNet predicts a constant per entry (the mean of its text embedding), so a slot's prediction at a
cell is the weighted mean of the constants of the entries covering it: ``Σ c_i·w_i / Σ w_i``.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from sampling_fixtures import schema_rows

from diffusion.sampling.cond_regions import resolve_region
from diffusion.sampling.guidance import CondPredictor
from diffusion.sampling.model_sampling import ModelSampling
from diffusion.types import ConditioningEntry
from nodes import conditioning_regions as cr
from nodes.conditioning import conditioning_set_area

S = None
EXPECTED: dict[str, list[tuple[str, Any, Any, Any]]] = {
    "ConditioningSetAreaPercentage": [("conditioning", S, S, S), ("width", 1.0, 0.0, 1.0), ("height", 1.0, 0.0, 1.0),
                                      ("x", 0.0, 0.0, 1.0), ("y", 0.0, 0.0, 1.0), ("strength", 1.0, 0.0, 10.0)],
    "ConditioningSetAreaStrength": [("conditioning", S, S, S), ("strength", 1.0, 0.0, 10.0)],
    "ConditioningSetMask": [("conditioning", S, S, S), ("mask", S, S, S), ("strength", 1.0, 0.0, 10.0),
                            ("set_cond_area", "default", S, S)],
    "ConditioningSetTimestepRange": [("conditioning", S, S, S), ("start", 0.0, 0.0, 1.0), ("end", 1.0, 0.0, 1.0)],
    "ConditioningAverage": [("conditioning_to", S, S, S), ("conditioning_from", S, S, S),
                            ("conditioning_to_strength", 1.0, 0.0, 1.0)],
}


@pytest.mark.parametrize("node_id", sorted(EXPECTED))
def test_schema_matches_comfyui(node_id: str) -> None:
    assert schema_rows(node_id) == EXPECTED[node_id]


class ConstUnet(torch.nn.Module):
    """Predicts, for every cell, the mean of the entry's text embedding."""

    def forward(self, x: torch.Tensor, t: torch.Tensor, return_dict: bool = False,
                encoder_hidden_states: torch.Tensor | None = None, **_: Any) -> tuple[torch.Tensor]:
        assert encoder_hidden_states is not None
        return (torch.zeros_like(x) + encoder_hidden_states.mean(dim=(1, 2)).view(-1, 1, 1, 1),)


def entry(value: float, **kw: Any) -> ConditioningEntry:
    return ConditioningEntry(cross_attn=torch.full((1, 77, 8), value), **kw)


MS = ModelSampling.scaled_linear()


def predict(conditioning: list[ConditioningEntry], latent_hw: tuple[int, int], sigma: float = 1.0) -> torch.Tensor:
    predictor = CondPredictor(ConstUnet(), MS, [conditioning], latent_shape=torch.Size((1, 4, *latent_hw)),
                              dtype=torch.float32, device=torch.device("cpu"))
    return predictor.predict(torch.zeros(1, 4, *latent_hw), torch.tensor(sigma))[0].raw[0, 0]


def test_area_on_a_non_square_latent_by_hand() -> None:
    """64×128 px image (8×16 cells); area 64 wide, 32 high at x=32, y=16 → cells h=4, w=8, y=2, x=4.

    Feathering: across the height the ramp is min(8, 4//4) = 1 cell (factor 1: none); across the width
    min(8, 8//4) = 2 cells, halving the outer column on each inner edge (x=4 and x=11)."""
    area = conditioning_set_area([entry(2.0)], width=64, height=32, x=32, y=16, strength=1.0).conditioning[0]
    region = resolve_region(area, (8, 16), 8)
    assert region.area == (4, 8, 2, 4)
    assert region.mult[0, 0, 0].tolist() == [0.5, 1, 1, 1, 1, 1, 1, 0.5]
    assert region.mult[0, 0, :, 3].tolist() == [1, 1, 1, 1]
    out = predict([entry(0.0), area], (8, 16))
    expected = torch.zeros(8, 16)
    # (0·1 + 2·w) / (1 + w): 1 where w = 1, 2/3 where w = 1/2, 0 outside the area.
    expected[2:6, 4:12] = 1.0
    expected[2:6, 4] = expected[2:6, 11] = 2 / 3
    torch.testing.assert_close(out, expected)


def test_area_percentage_and_strength() -> None:
    """(h, w, y, x) = (0.5, 0.25, 0.25, 0.5) of 8×16 cells → (4, 4, 2, 8); strength 3 weighs it 3:1."""
    pct = cr.conditioning_set_area_percentage([entry(4.0)], width=0.25, height=0.5, x=0.5, y=0.25,
                                              strength=3.0).conditioning[0]
    region = resolve_region(pct, (8, 16), 8)
    assert region.area == (4, 4, 2, 8)
    # 4 cells: ramp = 1 → no feathering; weights are the strength.
    assert torch.equal(region.mult, torch.full((1, 1, 4, 4), 3.0))
    out = predict([entry(0.0), pct], (8, 16))
    assert float(out[3, 9]) == pytest.approx(4.0 * 3 / 4) and float(out[0, 0]) == 0.0
    stronger = cr.conditioning_set_area_strength([pct], 1.0).conditioning[0]
    assert stronger.strength == 1.0 and stronger.area_percent == pct.area_percent
    # A later pixel area replaces the percentage (one area per entry, as in the reference).
    assert conditioning_set_area([pct], 64, 64, 0, 0, 1.0).conditioning[0].area_percent is None


def test_mask_weights_and_bounds() -> None:
    mask = torch.zeros(1, 64, 128)
    mask[:, 16:48, 64:128] = 1.0  # rows 2..5, columns 8..15 of the 8×16 latent
    masked = cr.conditioning_set_mask([entry(6.0)], mask, strength=0.5, set_cond_area="default").conditioning[0]
    region = resolve_region(masked, (8, 16), 8)
    assert region.area == (8, 16, 0, 0)
    small = torch.nn.functional.interpolate(mask.unsqueeze(1), size=(8, 16), mode="bilinear", align_corners=False)
    torch.testing.assert_close(region.mult, small * 0.5)
    out = predict([entry(0.0), masked], (8, 16))
    # Inside: 6·0.5 / (1 + 0.5) = 2; outside: 0. No feathering with a mask.
    assert float(out[3, 10]) == pytest.approx(2.0) and float(out[0, 0]) == 0.0
    bounded = cr.conditioning_set_mask([entry(6.0)], mask[0], 1.0, "mask bounds").conditioning[0]
    assert bounded.mask is not None and bounded.mask.shape == (1, 64, 128)
    # Bounding box of cells > 0.5: rows 2..5, columns 8..15 → at least 8 cells each way → (8, 8, 2, 8),
    # clipped to the latent: height min(8, 8 − 2) = 6.
    assert resolve_region(bounded, (8, 16), 8).area == (6, 8, 2, 8)
    empty = cr.conditioning_set_mask([entry(6.0)], torch.zeros(64, 128), 1.0, "mask bounds").conditioning[0]
    assert resolve_region(empty, (8, 16), 8).area == (8, 8, 0, 0)
    with pytest.raises(ValueError, match="ConditioningSetMask: input 'mask' expected a MASK"):
        cr.conditioning_set_mask([entry(1.0)], torch.zeros(1, 1, 1, 4, 4), 1.0, "default")


def test_timestep_range_switches_entries_by_sigma() -> None:
    late = cr.conditioning_set_timestep_range([entry(8.0)], start=0.5, end=1.0).conditioning[0]
    early = cr.conditioning_set_timestep_range([entry(2.0)], start=0.0, end=0.5).conditioning[0]
    half = MS.percent_to_sigma(0.5)
    high, low = float(MS.sigma_max), float(MS.sigma_min)
    assert half < high and low < half
    assert torch.equal(predict([late, early], (4, 4), high), torch.full((4, 4), 2.0))
    assert torch.equal(predict([late, early], (4, 4), low), torch.full((4, 4), 8.0))
    # At exactly σ(50%) both are active (the ranges are closed) and averaged.
    torch.testing.assert_close(predict([late, early], (4, 4), half), torch.full((4, 4), 5.0))


def test_conditioning_average_by_hand() -> None:
    to = ConditioningEntry(cross_attn=torch.ones(1, 154, 4), pooled_output=torch.ones(1, 3))
    src = ConditioningEntry(cross_attn=torch.full((1, 77, 4), 3.0), pooled_output=torch.zeros(1, 3))
    out = cr.conditioning_average([to], [src, src], 0.25).conditioning[0]
    # Tokens 0..76: 0.25·1 + 0.75·3 = 2.5; tokens 77..153: source padded with zeros → 0.25.
    assert torch.equal(out.cross_attn[0, :77], torch.full((77, 4), 2.5))
    assert torch.equal(out.cross_attn[0, 77:], torch.full((77, 4), 0.25))
    assert torch.equal(out.pooled_output, torch.full((1, 3), 0.25))
    longer = cr.conditioning_average([src], [to], 0.5).conditioning[0]
    assert longer.cross_attn.shape == (1, 77, 4) and torch.equal(longer.cross_attn, torch.full((1, 77, 4), 2.0))
    with pytest.raises(ValueError, match="ConditioningAverage: input 'conditioning_from' expected at least one"):
        cr.conditioning_average([to], [], 0.5)
