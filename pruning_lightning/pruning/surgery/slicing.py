"""The shared slicing helpers of every family surgery: cut channels out of a state dict.

All helpers work in place on a state dict (a clone of the model's, :func:`clone_state`) and store
fresh contiguous tensors, so the result never aliases the model.
"""

from __future__ import annotations

import torch
from torch import nn

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.surgery.structure import ChannelUnit, SurgeryResult

BN_KEYS = ("weight", "bias", "running_mean", "running_var")  # num_batches_tracked is a scalar: kept as is


def clone_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of ``model``'s state dict."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def slice_outputs(state: dict[str, torch.Tensor], layer: str, idx: torch.Tensor) -> None:
    """Keep output channels ``idx`` of conv / Linear ``layer`` (weight rows and bias, if any)."""
    state[f"{layer}.weight"] = state[f"{layer}.weight"][idx].clone()
    if f"{layer}.bias" in state:
        state[f"{layer}.bias"] = state[f"{layer}.bias"][idx].clone()


def slice_bn(state: dict[str, torch.Tensor], bn: str, idx: torch.Tensor) -> None:
    """Keep channels ``idx`` of BatchNorm ``bn`` (affine parameters and running statistics)."""
    for p in BN_KEYS:
        state[f"{bn}.{p}"] = state[f"{bn}.{p}"][idx].clone()


def slice_inputs(state: dict[str, torch.Tensor], layer: str, idx: torch.Tensor, taps: int = 1) -> None:
    """Keep input channels ``idx`` of conv / Linear ``layer``.

    ``taps`` > 1: ``layer`` is a Linear reading a flattened ``C x taps`` map, so channel ``j`` is
    inputs ``taps*j .. taps*j + taps-1`` (ImageNet VGG's first FC: 7 x 7 values per channel).
    """
    cols = idx if taps == 1 else (idx[:, None] * taps + torch.arange(taps)).flatten()
    state[f"{layer}.weight"] = state[f"{layer}.weight"][:, cols].clone()


def cut_unit(
    state: dict[str, torch.Tensor],
    producer: str,
    bn: str | None,
    idx: torch.Tensor,
    consumer: str | None,
    taps: int = 1,
) -> None:
    """Keep channels ``idx`` of a unit: ``producer``'s outputs, ``bn``, ``consumer``'s inputs."""
    slice_outputs(state, producer, idx)
    if bn is not None:
        slice_bn(state, bn, idx)
    if consumer is not None:
        slice_inputs(state, consumer, idx, taps)


def cut_units(state: dict[str, torch.Tensor], units: list[ChannelUnit], keep: dict[str, torch.Tensor]) -> None:
    """:func:`cut_unit` for every unit named in ``keep`` (units whose conv feeds their consumer directly)."""
    for u in units:
        if u.name in keep:
            assert u.conv is not None, f"{u.name} has no producing conv"
            cut_unit(state, u.conv, u.bn, keep[u.name], u.consumer)


def cut_entry_units(
    model: nn.Module, arch: ArchSpec, units: list[ChannelUnit], keep: dict[str, torch.Tensor], entries: list[str]
) -> SurgeryResult:
    """Cut ``units`` to ``keep`` where each cfg entry ``i`` is the width of unit ``entries[i]``.

    The new cfg holds the kept width of every cut unit and the old entry elsewhere (an entry whose unit
    does not exist, e.g. a removed residual branch's 0, stays as it is).
    """
    assert arch.cfg is not None
    new = clone_state(model)
    cut_units(new, units, keep)
    cfg: list[int | str] = [
        len(keep[name]) if name in keep else int(w) for name, w in zip(entries, arch.cfg, strict=True)
    ]
    return SurgeryResult(arch=arch.replace(cfg=cfg), weights=new, structure={})


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


def cut_selection(
    state: dict[str, torch.Tensor], select: str, keep: torch.Tensor | None, bn: str, consumer: str
) -> int:
    """Narrow ChannelSelection ``select`` (after BN ``bn``) to ``keep`` and drop the deselected inputs
    of ``consumer``; returns the number of channels still selected."""
    mask, cols = narrow_selection(state[f"{select}.indexes"], keep, bn)
    state[f"{select}.indexes"] = mask
    slice_inputs(state, consumer, cols)
    return len(cols)
