"""CIFAR VGG with BatchNorm, built from a cfg (docs/protocol.md §7).

``cfg`` is the torchvision-style list of conv widths with ``"M"`` for a 2x2 max-pool; CIFAR VGG has
only four pools, so a 32x32 input ends at 2x2, then AvgPool(2) -> flatten -> head.

Variants:
    ``slimming`` (default): head is one ``Linear(cfg[-1], num_classes)`` (VGG-19: 20.04M params).
    ``l1``: Li et al.'s head ``Linear(cfg[-1], 512) -> BN1d -> ReLU -> Linear(512, classes)``
        (VGG-16: 14.99M params).
    ``weight_level``: the reference's weight-level ``vgg19_bn`` (arXiv 1810.05270 Table 6): the ``slimming``
        net with conv biases, BN gamma initialised to 1 and conv weights N(0, sqrt(2 / (k*k*C_in)))
        (He fan-in; conv bias and Linear bias 0, Linear N(0, 0.01)). VGG-19: 20,040,522 params on CIFAR-10
        (5,504 conv biases more than ``slimming``), 20,086,692 on CIFAR-100; 398.1M MACs, 797.6M FLOPs.

Init of ``slimming`` / ``l1`` (docs/protocol.md §4): He fan-out convs without bias, BN gamma 0.5, Linear N(0, 0.01).
Deviation (``l1``): the head's BatchNorm1d starts at gamma 0.5 too; the reference's init loop (the Rethinking
repo's cifar/l1-norm-pruning VGG, arXiv 1810.05270 Table 1) sets only BatchNorm2d, so its BN1d starts at the
framework default (gamma 1, beta 0). Kept because the committed CIFAR VGG-16 studies
(``study_cifar10_vgg16w8_predefined`` / ``_lottery``) ran with it and a changed init would not reproduce them;
one layer's initial scale, which its first updates move (a test pins the value).

Layer names are stable: ``features.conv{i}`` / ``features.bn{i}`` / ``features.relu{i}`` for the
i-th conv (1-based) and ``features.pool{j}``; pruning plans are keyed by them.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

from pruning_lightning.models.layers import init_he_fan_out
from pruning_lightning.models.registry import Family, register_arch
from pruning_lightning.models.spec import ArchSpec

CFGS: dict[int, list[int | str]] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512],
}
VARIANTS = ("default", "slimming", "l1", "weight_level")


def default_cfg(spec: ArchSpec) -> list[int | str]:
    """Unpruned widths for ``spec.depth``."""
    return list(CFGS[spec.depth])


def conv_names(cfg: list[int | str]) -> list[str]:
    """``features.conv{i}`` for every conv of a conv cfg (CIFAR or ImageNet VGG), in order."""
    return [f"features.conv{i + 1}" for i in range(sum(c != "M" for c in cfg))]


def make_layers(
    cfg: list[int | str], in_channels: int = 3, bias: bool = False, batch_norm: bool = True
) -> nn.Sequential:
    """conv3x3 (bias only if ``bias``) [-> BN] -> ReLU per width, MaxPool(2) per ``"M"``.

    The feature extractor of both VGG families: ``conv{i}`` / ``bn{i}`` / ``relu{i}`` (i from 1) and ``pool{j}``.
    """
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    conv_i = pool_i = 0
    for c in cfg:
        if c == "M":
            pool_i += 1
            layers[f"pool{pool_i}"] = nn.MaxPool2d(kernel_size=2, stride=2)
            continue
        conv_i += 1
        layers[f"conv{conv_i}"] = nn.Conv2d(in_channels, int(c), kernel_size=3, padding=1, bias=bias)
        if batch_norm:
            layers[f"bn{conv_i}"] = nn.BatchNorm2d(int(c))
        layers[f"relu{conv_i}"] = nn.ReLU(inplace=True)
        in_channels = int(c)
    return nn.Sequential(layers)


class VGG(nn.Module):
    """CIFAR VGG (see module docstring)."""

    def __init__(self, cfg: list[int | str], num_classes: int, variant: str = "slimming") -> None:
        super().__init__()
        weight_level = variant == "weight_level"
        self.features = make_layers(cfg, bias=weight_level)
        last = int([c for c in cfg if c != "M"][-1])
        if variant == "l1":
            self.classifier: nn.Module = nn.Sequential(
                OrderedDict(
                    fc1=nn.Linear(last, 512),
                    bn_fc1=nn.BatchNorm1d(512),
                    relu_fc1=nn.ReLU(inplace=True),
                    fc2=nn.Linear(512, num_classes),
                )
            )
        else:
            self.classifier = nn.Linear(last, num_classes)
        init_he_fan_out(self, bn_gamma=1.0 if weight_level else 0.5, linear_std=0.01)
        if weight_level:  # the reference's vgg19_bn draws conv weights with the fan-in
            for m in self.features.modules():
                if isinstance(m, nn.Conv2d):
                    m.weight.data.normal_(0, math.sqrt(2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.in_channels)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        # Inline pooling, as in the reference code (and therefore not counted in its FLOPs).
        x = nn.functional.avg_pool2d(x, 2)
        return self.classifier(torch.flatten(x, 1))


def build(spec: ArchSpec, num_classes: int) -> nn.Module:
    """Build a checked VGG."""
    return VGG(spec.cfg or default_cfg(spec), num_classes, spec.variant)


# Checks (registry): depth in CFGS, variant, no options, cfg in the layout of CFGS[depth], widths >= 1.
FAMILY = register_arch("vgg", Family(build=build, default_cfg=default_cfg, depths=tuple(CFGS), variants=VARIANTS))
