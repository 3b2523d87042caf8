"""CIFAR DenseNets: the slimming DenseNet-40, a true DenseNet-BC-100 and the reference's weight-level "BC-100".

Variants (all: growth rate k = 12, stem 3x3 conv 3->2k, three dense blocks at 32/16/8 px joined by
transitions BN -> ReLU -> 1x1 conv -> AvgPool(2) (pooled inline, so not counted, docs/protocol.md §5); end
BN -> ReLU -> AvgPool(8) -> FC):

``slimming`` (= ``default``; arXiv 1810.05270 Table 4; docs/protocol.md §7): depth = 3n + 4 (40: n = 12),
    no bottleneck, no compression, no dropout. Dense layer: BN -> ChannelSelection -> ReLU -> 3x3 conv (k) ->
    concatenated to its input. **Every** BN (dense layers, transitions and the final one) is followed
    by a selection; conv outputs are never pruned, so every BN keeps the full width and slimming
    only clears selection entries. ``cfg`` = selected channels per BN in network order: 3n + 3
    entries (39 for depth 40; unpruned 24, 36, ..., 168 | 168, ..., 312 | 312, ..., 456). BN gamma
    init 0.5. 1,059,298 params on CIFAR-10.
``bc`` (arXiv 1810.05270 Table 6; docs/protocol.md §7; the paper's "DenseNet-BC-100"): depth = 6n + 4
    (100: n = 16). Dense layer:
    BN -> ReLU -> 1x1 conv (4k) -> BN -> ReLU -> 3x3 conv (k); transitions halve the width
    (compression 0.5). No selection layers. ``cfg`` = the 1x1 bottleneck width of every dense layer
    (3n entries, default 4k = 48). BN gamma init 1. 0.769M params, 287.9M MACs on CIFAR-10.
``weight_level`` (arXiv 1810.05270 Table 6 as the reference code builds it: ``densenet --depth 100
    --compressionRate 2`` with that code's default basic block): depth = 3n + 4 (100: n = 32). Dense layer:
    BN -> ReLU -> 3x3 conv (k), no bottleneck; transitions keep ``floor(width / 2)`` channels (24 -> 408
    -> 204 -> 588 -> 294 -> 678). No selection layers. ``cfg`` = the 3x3 output width of every dense layer
    (3n entries, default k = 12). BN gamma init 1. 4,068,490 params (CIFAR-10), 4,129,600 (CIFAR-100);
    1.325G MACs, 2.684G FLOPs (paper convention) at 32x32.

Init (docs/protocol.md §4): He fan-out convs, BN beta 0, PyTorch-default Linear. Stable names: stem
``conv1``; ``dense{1,2,3}.{i}.{bn1,select,conv1[,bn2,conv2]}``; ``trans{1,2}.{bn1,select,conv1}``;
``bn``, ``select``, ``fc``.

Deviations from the reference code:
    * The reference's weight-level "densenet-100" is a 4.07M net of 3x3 layers (arXiv 1810.05270 Table 6):
      ``weight_level`` builds it (the Table 6 experiments use it); ``bc`` is the real BC architecture
      that the paper's name refers to.
    * ``ChannelSelection.indexes`` is a bool buffer (see ``models/preresnet.py``).
"""

from __future__ import annotations

import torch
from torch import nn

from pruning_lightning.models.layers import ChannelSelection, init_he_fan_out
from pruning_lightning.models.registry import Family, depth_repeats, register_arch
from pruning_lightning.models.spec import ArchSpec

GROWTH = 12
VARIANTS = ("default", "slimming", "bc", "weight_level")


def is_slimming(variant: str) -> bool:
    """Whether ``variant`` is the channel-selection (Network Slimming) model."""
    return variant in ("default", "slimming")


def layers_per_block(spec: ArchSpec) -> int:
    """n of depth = 3n + 4 (slimming, weight_level) or 6n + 4 (bc)."""
    k, known = (6, "100, 40, ...") if spec.variant == "bc" else (3, "40, 100, ...")
    return depth_repeats(spec.depth, k, 4, f"densenet ({spec.variant})", known)


def bn_widths(spec: ArchSpec) -> list[int]:
    """Full width of every selection-followed BN of the slimming net, in network order (3n + 3)."""
    n = layers_per_block(spec)
    w, out = 2 * GROWTH, []
    for _ in range(3):
        out += [w + GROWTH * i for i in range(n + 1)]  # n dense layers, then the transition / final BN
        w += GROWTH * n
    return out


