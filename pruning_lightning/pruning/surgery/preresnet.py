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

from pruning_lightning.errors import PruningError
from pruning_lightning.models.preresnet import blocks_per_stage, is_slimming, stream_widths
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.surgery import ChannelUnit, FamilySurgery, register_surgery

BN_KEYS = ("weight", "bias", "running_mean", "running_var")


def narrow_selection(
    old_mask: torch.Tensor, keep: torch.Tensor | None, where: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """New selection mask (old selection AND kept) and the positions, among the previously
    selected channels, that stay selected (the input columns of the consuming conv/FC to keep).

    Raises:
        PruningError: nothing would stay selected at ``where``.
    """
    old_mask = old_mask.bool()
    before = torch.nonzero(old_mask).flatten()
    if keep is None:
        return old_mask.clone(), torch.arange(len(before))
    mask = torch.zeros_like(old_mask)
    mask[keep] = True
    mask &= old_mask
    if not mask.any():
        raise PruningError(f"the plan deselects every channel still selected at {where}; lower the ratio")
    return mask, torch.nonzero(mask[before]).flatten()


def slice_bn(state: dict[str, torch.Tensor], bn: str, idx: torch.Tensor) -> None:
    """Keep channels ``idx`` of BN ``bn`` in ``state`` (in place)."""
    for p in BN_KEYS:
        state[f"{bn}.{p}"] = state[f"{bn}.{p}"][idx].clone()


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
        out += [
            ChannelUnit(name=f"{blk}.bn1", conv=None, bn=f"{blk}.bn1", size=stream[i]),
            ChannelUnit(name=f"{blk}.bn2", conv=f"{blk}.conv1", bn=f"{blk}.bn2", size=int(arch.cfg[3 * i + 1])),
            ChannelUnit(name=f"{blk}.bn3", conv=f"{blk}.conv2", bn=f"{blk}.bn3", size=int(arch.cfg[3 * i + 2])),
        ]
    return [*out, ChannelUnit(name="bn", conv=None, bn="bn", size=stream[-1])]


def cut(
    model: nn.Module, arch: ArchSpec, keep: dict[str, torch.Tensor]
) -> tuple[ArchSpec, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Selections for bn1 / final bn, physical cuts for bn2 / bn3 (see module docstring)."""
    _check(arch)
    assert arch.cfg is not None
    new = {k: v.detach().clone() for k, v in model.state_dict().items()}
    structure: dict[str, torch.Tensor] = {}
    cfg: list[int | str] = []
    for i, blk in enumerate(_blocks(arch)):
        mask, cols = narrow_selection(new[f"{blk}.select.indexes"], keep.get(f"{blk}.bn1"), f"{blk}.bn1")
        structure[f"{blk}.select.indexes"] = new[f"{blk}.select.indexes"] = mask
        k2 = keep.get(f"{blk}.bn2", torch.arange(int(arch.cfg[3 * i + 1])))
        k3 = keep.get(f"{blk}.bn3", torch.arange(int(arch.cfg[3 * i + 2])))
        new[f"{blk}.conv1.weight"] = new[f"{blk}.conv1.weight"][k2][:, cols].clone()
        slice_bn(new, f"{blk}.bn2", k2)
        new[f"{blk}.conv2.weight"] = new[f"{blk}.conv2.weight"][k3][:, k2].clone()
        slice_bn(new, f"{blk}.bn3", k3)
        new[f"{blk}.conv3.weight"] = new[f"{blk}.conv3.weight"][:, k3].clone()
        cfg += [len(cols), len(k2), len(k3)]
    mask, cols = narrow_selection(new["select.indexes"], keep.get("bn"), "bn")
    structure["select.indexes"] = new["select.indexes"] = mask
    new["fc.weight"] = new["fc.weight"][:, cols].clone()
    cfg.append(len(cols))
    return arch.replace(cfg=cfg), new, {k: v.clone() for k, v in structure.items()}


register_surgery("preresnet", FamilySurgery(units=units, cut=cut))
