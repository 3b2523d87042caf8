"""CIFAR ResNet-20/32/56/110 with BasicBlocks and parameter-free shortcuts (docs/protocol.md §7, §3.1).

depth = 6n + 2 (n blocks per stage; any n >= 1 is accepted, 20/32/56/110 are the paper's). Stem:
3x3 conv 3->16 + BN + ReLU; three stages of 16/32/64 channels at 32/16/8 px (the first block of
stages 2 and 3 has stride 2); head AvgPool(8) -> FC. Block: conv3x3 -> BN -> ReLU -> conv3x3 -> BN,
plus the shortcut, then ReLU. Shortcut type A: AvgPool(2, stride 2) and zero-padding of the new
channels, no parameters; pooled inline, so (as in the reference counter, docs/protocol.md §5) not counted.

``cfg`` = the first-conv width of every block, 3n entries in network order (default 16 x n, 32 x n,
64 x n). Li et al.'s L1-norm pruning only changes these widths; the residual stream (each block's
second conv) is never pruned. An entry of **0** removes the block's residual branch: the block is
its shortcut alone (identity, or pool + pad for a downsampling block). Sparse Structure Selection
uses that; it is the only zero width any family accepts.

Options (``ArchSpec.options``):
    ``detach_shortcut`` (default false): the reference builds the type-A shortcut from ``x.data``, so
        no gradient flows through the shortcut of the two downsampling blocks. ``true`` reproduces
        that quirk; the default lets the gradient flow (the clean type-A shortcut of He et al.).
    ``subsample_shortcut`` (default false): the downsampling shortcut takes every second pixel
        (``x[:, :, ::2, ::2]``, i.e. a 1x1 pooling of stride 2) instead of averaging 2x2, then pads with
        zero channels: the shortcut of Soft Filter Pruning's reference CIFAR ResNet (``DownsampleA`` of
        he-y/soft-filter-pruning, the code behind arXiv 1810.05270's SFP appendix). Same parameters and
        counted FLOPs; the default is the average-pooling shortcut of the Rethinking L1 code (its Table 1).
    ``block_scale`` (default false): a learnable scalar ``layer{s}.{b}.scale`` (init 1.0) multiplies
        each residual branch before the addition (the lambda of Sparse Structure Selection, arXiv 1810.05270 Table 5);
        removed branches (cfg 0) have none.

Stable names: stem ``conv1``/``bn1``; blocks ``layer{1,2,3}.{b}.conv1/bn1/conv2/bn2`` (b 0-based);
head ``fc``. Init (docs/protocol.md §4): He fan-out convs, BN gamma 1 / beta 0, PyTorch-default Linear.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pruning_lightning.models.layers import init_he_fan_out
from pruning_lightning.models.registry import Family, depth_repeats, register_arch
from pruning_lightning.models.spec import ArchSpec

STAGE_WIDTHS = (16, 32, 64)
OPTIONS: dict[str, bool | int] = {"detach_shortcut": False, "block_scale": False, "subsample_shortcut": False}


def blocks_per_stage(depth: int) -> int:
    """n of depth = 6n + 2, or a PruningError naming the valid depths."""
    return depth_repeats(depth, 6, 2, "resnet_cifar", "20, 32, 56, 110, ...")


def default_cfg(spec: ArchSpec) -> list[int | str]:
    """Unpruned first-conv widths: 16 x n, 32 x n, 64 x n."""
    n = blocks_per_stage(spec.depth)
    return [w for w in STAGE_WIDTHS for _ in range(n)]


def block_names(depth: int) -> list[str]:
    """``layer{s}.{b}`` for every block in network order (cfg order)."""
    n = blocks_per_stage(depth)
    return [f"layer{s + 1}.{b}" for s in range(3) for b in range(n)]


def _shortcut_a(x: torch.Tensor, out_channels: int, stride: int, detach: bool, subsample: bool = False) -> torch.Tensor:
    """Type-A shortcut: AvgPool(2) (or, ``subsample``, every second pixel) when striding, then zero
    channels up to ``out_channels``."""
    if stride == 1 and x.shape[1] == out_channels:
        return x
    if detach:  # the reference's x.data: no gradient through the downsampling shortcut
        x = x.detach()
    if stride != 1:
        x = x[:, :, ::stride, ::stride] if subsample else nn.functional.avg_pool2d(x, stride)
    return nn.functional.pad(x, (0, 0, 0, 0, 0, out_channels - x.shape[1]))


class BasicBlock(nn.Module):
    """conv3x3 -> BN -> ReLU -> conv3x3 -> BN (+ optional scale), + type-A shortcut, ReLU.

    Args:
        in_planes: input (residual stream) width.
        planes: output (residual stream) width.
        mid: first-conv width; 0 removes the residual branch.
        stride: 1, or 2 for the first block of stages 2 and 3.
        detach_shortcut: see the module docstring.
        block_scale: add the learnable branch scale ``scale``.
        subsample_shortcut: see the module docstring.
    """

    def __init__(
        self,
        in_planes: int,
        planes: int,
        mid: int,
        stride: int,
        detach_shortcut: bool,
        block_scale: bool,
        subsample_shortcut: bool = False,
    ) -> None:
        super().__init__()
        self.planes, self.stride, self.detach_shortcut = planes, stride, detach_shortcut
        self.subsample_shortcut = subsample_shortcut
        self.has_branch = mid > 0
        if self.has_branch:
            self.conv1 = nn.Conv2d(in_planes, mid, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(mid)
            self.relu1 = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(mid, planes, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.relu2 = nn.ReLU(inplace=True)
        # A removed branch gets no scale: an unused parameter would upset DDP and count as a param.
        self.scale = nn.Parameter(torch.ones(())) if block_scale and self.has_branch else None

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """The shortcut's output for block input ``x`` (type A: pool + zero-pad, or identity)."""
        return _shortcut_a(x, self.planes, self.stride, self.detach_shortcut, self.subsample_shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.shortcut(x)
        if not self.has_branch:
            # The input is a ReLU output (>= 0) and pool/pad keep it so: the final ReLU is a no-op.
            return shortcut
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.scale is not None:
            out = out * self.scale
        return self.relu2(out + shortcut)


class ResNetCifar(nn.Module):
    """CIFAR ResNet (see module docstring)."""

    layer1: nn.Sequential  # registered with add_module in __init__
    layer2: nn.Sequential
    layer3: nn.Sequential

    def __init__(self, depth: int, cfg: list[int], num_classes: int, options: dict[str, Any]) -> None:
        super().__init__()
        n = blocks_per_stage(depth)
        detach, scale = bool(options.get("detach_shortcut", False)), bool(options.get("block_scale", False))
        subsample = bool(options.get("subsample_shortcut", False))
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        in_planes = 16
        for s, planes in enumerate(STAGE_WIDTHS):
            blocks = []
            for b in range(n):
                stride = 2 if s > 0 and b == 0 else 1
                blocks.append(BasicBlock(in_planes, planes, cfg[s * n + b], stride, detach, scale, subsample))
                in_planes = planes
            self.add_module(f"layer{s + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AvgPool2d(8)  # a module in the reference, so its counter counts it
        self.fc = nn.Linear(64, num_classes)
        init_he_fan_out(self, bn_gamma=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build(spec: ArchSpec, num_classes: int) -> nn.Module:
    """Build a checked CIFAR ResNet."""
    cfg = [int(c) for c in (spec.cfg or default_cfg(spec))]
    return ResNetCifar(spec.depth, cfg, num_classes, spec.options)


# Checks (registry): depth 6n+2 (default_cfg), no variants, bool options, 3n widths >= 0.
FAMILY = register_arch(
    "resnet_cifar",
    Family(
        build=build,
        default_cfg=default_cfg,
        options=OPTIONS,
        min_width=0,
        cfg_help="one first-conv width per block",
    ),
)