def default_cfg(spec: ArchSpec) -> list[int | str]:
    """Unpruned cfg of the variant (see module docstring)."""
    if is_slimming(spec.variant):
        return list(bn_widths(spec))
    return [(GROWTH if spec.variant == "weight_level" else 4 * GROWTH)] * (3 * layers_per_block(spec))


def selection_bounds(spec: ArchSpec) -> list[int | None] | None:
    """Upper bound of each cfg entry: the full width of the BN it selects from (slimming; else unbounded)."""
    return list(bn_widths(spec)) if is_slimming(spec.variant) else None


def _conv(cin: int, cout: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)


class DenseLayer(nn.Module):
    """Slimming layer (BN -> select -> ReLU -> 3x3), BC layer (BN -> ReLU -> 1x1 -> BN -> ReLU -> 3x3)
    or weight-level basic layer (BN -> ReLU -> 3x3 with ``width`` outputs)."""

    def __init__(self, inplanes: int, width: int, variant: str) -> None:
        super().__init__()
        bc, basic = variant == "bc", variant == "weight_level"
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.select = ChannelSelection(inplanes, width) if is_slimming(variant) else nn.Identity()
        self.relu = nn.ReLU(inplace=True)
        if basic:
            self.conv1 = _conv(inplanes, width, 3)
        else:
            self.conv1 = _conv(inplanes if bc else width, width if bc else GROWTH, 1 if bc else 3)
        if bc:
            self.bn2 = nn.BatchNorm2d(width)
            self.conv2 = _conv(width, GROWTH, 3)
        self.bc = bc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu(self.select(self.bn1(x))))
        if self.bc:
            out = self.conv2(self.relu(self.bn2(out)))
        return torch.cat((x, out), 1)


class Transition(nn.Module):
    """BN -> [select] -> ReLU -> 1x1 conv -> inline AvgPool(2)."""

    def __init__(self, inplanes: int, outplanes: int, selected: int | None) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.select = nn.Identity() if selected is None else ChannelSelection(inplanes, selected)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = _conv(inplanes if selected is None else selected, outplanes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.avg_pool2d(self.conv1(self.relu(self.select(self.bn1(x)))), 2)


class DenseNet(nn.Module):
    """CIFAR DenseNet (see module docstring)."""

    dense1: nn.Sequential  # registered with add_module in __init__
    dense2: nn.Sequential
    dense3: nn.Sequential
    trans1: Transition
    trans2: Transition

    def __init__(self, spec: ArchSpec, cfg: list[int], num_classes: int) -> None:
        super().__init__()
        n, bc = layers_per_block(spec), not is_slimming(spec.variant)  # bc: no selections (bc, weight_level)
        w = 2 * GROWTH
        self.conv1 = _conv(3, w, 3)
        widths = iter(cfg)
        for d in range(3):
            layers = []
            for _ in range(n):
                width = next(widths)
                layers.append(DenseLayer(w, width, spec.variant))
                w += width if spec.variant == "weight_level" else GROWTH
            self.add_module(f"dense{d + 1}", nn.Sequential(*layers))
            if d < 2:
                out = w // 2 if bc else w  # compression 0.5, floor (bc, weight_level) or 1 (slimming)
                self.add_module(f"trans{d + 1}", Transition(w, out, None if bc else next(widths)))
                w = out
        self.bn = nn.BatchNorm2d(w)
        final = w if bc else next(widths)
        self.select = nn.Identity() if bc else ChannelSelection(w, final)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AvgPool2d(8)
        self.fc = nn.Linear(final, num_classes)
        init_he_fan_out(self, bn_gamma=1.0 if bc else 0.5)  # docs/protocol.md §4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.trans1(self.dense1(self.conv1(x)))
        x = self.dense3(self.trans2(self.dense2(x)))
        x = self.relu(self.select(self.bn(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build(spec: ArchSpec, num_classes: int) -> nn.Module:
    """Build a checked DenseNet."""
    return DenseNet(spec, [int(c) for c in (spec.cfg or default_cfg(spec))], num_classes)


# Checks (registry): variant, depth 3n+4 / 6n+4 (default_cfg), no options, cfg length, widths >= 1, selections.
FAMILY = register_arch(
    "densenet",
    Family(build=build, default_cfg=default_cfg, variants=VARIANTS, max_widths=selection_bounds),
)
