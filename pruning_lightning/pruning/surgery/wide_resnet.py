"""Channel surgery for the CIFAR Wide ResNet (``models/wide_resnet.py``).

One unit per block, named ``layer{s}.{b}.conv1``: the first conv's output channels. In pre-activation
order the BN that scales them is ``bn2`` (``conv1 -> bn2 -> ReLU -> conv2``) and their consumer is
``conv2``, the branch's last conv. Cutting a unit slices conv1's outputs, bn2 and conv2's inputs; the
residual stream (conv2 outputs, projections, the ``bn1`` of each block and the final ``bn``) is never
touched, so the BNs of the stream are not units.

Not provided: Li et al.'s layer numbering (L1-norm), residual blocks with branch scales (SSS), and a
``BranchEnd`` for regression's shortcut-aware target (no BN follows ``conv2``, and the projection reads
the block's activated input, not its input), so regression refits ``conv2`` to its plain output.
"""

from __future__ import annotations

import torch
from torch import nn

from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.models.wide_resnet import block_names
from pruning_lightning.pruning.surgery.slicing import cut_entry_units
from pruning_lightning.pruning.surgery.structure import Capability, ChannelUnit, FamilySurgery, SurgeryResult


def units(model: nn.Module, arch: ArchSpec) -> list[ChannelUnit]:
    assert arch.cfg is not None
    return [
        ChannelUnit(
            name=f"{blk}.conv1",
            conv=f"{blk}.conv1",
            bn=f"{blk}.bn2",
            size=int(w),
            stage=int(blk.split(".")[0].removeprefix("layer")),
            consumer=f"{blk}.conv2",
        )
        for blk, w in zip(block_names(arch.depth), arch.cfg, strict=True)
    ]


def cut(model: nn.Module, arch: ArchSpec, keep: dict[str, torch.Tensor]) -> SurgeryResult:
    """Slice conv1 outputs, bn2 and conv2 inputs of every block named in ``keep``."""
    return cut_entry_units(model, arch, units(model, arch), keep, [f"{blk}.conv1" for blk in block_names(arch.depth)])


PROVIDES = frozenset(
    {
        Capability.WEIGHTS,
        Capability.CHANNEL_UNITS,
        Capability.UNIT_CONSUMERS,
        Capability.CHANNELWISE_CONSUMERS,
        Capability.CONV_FILTERS,
    }
)

SURGERY = FamilySurgery(provides=PROVIDES, units=units, cut=cut)
