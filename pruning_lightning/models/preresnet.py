"""CIFAR pre-activation ResNets (He et al. 2016): the slimming PreResNet-164 and two plain variants.

Variants (all: stem 3x3 conv 3->16 with no BN after it; stages of planes 16/32/64 at 32/16/8 px; a
final BN -> ReLU -> AvgPool(8) -> FC; shortcut = identity, or a 1x1 strided conv without BN when
the shape changes, applied to the raw block input):

``slimming`` (= ``default``; arXiv 1810.05270 Table 4; docs/protocol.md §7): bottleneck blocks,
    depth = 9n + 2 (164: n = 18),
    expansion 4. Block: BN -> ChannelSelection -> ReLU -> 1x1 conv -> BN -> ReLU -> 3x3 conv (stride)
    -> BN -> ReLU -> 1x1 conv (4 x planes), + shortcut; the final BN is also followed by a
    selection. ``cfg`` has 3 entries per block, ``[selected block-input channels, conv1 out,
    conv2 out]``, plus 1 final entry (selected channels before the FC): 163 for depth 164. The
    selected counts must not exceed the residual-stream width; the stream itself (conv3 outputs,
    projections) is fixed. BN gamma init 0.5. 1,703,258 params on CIFAR-10.
``bottleneck`` (docs/protocol.md §7, the weight-level "preresnet-110"): the same bottleneck net without
    selection layers, depth = 9n + 2 (110: n = 12), gamma init 1; 1.147M params. ``cfg`` = ``[conv1
    out, conv2 out]`` per block (2 x 3n entries).
``basic`` (the standard 1.7M PreResNet-110 of He et al.): BN -> ReLU -> 3x3 conv -> BN -> ReLU -> 3x3
    conv, depth = 6n + 2 (110: n = 18), gamma init 1. ``cfg`` = first-conv width per block (3n).

Init (docs/protocol.md §4): He fan-out convs, BN beta 0, PyTorch-default Linear. Stable names: stem
``conv1``; blocks ``layer{s}.{b}.{bn1,select,conv1,bn2,conv2,bn3,conv3,downsample}``; ``bn``,
``select``, ``fc`` at the end.

Deviations from the reference code:
    * ``ChannelSelection.indexes`` is a bool buffer (the reference: a float Parameter excluded
      from training); a net built from a pruned cfg selects the leading channels until the pruned
      ``structure`` is loaded, instead of failing on a width mismatch.
"""

from __future__ import annotations

import torch
from torch import nn

from pruning_lightning.models.layers import ChannelSelection, init_he_fan_out
from pruning_lightning.models.registry import Family, depth_repeats, register_arch
from pruning_lightning.models.spec import ArchSpec

PLANES = (16, 32, 64)
VARIANTS = ("default", "slimming", "bottleneck", "basic")


def is_slimming(variant: str) -> bool:
    """Whether ``variant`` is the channel-selection (Network Slimming) model."""
    return variant in ("default", "slimming")


def blocks_per_stage(spec: ArchSpec) -> int:
    """n of depth = 9n + 2 (bottleneck variants) or 6n + 2 (basic)."""
    k, known = (6, "110, 56, ...") if spec.variant == "basic" else (9, "164, 110, 56, ...")
    return depth_repeats(spec.depth, k, 2, f"preresnet ({spec.variant})", known)


def stream_widths(spec: ArchSpec) -> list[int]:
    """Residual-stream width entering every block, then the final width (3n + 1 entries)."""
    n = blocks_per_stage(spec)
    exp = 1 if spec.variant == "basic" else 4
    widths, w = [], 16
    for planes in PLANES:
        for _ in range(n):
            widths.append(w)
            w = planes * exp
    return [*widths, w]


def default_cfg(spec: ArchSpec) -> list[int | str]:
    """Unpruned cfg of the variant (see module docstring)."""
    n = blocks_per_stage(spec)
    inner = [p for p in PLANES for _ in range(n)]
    if spec.variant == "basic":
        return list(inner)
    if spec.variant == "bottleneck":
        return [w for p in inner for w in (p, p)]
    stream = stream_widths(spec)
    return [*(w for s, p in zip(stream[:-1], inner, strict=True) for w in (s, p, p)), stream[-1]]


