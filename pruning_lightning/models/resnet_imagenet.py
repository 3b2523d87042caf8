"""ImageNet ResNet (3x224x224 input) in torchvision's layout, with per-block widths (arXiv 1810.05270 Tables 1-3 and 5).

Names follow torchvision (``conv1``, ``bn1``, ``layer{s}.{b}.conv1`` / ``bn1`` / ... /
``downsample.0`` / ``downsample.1``, ``fc``), so plans, masks and torchvision weights line up.
Depths 18/34 use basic blocks, 50/101/152 bottlenecks; stage widths are ``base_width * 2**s``.

``cfg`` (one group per block, blocks in network order):
    * basic blocks: 1 number per block, the width of its first conv (= ``conv2``'s input). ResNet-34
      has 16 entries, the L1-norm table of arXiv 1810.05270 Table 1.
    * bottlenecks: 3 numbers per block, ``[selected input channels, conv1 out, conv2 out]`` (arXiv 1810.05270
      Tables 2 and 3), 48 for ResNet-50. When the selected count ``k`` is below the block's input width,
      the block starts with a ``ChannelSelection`` (``layer{s}.{b}.selection.indexes``, a bool mask
      buffer over the block input, initially the first ``k``: for scratch training which channels
      are selected does not matter, arXiv 1810.05270 Table 3); ``conv1`` reads only those, ``downsample`` the
      full input.
    * A block whose group is all zeros has no residual branch (Sparse Structure Selection, arXiv 1810.05270
      Table 5): a non-first block is then an identity and is omitted (the surviving blocks keep their
      original indices as names), and a stage's first block becomes
      ``downsample`` (1x1 conv, stride) + BN + ReLU. The SSS ``units`` pair (a, b) of a stage maps
      to: b = the first group non-zero; a = the number of non-zero groups in the stage.
      ``depth`` names the unpruned layout: SSS ResNet-41 is depth 50 with three zeroed blocks.

Options (``spec.options``):
    ``downsample_bias`` (bool, default false): bias on the 1x1 projection conv, as in the ThiNet and
        regression ResNet-50 models (arXiv 1810.05270 Table 2).
    ``block_scale`` (bool, default false): a learnable scalar ``layer{s}.{b}.scale`` (init 1.0)
        multiplying each residual branch, the SSS scaling factor that a sparsity callback drives to 0.
    ``base_width`` (int, default 64): stem / first-stage width; small values give tiny test nets.

Init (docs/protocol.md §4): He fan-out convs (bias 0), BN gamma 1 / beta 0, PyTorch-default Linear.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models.layers import ChannelSelection, init_he_fan_out
from pruning_lightning.models.registry import Family, ZooKeys, register_arch
from pruning_lightning.models.spec import ArchSpec

BLOCKS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
OPTIONS: dict[str, bool | int] = {"downsample_bias": False, "block_scale": False, "base_width": 64}  # the defaults


def _opt(spec: ArchSpec, key: str) -> Any:
    return spec.options.get(key, OPTIONS[key])


def group_size(depth: int) -> int:
    """cfg numbers per block: 1 (basic) or 3 (bottleneck)."""
    return 1 if BLOCKS[depth][0] == "basic" else 3


def block_layout(spec: ArchSpec) -> list[tuple[str, int, int, int, int]]:
    """``(name, input width, planes, output width, stride)`` of every block of the unpruned layout."""
    kind, counts = BLOCKS[spec.depth]
    expansion = 1 if kind == "basic" else 4
    base = int(_opt(spec, "base_width"))
    out, inplanes = [], base
    for s, n in enumerate(counts):
        planes = base * 2**s
        for b in range(n):
            stride = 2 if s > 0 and b == 0 else 1
            out.append((f"layer{s + 1}.{b}", inplanes, planes, planes * expansion, stride))
            inplanes = planes * expansion
    return out


def default_cfg(spec: ArchSpec) -> list[int | str]:
    """Unpruned per-block widths."""
    if group_size(spec.depth) == 1:
        return [planes for _, _, planes, _, _ in block_layout(spec)]
    return [w for _, inp, planes, _, _ in block_layout(spec) for w in (inp, planes, planes)]


def groups(spec: ArchSpec) -> list[list[int]]:
    """The cfg split per block (default cfg when ``spec.cfg`` is None)."""
    cfg = [int(c) for c in (spec.cfg or default_cfg(spec))]
    g = group_size(spec.depth)
    return [cfg[i : i + g] for i in range(0, len(cfg), g)]


def validate(spec: ArchSpec) -> None:
    """Per block: widths all positive or all zero (branch removed); a bottleneck selects at most its input.

    The registry checked depth, variant, options and a cfg of ``len(default_cfg)`` ints >= 0 first.
    """
    if spec.cfg is None:
        return
    what = f"resnet_imagenet-{spec.depth}"
    g = group_size(spec.depth)
    for (name, inp, _, _, _), grp in zip(block_layout(spec), groups(spec), strict=True):
        if all(w == 0 for w in grp):
            continue  # branch removed (SSS)
        if any(w < 1 for w in grp):
            raise PruningError(f"{what}: block {name} has widths {grp}; use all positive, or all zero to remove it")
        if g == 3 and grp[0] > inp:
            raise PruningError(f"{what}: block {name} selects {grp[0]} input channels but only has {inp}")


def _conv(cin: int, cout: int, k: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=k, stride=stride, padding=k // 2, bias=bias)


class _Block(nn.Module):
    """Basic (``widths=[w]``) or bottleneck (``widths=[k, w1, w2]``) residual block."""

    scale: nn.Parameter | None  # registered with register_parameter in __init__

    def __init__(
        self, inp: int, out: int, widths: list[int], stride: int, downsample: nn.Module | None, scale: bool
    ) -> None:
        super().__init__()
        self.selection: nn.Module | None = None
        if len(widths) == 1:
            self.conv1 = _conv(inp, widths[0], 3, stride)
            self.bn1 = nn.BatchNorm2d(widths[0])
            self.conv2 = _conv(widths[0], out, 3)
            self.bn2 = nn.BatchNorm2d(out)
            self.convs = 2
        else:
            k, w1, w2 = widths
            self.selection = ChannelSelection(inp, k) if k < inp else None
            self.conv1 = _conv(k, w1, 1)
            self.bn1 = nn.BatchNorm2d(w1)
            self.conv2 = _conv(w1, w2, 3, stride)  # stride on the 3x3, as torchvision (v1.5) and the reference
            self.bn2 = nn.BatchNorm2d(w2)
            self.conv3 = _conv(w2, out, 1)
            self.bn3 = nn.BatchNorm2d(out)
            self.convs = 3
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.register_parameter("scale", nn.Parameter(torch.tensor(1.0)) if scale else None)

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """The shortcut's output for block input ``x`` (identity, or the ``downsample`` projection)."""
        return x if self.downsample is None else self.downsample(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.shortcut(x)
        out = x if self.selection is None else self.selection(x)
        for i in range(1, self.convs + 1):
            out = getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(out))
            if i < self.convs:
                out = self.relu(out)
        if self.scale is not None:
            out = out * self.scale
        return self.relu(out + identity)


