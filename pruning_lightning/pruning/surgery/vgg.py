"""Channel surgery for CIFAR VGG: a unit per conv (its BN scales it).

Conv ``i`` (``features.conv{i}``) has L1-norm layer id ``i``; a stage is the run of convs between two
max-pools. Its channels feed the next conv, the last conv's the classifier's first Linear.
"""

from __future__ import annotations

import torch
from torch import nn

from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.models.vgg import conv_names
from pruning_lightning.pruning.surgery.slicing import clone_state, cut_units
from pruning_lightning.pruning.surgery.structure import Capability, ChannelUnit, FamilySurgery, SurgeryResult


def conv_stages(cfg: list[int | str]) -> list[int]:
    """1-based stage of every conv of ``cfg``: the run of convs between two max-pools."""
    stages, s = [], 1
    for c in cfg:
        if c == "M":
            s += 1
        else:
            stages.append(s)
    return stages


def num_stages(arch: ArchSpec) -> int:
    assert arch.cfg is not None
    return arch.cfg.count("M") + 1


def units(model: nn.Module, arch: ArchSpec) -> list[ChannelUnit]:
    assert arch.cfg is not None
    widths = [int(c) for c in arch.cfg if c != "M"]
    names = conv_names(arch.cfg)
    consumers = [*names[1:], "classifier.fc1" if arch.variant == "l1" else "classifier"]
    return [
        ChannelUnit(
            name=name,
            conv=name,
            bn=name.replace("conv", "bn"),
            size=w,
            stage=stage,
            layer_id=i + 1,
            consumer=consumer,
        )
        for i, (name, w, stage, consumer) in enumerate(
            zip(names, widths, conv_stages(arch.cfg), consumers, strict=True)
        )
    ]


def cut(model: nn.Module, arch: ArchSpec, keep: dict[str, torch.Tensor]) -> SurgeryResult:
    """Slice every kept unit's conv outputs (and bias), its BN, and its consumer's inputs."""
    assert arch.cfg is not None
    new = clone_state(model)
    all_units = units(model, arch)
    cut_units(new, all_units, keep)
    widths = iter(len(keep[u.name]) if u.name in keep else u.size for u in all_units)
    cfg: list[int | str] = ["M" if c == "M" else next(widths) for c in arch.cfg]
    return SurgeryResult(arch=arch.replace(cfg=cfg), weights=new, structure={})


PROVIDES = frozenset(
    {
        Capability.WEIGHTS,
        Capability.CHANNEL_UNITS,
        Capability.NUMBERED_UNITS,
        Capability.UNIT_CONSUMERS,
        Capability.CHANNELWISE_CONSUMERS,
        Capability.CONV_FILTERS,
        Capability.BN_COVERS_NETWORK,
        Capability.STAGE_WIDTHS,
    }
)

SURGERY = FamilySurgery(provides=PROVIDES, units=units, cut=cut, num_stages=num_stages)
