"""Shared layers and the paper's initialisation (PAPER §1.4)."""

from __future__ import annotations

import math

import torch
from torch import nn


@torch.no_grad()
def init_he_fan_out(module: nn.Module, bn_gamma: float = 1.0, linear_std: float | None = None) -> None:
    """He (fan-out) init for convs, constant BN, optional N(0, std) Linear; biases zero.

    Args:
        module: network to initialise in place.
        bn_gamma: initial BN scale (0.5 for the slimming VGG / PreResNet / DenseNet).
        linear_std: if given, Linear weights ~ N(0, std) (VGG heads use 0.01); else PyTorch default.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            m.weight.normal_(0, math.sqrt(2.0 / n))
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            m.weight.fill_(bn_gamma)
            m.bias.zero_()
        elif isinstance(m, nn.Linear) and linear_std is not None:
            m.weight.normal_(0, linear_std)
            m.bias.zero_()


def check_widths(cfg: list[int | str], what: str) -> None:
    """Every int entry must be a positive width."""
    from pruning_lightning.errors import PruningError

    for i, c in enumerate(cfg):
        if isinstance(c, bool) or not isinstance(c, (int, str)):
            raise PruningError(f"{what}: cfg[{i}] = {c!r} is not a width")
        if isinstance(c, int) and c < 1:
            raise PruningError(
                f"{what}: cfg[{i}] = {c} leaves a layer with no channels; every width must be >= 1"
            )
