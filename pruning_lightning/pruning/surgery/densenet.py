"""Slimming surgery for DenseNet-40 (variant ``slimming``; arXiv 1810.05270 Table 4).

Units = every BN (``dense{d}.{i}.bn1``, ``trans{d}.bn1``, final ``bn``), each followed by a
ChannelSelection. No conv output is ever pruned (growth rate and transition widths stay), so every
BN keeps its full width: its keep-set becomes the selection ``indexes`` and the consuming conv (or
the FC) loses the input channels that are no longer selected. ``structure`` = the selection
``indexes`` of the new net.
"""

from __future__ import annotations

import torch
from torch import nn

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models.densenet import bn_widths, is_slimming, layers_per_block
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.surgery.slicing import clone_state, cut_selection
from pruning_lightning.pruning.surgery.structure import Capability, ChannelUnit, FamilySurgery, SurgeryResult


def _sites(arch: ArchSpec) -> list[tuple[str, str, str]]:
    """(BN, selection, consumer) of every selection, in cfg order."""
    if not is_slimming(arch.variant):
        raise PruningError(
            f"densenet surgery needs the slimming variant (channel selections), got {arch.variant!r}; "
            "use variant: slimming"
        )
    n, out = layers_per_block(arch), []
    for d in range(1, 4):
        out += [(f"dense{d}.{i}.bn1", f"dense{d}.{i}.select", f"dense{d}.{i}.conv1") for i in range(n)]
        last = (f"trans{d}.bn1", f"trans{d}.select", f"trans{d}.conv1")
        out.append(last if d < 3 else ("bn", "select", "fc"))
    return out


def units(model: nn.Module, arch: ArchSpec) -> list[ChannelUnit]:
    pairs = zip(_sites(arch), bn_widths(arch), strict=True)
    return [ChannelUnit(name=bn, conv=None, bn=bn, size=w) for (bn, _, _), w in pairs]


def cut(model: nn.Module, arch: ArchSpec, keep: dict[str, torch.Tensor]) -> SurgeryResult:
    """Narrow every selection to its BN's keep-set and slice the consumer's inputs."""
    new = clone_state(model)
    sites = _sites(arch)
    cfg: list[int | str] = [cut_selection(new, sel, keep.get(bn), bn, consumer) for bn, sel, consumer in sites]
    structure = {f"{sel}.indexes": new[f"{sel}.indexes"].clone() for _, sel, _ in sites}
    return SurgeryResult(arch=arch.replace(cfg=cfg), weights=new, structure=structure)


PROVIDES = frozenset(
    {Capability.WEIGHTS, Capability.CHANNEL_UNITS, Capability.CHANNELWISE_CONSUMERS, Capability.BN_COVERS_NETWORK}
)

SURGERY = FamilySurgery(provides=PROVIDES, units=units, cut=cut)
