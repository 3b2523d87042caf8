"""CIFAR Wide ResNet WRN-d-k (Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016, arXiv 1605.07146).

depth d = 6n + 4 (n blocks per stage; 16, 22, 28, 40 are the paper's), widening factor k (option
``widen``). Stem: 3x3 conv 3->16 with no BN after it; three stages of 16k/32k/64k channels at 32/16/8
px (the first block of stages 2 and 3 has stride 2); head BN -> ReLU -> AvgPool(8) -> FC.
Pre-activation basic block: BN -> ReLU -> 3x3 conv (stride) -> BN -> ReLU -> 3x3 conv, plus the
shortcut: the identity, or, where the width or the stride changes, a 1x1 strided conv without BN that
reads the block's *activated* input (the first BN -> ReLU is shared by branch and projection, as in
the WRN code). WRN-16-4 has 2,748,890 params on CIFAR-10 (the paper's 2.7M), WRN-28-10 36,479,194 (36.5M).

``cfg`` = the first-conv width of every block, 3n entries in network order (default 16k x n, 32k x n,
64k x n). Pruning changes only these widths; the residual stream (second convs, projections, the BNs
that read the stream) keeps its width.

Options (``ArchSpec.options``):
    ``widen`` (default 4): the widening factor k (an int >= 1); ``widen: 1`` is the pre-activation ResNet
        of depth 6n + 4.

Not built: the paper's dropout between the two convs of a block (its CIFAR results are given with and
without it; the networks here have none).

Stable names: stem ``conv1``; blocks ``layer{1,2,3}.{b}.bn1/conv1/bn2/conv2`` (b 0-based), and
``layer{s}.{b}.shortcut`` where the block projects; head ``bn``, ``fc``. Init: He fan-out convs, BN
gamma 1 / beta 0, PyTorch-default Linear.
"""

from __future__ import annotations

import torch
from torch import nn

from pruning_lightning.models.layers import init_he_fan_out
from pruning_lightning.models.registry import Family, depth_repeats, register_arch
from pruning_lightning.models.spec import ArchSpec

BASE_WIDTHS = (16, 32, 64)
OPTIONS: dict[str, bool | int] = {"widen": 4}


def blocks_per_stage(depth: int) -> int:
    """n of depth = 6n + 4, or a PruningError naming the valid depths."""
    return depth_repeats(depth, 6, 4, "wide_resnet", "16, 22, 28, 40, ...")


def stage_widths(spec: ArchSpec) -> list[int]:
    """The residual-stream width of each stage: 16k, 32k, 64k."""
    k = int(spec.options.get("widen", OPTIONS["widen"]))
    return [w * k for w in BASE_WIDTHS]


def default_cfg(spec: ArchSpec) -> list[int | str]:
    """Unpruned first-conv widths: the stage's width for every block."""
    n = blocks_per_stage(spec.depth)
    return [w for w in stage_widths(spec) for _ in range(n)]


def block_names(depth: int) -> list[str]:
    """``layer{s}.{b}`` for every block in network order (cfg order)."""
    n = blocks_per_stage(depth)
    return [f"layer{s + 1}.{b}" for s in range(3) for b in range(n)]


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


class WideBlock(nn.Module):
    """Pre-activation basic block (see module docstring).

    Args:
        in_planes: input (residual stream) width.
        planes: output (residual stream) width.
        mid: first-conv width (the cfg entry).
        stride: 1, or 2 for the first block of stages 2 and 3.
    """

    def __init__(self, in_planes: int, planes: int, mid: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = _conv(in_planes, mid, 3, stride)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv2 = _conv(mid, planes, 3)
        self.relu = nn.ReLU(inplace=True)
        project = stride != 1 or in_planes != planes
        self.shortcut = _conv(in_planes, planes, 1, stride) if project else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = self.relu(self.bn1(x))
        out = self.conv2(self.relu(self.bn2(self.conv1(act))))
        return out + (x if self.shortcut is None else self.shortcut(act))


class WideResNet(nn.Module):
    """CIFAR Wide ResNet (see module docstring)."""

    layer1: nn.Sequential  # registered with add_module in __init__
    layer2: nn.Sequential
    layer3: nn.Sequential

    def __init__(self, spec: ArchSpec, cfg: list[int], num_classes: int) -> None:
        super().__init__()
        n = blocks_per_stage(spec.depth)
        self.conv1 = _conv(3, 16, 3)
        in_planes = 16
        for s, planes in enumerate(stage_widths(spec)):
            blocks = []
            for b in range(n):
                blocks.append(WideBlock(in_planes, planes, cfg[s * n + b], 2 if s > 0 and b == 0 else 1))
                in_planes = planes
            self.add_module(f"layer{s + 1}", nn.Sequential(*blocks))
        self.bn = nn.BatchNorm2d(in_planes)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AvgPool2d(8)
        self.fc = nn.Linear(in_planes, num_classes)
        init_he_fan_out(self, bn_gamma=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        x = self.relu(self.bn(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build(spec: ArchSpec, num_classes: int) -> nn.Module:
    """Build a checked Wide ResNet."""
    return WideResNet(spec, [int(c) for c in (spec.cfg or default_cfg(spec))], num_classes)


# Checks (registry): depth 6n+4 (default_cfg), no variants, option widen >= 1, 3n widths >= 1.
FAMILY = register_arch(
    "wide_resnet",
    Family(build=build, default_cfg=default_cfg, options=OPTIONS, cfg_help="one first-conv width per block"),
)
