"""Channel surgery for CIFAR ResNet (Li et al.'s L1-norm setting, arXiv 1810.05270 Table 1).

One unit per block with a residual branch, named ``layer{s}.{b}.conv1``: its output channels (conv
``layer{s}.{b}.conv1``, BN ``layer{s}.{b}.bn1``). Cutting it slices conv1's outputs, bn1, and
conv2's inputs; the residual stream (conv2 outputs, bn2) is never touched. Blocks whose branch is
removed (cfg 0) have no unit.
"""

from __future__ import annotations

import torch
from torch import nn

from pruning_lightning.models.resnet_cifar import block_names
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.surgery import ChannelUnit, FamilySurgery, register_surgery

BN_KEYS = ("weight", "bias", "running_mean", "running_var")


def units(model: nn.Module, arch: ArchSpec) -> list[ChannelUnit]:
    assert arch.cfg is not None
    return [
        ChannelUnit(name=f"{blk}.conv1", conv=f"{blk}.conv1", bn=f"{blk}.bn1", size=int(w))
        for blk, w in zip(block_names(arch.depth), arch.cfg, strict=True)
        if int(w) > 0
    ]


def cut(
    model: nn.Module, arch: ArchSpec, keep: dict[str, torch.Tensor]
) -> tuple[ArchSpec, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Slice conv1 outputs, bn1 and conv2 inputs of every block named in ``keep``."""
    assert arch.cfg is not None
    new = {k: v.detach().clone() for k, v in model.state_dict().items()}
    cfg: list[int | str] = []
    for blk, w in zip(block_names(arch.depth), arch.cfg, strict=True):
        idx = keep.get(f"{blk}.conv1")
        if idx is None:
            cfg.append(int(w))
            continue
        new[f"{blk}.conv1.weight"] = new[f"{blk}.conv1.weight"][idx].clone()
        for p in BN_KEYS:
            new[f"{blk}.bn1.{p}"] = new[f"{blk}.bn1.{p}"][idx].clone()
        new[f"{blk}.conv2.weight"] = new[f"{blk}.conv2.weight"][:, idx].clone()
        cfg.append(len(idx))
    return arch.replace(cfg=cfg), new, {}


register_surgery("resnet_cifar", FamilySurgery(units=units, cut=cut))
