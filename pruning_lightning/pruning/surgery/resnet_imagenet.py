"""Channel surgery for ImageNet ResNet (``resnet_imagenet``; arXiv 1810.05270 Tables 1-3).

Units are the widths *inside* a residual branch, named by the conv that produces them:

* basic blocks (ResNet-18/34, L1-norm A/B of arXiv 1810.05270 Table 1): ``layer{s}.{b}.conv1`` (BN ``bn1``).
  Cutting it slices conv1's outputs, bn1 and conv2's inputs.
* bottlenecks (ResNet-50+, ThiNet / regression of arXiv 1810.05270 Tables 2 and 3): ``layer{s}.{b}.conv1`` (BN
  ``bn1``) and ``layer{s}.{b}.conv2`` (BN ``bn2``). Cutting conv1 slices bn1 and conv2's inputs;
  cutting conv2 slices bn2 and conv3's inputs.

The residual stream (block outputs, ``bn3``/``bn2`` of the last conv, projections, stem, FC) is never
cut, and blocks removed by SSS (all-zero cfg group) have no units. A bottleneck's
``ChannelSelection`` and its selected-input count (the group's first number) are kept as they are;
``structure`` = the ``selection.indexes`` buffers of the new net, so Scratch-E/B select the same
input channels.

L1-norm numbering (Li et al., basic blocks only): the stem is id 1 and block ``j`` (0-based, network
order) has ids ``2 + 2j`` (conv1) and ``3 + 2j``; 1x1 downsample convs are not numbered. The stage is
``layer{s}``.
"""

from __future__ import annotations

import torch
from torch import nn

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models.resnet_imagenet import BLOCKS, block_layout, groups
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.surgery.slicing import clone_state, cut_units
from pruning_lightning.pruning.surgery.structure import (
    Capability,
    ChannelUnit,
    FamilySurgery,
    ResidualBlock,
    SurgeryResult,
    block_conv_unit,
)


def _inner(grp: list[int]) -> list[tuple[int, int]]:
    """``(conv index, width)`` of the prunable inner convs of one cfg group (empty if removed)."""
    if not any(grp):
        return []
    return [(1, grp[0])] if len(grp) == 1 else [(1, grp[1]), (2, grp[2])]


def _last(grp: list[int]) -> int:
    """Index of the branch's last conv: 3 (bottleneck, ``[k, w1, w2]``) or 2 (basic, ``[w]``)."""
    return 3 if len(grp) == 3 else 2


def units(model: nn.Module, arch: ArchSpec) -> list[ChannelUnit]:
    """One unit per inner conv of every block with a residual branch, in network order."""
    out = []
    for j, ((blk, *_), grp) in enumerate(zip(block_layout(arch), groups(arch), strict=True)):
        layer_id = 2 + 2 * j if len(grp) == 1 else None
        out += [block_conv_unit(blk, i, w, layer_id, ends_branch=i + 1 == _last(grp)) for i, w in _inner(grp)]
    return out


def num_stages(arch: ArchSpec) -> int:
    return len(BLOCKS[arch.depth][1])


def check_numbered(arch: ArchSpec) -> None:
    """Li et al.'s layer ids exist for basic-block ResNets only."""
    kind = BLOCKS[arch.depth][0]
    if kind != "basic":
        raise PruningError(f"L1-norm pruning is defined for basic-block ResNets (18/34); {arch} has {kind} blocks")


def residual_blocks(arch: ArchSpec) -> list[ResidualBlock]:
    out = []
    for (blk, *_), grp in zip(block_layout(arch), groups(arch), strict=True):
        last_bn = f"{blk}.bn{_last(grp)}" if any(grp) else None
        out.append(ResidualBlock(name=blk, group=grp, last_bn=last_bn))
    return out


def cut(model: nn.Module, arch: ArchSpec, keep: dict[str, torch.Tensor]) -> SurgeryResult:
    """Slice each kept unit's conv outputs (and bias), its BN, and the next conv's inputs."""
    new = clone_state(model)
    cut_units(new, units(model, arch), keep)
    cfg: list[int | str] = []
    for (blk, *_), grp in zip(block_layout(arch), groups(arch), strict=True):
        grp = list(grp)
        for i, _ in _inner(grp):
            if f"{blk}.conv{i}" in keep:  # basic: cfg = [w]; bottleneck: [k, w1, w2]
                grp[i - 1 if len(grp) == 1 else i] = len(keep[f"{blk}.conv{i}"])
        cfg += grp
    structure = {k: v.clone() for k, v in new.items() if k.endswith("selection.indexes")}
    return SurgeryResult(arch=arch.replace(cfg=cfg), weights=new, structure=structure)


PROVIDES = frozenset(
    {
        Capability.WEIGHTS,
        Capability.CHANNEL_UNITS,
        Capability.NUMBERED_UNITS,
        Capability.UNIT_CONSUMERS,
        Capability.CHANNELWISE_CONSUMERS,
        Capability.CONV_FILTERS,
        Capability.RESIDUAL_BLOCKS,
    }
)

SURGERY = FamilySurgery(
    provides=PROVIDES,
    units=units,
    cut=cut,
    num_stages=num_stages,
    residual_blocks=residual_blocks,
    check_numbered=check_numbered,
)
