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

from pruning_lightning.errors import PruningError
from pruning_lightning.models import Family, register_arch
from pruning_lightning.models.layers import ChannelSelection, init_he_fan_out
from pruning_lightning.models.spec import ArchSpec

PLANES = (16, 32, 64)
VARIANTS = ("default", "slimming", "bottleneck", "basic")


def is_slimming(variant: str) -> bool:
    """Whether ``variant`` is the channel-selection (Network Slimming) model."""
    return variant in ("default", "slimming")


def blocks_per_stage(spec: ArchSpec) -> int:
    """n of depth = 9n + 2 (bottleneck variants) or 6n + 2 (basic)."""
    k, known = (6, "110, 56, ...") if spec.variant == "basic" else (9, "164, 110, 56, ...")
    if spec.depth < k + 2 or (spec.depth - 2) % k:
        raise PruningError(f"preresnet ({spec.variant}): unknown depth {spec.depth}; depth must be {k}n+2 ({known})")
    return (spec.depth - 2) // k


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


def validate(spec: ArchSpec) -> None:
    """Variant, depth, options, cfg length, widths >= 1 and selections within the stream width."""
    if spec.variant not in VARIANTS:
        raise PruningError(f"preresnet: unknown variant {spec.variant!r}; known: {list(VARIANTS)}")
    n = blocks_per_stage(spec)
    if spec.num_classes < 1:
        raise PruningError(f"preresnet: num_classes must be >= 1, got {spec.num_classes}")
    if spec.options:
        raise PruningError(f"preresnet: takes no options, got {sorted(spec.options)}")
    if spec.cfg is None:
        return
    per_block = {"basic": 1, "bottleneck": 2}.get(spec.variant, 3)
    expected = per_block * 3 * n + (1 if is_slimming(spec.variant) else 0)
    what = f"preresnet-{spec.depth} ({spec.variant})"
    if len(spec.cfg) != expected:
        raise PruningError(f"{what}: cfg has {len(spec.cfg)} entries, needs {expected} (see the preresnet docstring)")
    for i, c in enumerate(spec.cfg):
        if isinstance(c, bool) or not isinstance(c, int) or c < 1:
            raise PruningError(f"{what}: cfg[{i}] = {c!r} is not a width >= 1; a layer cannot lose every channel")
    if is_slimming(spec.variant):
        sel = [*spec.cfg[0:-1:3], spec.cfg[-1]]
        for i, (k, w) in enumerate(zip(sel, stream_widths(spec), strict=True)):
            if k > w:
                pos = 3 * i if i < 3 * n else len(spec.cfg) - 1
                raise PruningError(f"{what}: cfg[{pos}] selects {k} of only {w} channels; use at most {w}")


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

    def __init__(self, spec: ArchSpec, cfg: list[int]) -> None:
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
        self.fc = nn.Linear(cfg[-1] if slim else stream[-1], spec.num_classes)
        init_he_fan_out(self, bn_gamma=0.5 if slim else 1.0)  # docs/protocol.md §4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        x = self.relu(self.select(self.bn(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build(spec: ArchSpec) -> nn.Module:
    """Build a validated PreResNet."""
    validate(spec)
    return PreResNet(spec, [int(c) for c in (spec.cfg or default_cfg(spec))])


FAMILY = register_arch("preresnet", Family(build=build, default_cfg=default_cfg, validate=validate))
