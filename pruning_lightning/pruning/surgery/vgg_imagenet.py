"""Channel surgery for ImageNet VGG (arXiv 1810.05270 Table 4, Network Slimming on VGG-11-BN).

Units: one per conv (scaled by its BN in the ``bn`` / ``slimming`` variants) and, for ``slimming``,
one per hidden FC layer (scaled by its BatchNorm1d, which the reference prunes too). The first FC
reads the flattened ``c x 7 x 7`` map, so keeping channel ``j`` of the last conv keeps its block of
49 inputs ``49*j .. 49*j + 48`` (``gap``: one input per channel).
"""

from __future__ import annotations

import torch
from torch import nn

from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.models.vgg_imagenet import SPATIAL, conv_names, split_cfg
from pruning_lightning.pruning.surgery import ChannelUnit, FamilySurgery, register_surgery


def _bn_of(conv: str, variant: str) -> str | None:
    return conv.replace("conv", "bn") if variant in ("bn", "slimming") else None


def units(model: nn.Module, arch: ArchSpec) -> list[ChannelUnit]:
    """Every conv, then (``slimming`` only) the two hidden FC layers."""
    assert arch.cfg is not None
    conv_cfg, hidden = split_cfg(arch.cfg, arch.variant)
    widths = [int(c) for c in conv_cfg if c != "M"]
    out = [
        ChannelUnit(name=name, conv=name, bn=_bn_of(name, arch.variant), size=w)
        for name, w in zip(conv_names(conv_cfg), widths, strict=True)
    ]
    if arch.variant == "slimming":
        # conv=None: these channels come from a Linear, which conv-scoring criteria do not handle.
        out += [
            ChannelUnit(name=f"classifier.fc{k}", conv=None, bn=f"classifier.bn_fc{k}", size=w)
            for k, w in enumerate(hidden, start=1)
        ]
    return out


def _slice_bn(new: dict[str, torch.Tensor], old: dict[str, torch.Tensor], bn: str, idx: torch.Tensor) -> None:
    for p in ("weight", "bias", "running_mean", "running_var"):
        new[f"{bn}.{p}"] = old[f"{bn}.{p}"][idx].clone()


def cut(
    model: nn.Module, arch: ArchSpec, keep: dict[str, torch.Tensor]
) -> tuple[ArchSpec, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Slice convs (outputs, then the next conv's inputs), BNs, and the FC rows/columns."""
    assert arch.cfg is not None
    old = model.state_dict()
    new = {k: v.clone() for k, v in old.items()}
    conv_cfg, hidden = split_cfg(arch.cfg, arch.variant)
    all_units = units(model, arch)
    keep = {**{u.name: torch.arange(u.size) for u in all_units}, **keep}
    prev = torch.arange(3)
    names = conv_names(conv_cfg)
    for name in names:
        out_idx = keep[name]
        new[f"{name}.weight"] = old[f"{name}.weight"][out_idx][:, prev].clone()
        new[f"{name}.bias"] = old[f"{name}.bias"][out_idx].clone()
        bn = _bn_of(name, arch.variant)
        if bn is not None:
            _slice_bn(new, old, bn, out_idx)
        prev = out_idx
    if arch.variant != "gap":  # channel j of the last conv feeds inputs 49*j .. 49*j+48 of fc1
        area = SPATIAL * SPATIAL
        prev = (prev[:, None] * area + torch.arange(area)).flatten()
    n_fc = len(hidden) + 1
    for k in range(1, n_fc + 1):
        fc = f"classifier.fc{k}"
        pruned_rows = arch.variant == "slimming" and k < n_fc
        rows = keep[fc] if pruned_rows else torch.arange(old[f"{fc}.weight"].shape[0])
        new[f"{fc}.weight"] = old[f"{fc}.weight"][rows][:, prev].clone()
        new[f"{fc}.bias"] = old[f"{fc}.bias"][rows].clone()
        if pruned_rows:
            _slice_bn(new, old, f"classifier.bn_fc{k}", rows)
        prev = rows
    widths = iter(len(keep[n]) for n in names)
    cfg: list[int | str] = ["M" if c == "M" else next(widths) for c in conv_cfg]
    if arch.variant == "slimming":
        cfg += [len(keep[f"classifier.fc{k}"]) for k in range(1, len(hidden) + 1)]
    return arch.replace(cfg=cfg), new, {}


register_surgery("vgg_imagenet", FamilySurgery(units=units, cut=cut))
