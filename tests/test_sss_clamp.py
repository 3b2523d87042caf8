"""Sparse Structure Selection: the reference APG-NAG optimizer keeps block scales >= 0 (arXiv 1810.05270 Table 5;
TuSimple's APG-NAG, "no-negative"), so a scale pushed below 0 is exactly 0 and its block is pruned."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from pruning_lightning.callbacks.block_sparsity import BlockScaleSparsity
from pruning_lightning.pruning import SSSPruner, prune
from tests.test_sss import CIFAR, _set_scales, _trained_like


def test_apg_nag_clamps_a_scale_pushed_negative_and_its_block_is_removed() -> None:
    """SSS's reference APG-NAG keeps the scales >= 0: a scale pushed below 0 is exactly 0 and stays there."""
    net, arch = _trained_like(CIFAR, 32)
    scales = BlockScaleSparsity().scales(net)
    _set_scales(net, {n.removesuffix(".scale"): 0.05 if n == "layer2.0.scale" else 1.0 for n in scales})
    opt = torch.optim.SGD(list(scales.values()), lr=0.1, momentum=0.9)
    cb, trainer = BlockScaleSparsity(strength=0.1), SimpleNamespace(optimizers=[opt])  # threshold 0.01 per step
    for push in (2.0, 0.0, 0.0):  # z = S(0.05 - 0.1 * 2.0, 0.01) = -0.14 < 0, then no gradient at all
        cb.on_train_batch_start(trainer, net, None, 0)  # type: ignore[arg-type]
        for n, p in scales.items():
            p.grad = torch.full_like(p, push if n == "layer2.0.scale" else 0.0)
        cb.on_before_optimizer_step(trainer, net, opt)  # type: ignore[arg-type]
        cb.on_train_batch_end(trainer, net, None, None, 0)  # type: ignore[arg-type]
        assert scales["layer2.0.scale"].item() == 0.0  # without the clamp: -0.14, then drifting further down
        assert cb.ahead["layer2.0.scale"].item() == 0.0  # the look-ahead is clamped too
    assert all(p.item() > 0.9 for n, p in scales.items() if n != "layer2.0.scale")
    art = prune(net.eval(), arch, SSSPruner(), None)  # threshold 0: only exact zeros are removed
    assert [b for b, w in zip(scales, art.arch.cfg, strict=True) if w == 0] == ["layer2.0.scale"]
