"""Regression: LoRA patches are applied with ComfyUI's arithmetic, bit for bit (strength 0.8 used to drift).

ComfyUI (comfy/lora.py, model patcher) casts the weight to float32 and, patch after patch, adds
``(strength · alpha/rank) · (up @ down)`` in place; the two scalars are multiplied first (in double precision).
Scaling the product by alpha/rank and then by the strength rounds twice.
"""

from __future__ import annotations

import torch

from diffusion.models.patches import LowRankDelta, WeightPatch, applied, patched_tensors


def _module() -> torch.nn.Linear:
    torch.manual_seed(0)
    return torch.nn.Linear(64, 48, bias=False)


def _delta(seed: int, alpha: float = 3.0) -> LowRankDelta:
    g = torch.Generator().manual_seed(seed)
    up, down = torch.randn(48, 8, generator=g), torch.randn(8, 64, generator=g)
    return LowRankDelta(up, down, alpha / 8)


def test_strength_point_eight_is_bit_exact() -> None:
    module = _module()
    delta = _delta(1)
    got = patched_tensors(module, (WeightPatch("weight", delta, 0.8),))["weight"]
    expected = module.weight.detach().float().clone()
    expected += (0.8 * (3.0 / 8)) * torch.mm(delta.up, delta.down)
    assert torch.equal(got, expected)
    # The previous arithmetic ((up @ down) · alpha/rank · strength) differs in the last bits.
    old = module.weight.detach() + torch.mm(delta.up, delta.down) * (3.0 / 8) * 0.8
    assert not torch.equal(got, old)


def test_patches_add_in_order_and_restore_the_base() -> None:
    module = _module()
    first, second = _delta(2), _delta(3, alpha=8.0)
    base = module.weight.detach().clone()
    patches = (WeightPatch("weight", first, 0.8), WeightPatch("weight", second, -0.35))
    expected = base.float().clone()
    expected += (0.8 * first.scale) * torch.mm(first.up, first.down)
    expected += (-0.35 * second.scale) * torch.mm(second.up, second.down)
    with applied(module, patches) as patched:
        assert torch.equal(patched.weight, expected)
    assert torch.equal(module.weight, base)


def test_half_precision_weights_round_once_at_the_end() -> None:
    module = _module().half()
    delta = _delta(4)
    got = patched_tensors(module, (WeightPatch("weight", delta, 0.8),))["weight"]
    expected = module.weight.detach().float().clone()
    expected += (0.8 * delta.scale) * torch.mm(delta.up, delta.down)
    assert got.dtype == torch.float16 and torch.equal(got, expected.half())
