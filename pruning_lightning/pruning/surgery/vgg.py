"""Channel surgery for CIFAR VGG: a unit per conv (its BN scales it)."""

from __future__ import annotations

import torch
from torch import nn

from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.models.vgg import conv_names
from pruning_lightning.pruning.surgery import ChannelUnit, FamilySurgery, register_surgery


def units(model: nn.Module, arch: ArchSpec) -> list[ChannelUnit]:
    assert arch.cfg is not None
    widths = [int(c) for c in arch.cfg if c != "M"]
    return [
        ChannelUnit(name=name, conv=name, bn=name.replace("conv", "bn"), size=w)
        for name, w in zip(conv_names(arch.cfg), widths, strict=True)
    ]


def cut(
    model: nn.Module, arch: ArchSpec, keep: dict[str, torch.Tensor]
) -> tuple[ArchSpec, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Slice convs (out, then the next conv's in), BNs, and the classifier's input."""
    assert arch.cfg is not None
    old = model.state_dict()
    new: dict[str, torch.Tensor] = {}
    names = conv_names(arch.cfg)
    widths = [int(c) for c in arch.cfg if c != "M"]
    all_idx = {n: torch.arange(w) for n, w in zip(names, widths, strict=True)}
    keep = {**all_idx, **keep}
    prev = torch.arange(3)
    for name in names:
        out_idx = keep[name]
        new[f"{name}.weight"] = old[f"{name}.weight"][out_idx][:, prev].clone()
        if f"{name}.bias" in old:  # the weight-level variant's conv bias
            new[f"{name}.bias"] = old[f"{name}.bias"][out_idx].clone()
        bn = name.replace("conv", "bn")
        for p in ("weight", "bias", "running_mean", "running_var"):
            new[f"{bn}.{p}"] = old[f"{bn}.{p}"][out_idx].clone()
        new[f"{bn}.num_batches_tracked"] = old[f"{bn}.num_batches_tracked"].clone()
        prev = out_idx
    first_fc = "classifier.fc1" if arch.variant == "l1" else "classifier"
    for k, v in old.items():
        if k.startswith("classifier"):
            new[k] = v[:, prev].clone() if k == f"{first_fc}.weight" else v.clone()
    widths_iter = iter(len(keep[n]) for n in names)
    cfg: list[int | str] = ["M" if c == "M" else next(widths_iter) for c in arch.cfg]
    return arch.replace(cfg=cfg), new, {}


register_surgery("vgg", FamilySurgery(units=units, cut=cut))
