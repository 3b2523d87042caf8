"""Slimming surgery for PreResNet-164 (variant ``slimming``; arXiv 1810.05270 Table 4).

Units = every BN, named by its module (``layer{s}.{b}.bn1/bn2/bn3``, final ``bn``):

* ``bn1`` and the final ``bn`` are followed by a ChannelSelection: they keep their full width (the
  residual stream) and their keep-set becomes the selection ``indexes``; conv1 (or the FC) loses
  the input channels that are no longer selected.
* ``bn2`` / ``bn3`` are shrunk physically with the outputs of conv1 / conv2 and the inputs of
  conv2 / conv3.

The residual stream (conv3 outputs, projections) is copied whole. ``structure`` = the selection
``indexes`` of the new net. Pruning an already-pruned net works: a selection keeps the channels
that were selected before *and* are kept now.
"""

from __future__ import annotations

import torch
from torch import nn

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models.preresnet import blocks_per_stage, is_slimming, stream_widths
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.surgery.slicing import clone_state, cut_selection, cut_units
from pruning_lightning.pruning.surgery.structure import Capability, ChannelUnit, FamilySurgery, SurgeryResult


def _blocks(arch: ArchSpec) -> list[str]:
    n = blocks_per_stage(arch)
    return [f"layer{s + 1}.{b}" for s in range(3) for b in range(n)]


def _check(arch: ArchSpec) -> None:
    if not is_slimming(arch.variant):
        raise PruningError(
            f"preresnet surgery needs the slimming variant (channel selections), got {arch.variant!r}; "
            "use variant: slimming"
        )


def units(model: nn.Module, arch: ArchSpec) -> list[ChannelUnit]:
    _check(arch)
    assert arch.cfg is not None
    stream, out = stream_widths(arch), []
    for i, blk in enumerate(_blocks(arch)):
        w1, w2 = int(arch.cfg[3 * i + 1]), int(arch.cfg[3 * i + 2])
        out += [
            ChannelUnit(name=f"{blk}.bn1", conv=None, bn=f"{blk}.bn1", size=stream[i]),
            ChannelUnit(name=f"{blk}.bn2", conv=f"{blk}.conv1", bn=f"{blk}.bn2", size=w1, consumer=f"{blk}.conv2"),
            ChannelUnit(name=f"{blk}.bn3", conv=f"{blk}.conv2", bn=f"{blk}.bn3", size=w2, consumer=f"{blk}.conv3"),
        ]
    return [*out, ChannelUnit(name="bn", conv=None, bn="bn", size=stream[-1])]


def cut(model: nn.Module, arch: ArchSpec, keep: dict[str, torch.Tensor]) -> SurgeryResult:
    """Selections for bn1 / final bn, physical cuts for bn2 / bn3 (see module docstring)."""
    _check(arch)
    assert arch.cfg is not None
    new = clone_state(model)
    cut_units(new, [u for u in units(model, arch) if u.conv is not None], keep)  # bn2 / bn3
    selections: list[str] = []
    cfg: list[int | str] = []
    for i, blk in enumerate(_blocks(arch)):
        cfg.append(cut_selection(new, f"{blk}.select", keep.get(f"{blk}.bn1"), f"{blk}.bn1", f"{blk}.conv1"))
        selections.append(f"{blk}.select.indexes")
        for k in (1, 2):
            bn = f"{blk}.bn{k + 1}"
            cfg.append(len(keep[bn]) if bn in keep else int(arch.cfg[3 * i + k]))
    cfg.append(cut_selection(new, "select", keep.get("bn"), "bn", "fc"))
    selections.append("select.indexes")
    return SurgeryResult(arch=arch.replace(cfg=cfg), weights=new, structure={k: new[k].clone() for k in selections})


PROVIDES = frozenset(
    {Capability.WEIGHTS, Capability.CHANNEL_UNITS, Capability.CHANNELWISE_CONSUMERS, Capability.BN_COVERS_NETWORK}
)

SURGERY = FamilySurgery(provides=PROVIDES, units=units, cut=cut)
