"""Channel surgery for CIFAR ResNet (Li et al.'s L1-norm setting, arXiv 1810.05270 Table 1).

One unit per block with a residual branch, named ``layer{s}.{b}.conv1``: its output channels (conv
``layer{s}.{b}.conv1``, BN ``layer{s}.{b}.bn1``), consumed by ``conv2``, the branch's last conv.
Cutting it slices conv1's outputs, bn1, and conv2's inputs; the residual stream (conv2 outputs, bn2)
is never touched. Blocks whose branch is removed (cfg 0) have no unit.

L1-norm numbering (Li et al.): the stem is id 1 and block ``j`` (0-based, network order, counting
removed branches too) has ids ``2 + 2j`` (conv1) and ``3 + 2j``; the stage is ``layer{s}``.
"""

from __future__ import annotations

import torch
from torch import nn

from pruning_lightning.models.resnet_cifar import STAGE_WIDTHS, block_names
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.surgery.slicing import cut_entry_units
from pruning_lightning.pruning.surgery.structure import (
    Capability,
    ChannelUnit,
    FamilySurgery,
    ResidualBlock,
    SurgeryResult,
    block_conv_unit,
)


def num_stages(arch: ArchSpec) -> int:
    return len(STAGE_WIDTHS)


def units(model: nn.Module, arch: ArchSpec) -> list[ChannelUnit]:
    assert arch.cfg is not None
    return [
        block_conv_unit(blk, 1, int(w), layer_id=2 + 2 * j, ends_branch=True)
        for j, (blk, w) in enumerate(zip(block_names(arch.depth), arch.cfg, strict=True))
        if int(w) > 0
    ]


def residual_blocks(arch: ArchSpec) -> list[ResidualBlock]:
    return [
        ResidualBlock(name=blk, group=[int(w)], last_bn=f"{blk}.bn2" if int(w) > 0 else None)
        for blk, w in zip(block_names(arch.depth), arch.cfg or [], strict=True)
    ]


def cut(model: nn.Module, arch: ArchSpec, keep: dict[str, torch.Tensor]) -> SurgeryResult:
    """Slice conv1 outputs, bn1 and conv2 inputs of every block named in ``keep``."""
    return cut_entry_units(model, arch, units(model, arch), keep, [f"{blk}.conv1" for blk in block_names(arch.depth)])


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

SURGERY = FamilySurgery(provides=PROVIDES, units=units, cut=cut, num_stages=num_stages, residual_blocks=residual_blocks)
