"""Sparsity regularisers as callbacks: a 'large' run becomes a 'sparse large' run by config."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn

from pruning_lightning.core.errors import PruningError


class BNL1Sparsity(L.Callback):
    """Network Slimming's L1 penalty on BN scales: ``grad(gamma) += strength * sign(gamma)``.

    Runs in ``on_before_optimizer_step``, which sees unscaled gradients under AMP and runs once
    per (accumulated) optimizer step: the Lightning form of the reference ``updateBN()``.

    Args:
        strength: the paper's ``s`` (VGG 1e-4; PreResNet, DenseNet, ImageNet VGG-11 1e-5).
        include_bn1d: also penalise BatchNorm1d (the ImageNet VGG-11 head, arXiv 1810.05270 Table 4).
    """

    def __init__(self, strength: float = 1e-4, include_bn1d: bool = True) -> None:
        if strength < 0:
            raise PruningError(f"sparsity strength must be >= 0, got {strength}")
        self.strength = strength
        self.kinds: tuple[type[nn.BatchNorm1d | nn.BatchNorm2d], ...] = (
            (nn.BatchNorm2d, nn.BatchNorm1d) if include_bn1d else (nn.BatchNorm2d,)
        )

    @torch.no_grad()
    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: object) -> None:
        for m in pl_module.modules():
            if isinstance(m, self.kinds) and m.weight is not None and m.weight.grad is not None:
                m.weight.grad.add_(torch.sign(m.weight), alpha=self.strength)
