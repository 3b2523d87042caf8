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
"""

from __future__ import annotations

import torch
from torch import nn

from pruning_lightning.models.resnet_imagenet import block_layout, groups
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.surgery import ChannelUnit, FamilySurgery, register_surgery

BN_KEYS = ("weight", "bias", "running_mean", "running_var")


def _inner(grp: list[int]) -> list[tuple[int, int]]:
    """``(conv index, width)`` of the prunable inner convs of one cfg group (empty if removed)."""
    if not any(grp):
        return []
    return [(1, grp[0])] if len(grp) == 1 else [(1, grp[1]), (2, grp[2])]


def units(model: nn.Module, arch: ArchSpec) -> list[ChannelUnit]:
    """One unit per inner conv of every block with a residual branch, in network order."""
    out = []
    for (blk, *_), grp in zip(block_layout(arch), groups(arch), strict=True):
        out += [
            ChannelUnit(name=f"{blk}.conv{i}", conv=f"{blk}.conv{i}", bn=f"{blk}.bn{i}", size=int(w))
            for i, w in _inner(grp)
        ]
    return out


def cut(
    model: nn.Module, arch: ArchSpec, keep: dict[str, torch.Tensor]
) -> tuple[ArchSpec, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Slice each kept unit's conv outputs (and bias), its BN, and the next conv's inputs."""
    new = {k: v.detach().clone() for k, v in model.state_dict().items()}
    cfg: list[int | str] = []
    for (blk, *_), grp in zip(block_layout(arch), groups(arch), strict=True):
        grp = list(grp)
        for i, _ in _inner(grp):
            idx = keep.get(f"{blk}.conv{i}")
            if idx is None:
                continue
            conv = f"{blk}.conv{i}"
            new[f"{conv}.weight"] = new[f"{conv}.weight"][idx].clone()
            if f"{conv}.bias" in new:
                new[f"{conv}.bias"] = new[f"{conv}.bias"][idx].clone()
            for p in BN_KEYS:
                new[f"{blk}.bn{i}.{p}"] = new[f"{blk}.bn{i}.{p}"][idx].clone()
            nxt = f"{blk}.conv{i + 1}.weight"
            new[nxt] = new[nxt][:, idx].clone()
            grp[i - 1 if len(grp) == 1 else i] = len(idx)  # basic: cfg = [w]; bottleneck: [k, w1, w2]
        cfg += grp
    structure = {k: v.clone() for k, v in new.items() if k.endswith("selection.indexes")}
    return arch.replace(cfg=cfg), new, structure


register_surgery("resnet_imagenet", FamilySurgery(units=units, cut=cut))