class _Projection(nn.Module):
    """A stage's first block without its residual branch (SSS): ``relu(downsample(x))``."""

    def __init__(self, downsample: nn.Module) -> None:
        super().__init__()
        self.downsample = downsample
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.downsample(x))


class ResNetImageNet(nn.Module):
    """ImageNet ResNet (see module docstring)."""

    layer1: nn.Sequential  # set with setattr in __init__
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential

    def __init__(self, spec: ArchSpec, num_classes: int) -> None:
        super().__init__()
        base = int(_opt(spec, "base_width"))
        bias, scale = bool(_opt(spec, "downsample_bias")), bool(_opt(spec, "block_scale"))
        self.conv1 = nn.Conv2d(3, base, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        stages: list[OrderedDict[str, nn.Module]] = [OrderedDict() for _ in BLOCKS[spec.depth][1]]
        for (name, inp, _, out, stride), widths in zip(block_layout(spec), groups(spec), strict=True):
            s, b = name.removeprefix("layer").split(".")
            downsample = None
            if stride != 1 or inp != out:
                downsample = nn.Sequential(_conv(inp, out, 1, stride, bias), nn.BatchNorm2d(out))
            if any(widths):
                stages[int(s) - 1][b] = _Block(inp, out, widths, stride, downsample, scale)
            elif downsample is not None:
                stages[int(s) - 1][b] = _Projection(downsample)
        for i, blocks in enumerate(stages, start=1):
            setattr(self, f"layer{i}", nn.Sequential(blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(block_layout(spec)[-1][3], num_classes)
        init_he_fan_out(self, bn_gamma=1.0, linear_std=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build(spec: ArchSpec, num_classes: int) -> nn.Module:
    """Build a checked ImageNet ResNet."""
    return ResNetImageNet(spec, num_classes)


# Checks (registry): depth in BLOCKS, no variants, typed options, 1 or 3 widths >= 0 per block; then validate.
FAMILY = register_arch(
    "resnet_imagenet",
    Family(
        build=build,
        default_cfg=default_cfg,
        validate=validate,
        input_size=(3, 224, 224),
        depths=tuple(BLOCKS),
        options=OPTIONS,
        min_width=0,
        cfg_help="1 per basic block, 3 per bottleneck",
        zoo=ZooKeys(name=lambda spec: f"resnet{spec.depth}", key_map=lambda spec: {}),  # torchvision's names
        usual_classes=1000,  # ImageNet-1k
    ),
)