def selection_bounds(spec: ArchSpec) -> list[int | None] | None:
    """Upper bound of each cfg entry: a selected count at most the stream width it selects from (slimming)."""
    if not is_slimming(spec.variant):
        return None
    stream = stream_widths(spec)
    return [*(b for w in stream[:-1] for b in (w, None, None)), stream[-1]]


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


class Bottleneck(nn.Module):
    """Pre-activation bottleneck; ``widths`` = [selected input, conv1 out, conv2 out]."""

    def __init__(self, inplanes: int, planes: int, widths: list[int], stride: int, select: bool) -> None:
        super().__init__()
        sel, w1, w2 = widths
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.select = ChannelSelection(inplanes, sel) if select else nn.Identity()
        self.conv1 = _conv(sel, w1, 1)
        self.bn2 = nn.BatchNorm2d(w1)
        self.conv2 = _conv(w1, w2, 3, stride)
        self.bn3 = nn.BatchNorm2d(w2)
        self.conv3 = _conv(w2, planes * 4, 1)
        self.relu = nn.ReLU(inplace=True)
        proj = stride != 1 or inplanes != planes * 4
        self.downsample = _conv(inplanes, planes * 4, 1, stride) if proj else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu(self.select(self.bn1(x))))
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        return out + (x if self.downsample is None else self.downsample(x))


class BasicBlock(nn.Module):
    """Pre-activation basic block; ``widths`` = [conv1 out]."""

    def __init__(self, inplanes: int, planes: int, widths: list[int], stride: int, select: bool) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.conv1 = _conv(inplanes, widths[0], 3, stride)
        self.bn2 = nn.BatchNorm2d(widths[0])
        self.conv2 = _conv(widths[0], planes, 3)
        self.relu = nn.ReLU(inplace=True)
        proj = stride != 1 or inplanes != planes
        self.downsample = _conv(inplanes, planes, 1, stride) if proj else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.conv2(self.relu(self.bn2(out)))
        return out + (x if self.downsample is None else self.downsample(x))


class PreResNet(nn.Module):
    """CIFAR pre-activation ResNet (see module docstring)."""

    layer1: nn.Sequential  # registered with add_module in __init__
    layer2: nn.Sequential
    layer3: nn.Sequential

    def __init__(self, spec: ArchSpec, cfg: list[int], num_classes: int) -> None:
        super().__init__()
        n = blocks_per_stage(spec)
        slim = is_slimming(spec.variant)
        block, per = (BasicBlock, 1) if spec.variant == "basic" else (Bottleneck, 3 if slim else 2)
        stream = stream_widths(spec)
        self.conv1 = _conv(3, 16, 3)
        i = 0
        for s, planes in enumerate(PLANES):
            blocks = []
            for b in range(n):
                widths = cfg[per * i : per * (i + 1)]
                if spec.variant == "bottleneck":
                    widths = [stream[i], *widths]  # no selection: conv1 reads the whole stream
                blocks.append(block(stream[i], planes, widths, 2 if s > 0 and b == 0 else 1, slim))
                i += 1
            self.add_module(f"layer{s + 1}", nn.Sequential(*blocks))
        self.bn = nn.BatchNorm2d(stream[-1])
        self.select = ChannelSelection(stream[-1], cfg[-1]) if slim else nn.Identity()
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AvgPool2d(8)
        self.fc = nn.Linear(cfg[-1] if slim else stream[-1], num_classes)
        init_he_fan_out(self, bn_gamma=0.5 if slim else 1.0)  # docs/protocol.md §4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        x = self.relu(self.select(self.bn(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build(spec: ArchSpec, num_classes: int) -> nn.Module:
    """Build a checked PreResNet."""
    return PreResNet(spec, [int(c) for c in (spec.cfg or default_cfg(spec))], num_classes)


# Checks (registry): variant, depth 9n+2 / 6n+2 (default_cfg), no options, cfg length, widths >= 1, selections.
FAMILY = register_arch(
    "preresnet",
    Family(build=build, default_cfg=default_cfg, variants=VARIANTS, max_widths=selection_bounds),
)
