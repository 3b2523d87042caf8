"""Channel surgery for ImageNet VGG (arXiv 1810.05270 Table 4, Network Slimming on VGG-11-BN).

Units: one per conv (scaled by its BN in the ``bn`` / ``slimming`` variants) and, for ``slimming``,
one per hidden FC layer (scaled by its BatchNorm1d, which the reference prunes too). The first FC
reads the flattened ``c x 7 x 7`` map, so keeping channel ``j`` of the last conv keeps its block of
49 inputs ``49*j .. 49*j + 48`` (``gap``: one input per channel). Stages are the runs of convs
between max-pools; the hidden FC units have no stage and no consumer (they are not reconstructed).
"""

from __future__ import annotations

import torch
from torch import nn

from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.models.vgg_imagenet import SPATIAL, conv_names, split_cfg
from pruning_lightning.pruning.surgery.slicing import clone_state, cut_unit
from pruning_lightning.pruning.surgery.structure import Capability, ChannelUnit, FamilySurgery, SurgeryResult
from pruning_lightning.pruning.surgery.vgg import conv_stages


def _bn_of(conv: str, variant: str) -> str | None:
    return conv.replace("conv", "bn") if variant in ("bn", "slimming") else None


def num_stages(arch: ArchSpec) -> int:
    assert arch.cfg is not None
    return max(conv_stages(split_cfg(arch.cfg, arch.variant)[0]))


def units(model: nn.Module, arch: ArchSpec) -> list[ChannelUnit]:
    """Every conv, then (``slimming`` only) the two hidden FC layers."""
    assert arch.cfg is not None
    conv_cfg, hidden = split_cfg(arch.cfg, arch.variant)
    widths = [int(c) for c in conv_cfg if c != "M"]
    names = conv_names(conv_cfg)
    out = [
        ChannelUnit(name=name, conv=name, bn=_bn_of(name, arch.variant), size=w, stage=stage, consumer=consumer)
        for name, w, stage, consumer in zip(
            names, widths, conv_stages(conv_cfg), [*names[1:], "classifier.fc1"], strict=True
        )
    ]
    if arch.variant == "slimming":
        # conv=None: these channels come from a Linear, which conv-scoring criteria do not handle.
        out += [
            ChannelUnit(name=f"classifier.fc{k}", conv=None, bn=f"classifier.bn_fc{k}", size=w)
            for k, w in enumerate(hidden, start=1)
        ]
    return out


def cut(model: nn.Module, arch: ArchSpec, keep: dict[str, torch.Tensor]) -> SurgeryResult:
    """Slice convs (outputs, then the next layer's inputs), BNs, and the FC rows/columns."""
    assert arch.cfg is not None
    new = clone_state(model)
    conv_cfg, hidden = split_cfg(arch.cfg, arch.variant)
    all_units = units(model, arch)
    last = conv_names(conv_cfg)[-1]
    for u in all_units:
        if u.name not in keep:
            continue
        if u.conv is not None:  # channel j of the last conv feeds inputs 49*j .. 49*j+48 of fc1 (gap: input j)
            taps = SPATIAL * SPATIAL if u.conv == last and arch.variant != "gap" else 1
            cut_unit(new, u.conv, u.bn, keep[u.name], u.consumer, taps)
        else:  # hidden FC k (slimming): its rows, its BatchNorm1d, the next FC's columns
            k = int(u.name.removeprefix("classifier.fc"))
            cut_unit(new, u.name, u.bn, keep[u.name], f"classifier.fc{k + 1}")
    widths = iter(len(keep[u.name]) if u.name in keep else u.size for u in all_units)
    cfg: list[int | str] = ["M" if c == "M" else next(widths) for c in conv_cfg]
    if arch.variant == "slimming":
        cfg += [next(widths) for _ in hidden]
    return SurgeryResult(arch=arch.replace(cfg=cfg), weights=new, structure={})


PROVIDES = frozenset(
    {Capability.WEIGHTS, Capability.CHANNEL_UNITS, Capability.UNIT_CONSUMERS, Capability.BN_COVERS_NETWORK}
)

SURGERY = FamilySurgery(provides=PROVIDES, units=units, cut=cut, num_stages=num_stages)
