"""The only code that cuts layers and copies surviving weights.

Each family registers a :class:`FamilySurgery`: its *channel units* (the groups of channels a
structured method may remove, with the conv that produces them and the BN that scales them) and
``cut(model, arch, keep) -> (arch, state_dict, structure)``. Unstructured masks are
family-independent and handled here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from pruning_lightning.errors import PruningError
from pruning_lightning.models.spec import ArchSpec


@dataclass(frozen=True)
class ChannelUnit:
    """A group of channels that structured pruning keeps or removes together.

    Attributes:
        name: plan key.
        conv: module producing the channels (scored by L1-norm / ThiNet), if any.
        bn: BatchNorm scaling the channels (scored by slimming), if any.
        size: number of channels in the unpruned layer.
    """

    name: str
    conv: str | None
    bn: str | None
    size: int


Cut = Callable[[nn.Module, ArchSpec, dict[str, torch.Tensor]], tuple[ArchSpec, dict[str, torch.Tensor], dict[str, torch.Tensor]]]


@dataclass(frozen=True)
class FamilySurgery:
    units: Callable[[nn.Module, ArchSpec], list[ChannelUnit]]
    cut: Cut


SURGERY: dict[str, FamilySurgery] = {}


def register_surgery(family: str, surgery: FamilySurgery) -> None:
    SURGERY[family] = surgery


def get_surgery(family: str) -> FamilySurgery:
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):  # each family's surgery module registers itself
        importlib.import_module(f"{__name__}.{info.name}")

    if family not in SURGERY:
        raise PruningError(f"no channel surgery for family {family!r}; families with surgery: {sorted(SURGERY)}")
    return SURGERY[family]


def channel_units(model: nn.Module, arch: ArchSpec) -> list[ChannelUnit]:
    """The prunable channel units of ``model``, in network order."""
    return get_surgery(arch.family).units(model, arch)


def apply_plan(
    model: nn.Module, arch: ArchSpec, plan: object
) -> tuple[ArchSpec, dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, str]]:
    """Apply a KeepPlan. Returns (new arch, structure, weights, kept-per-unit summary)."""
    channels: dict[str, torch.Tensor] = plan.channels  # type: ignore[attr-defined]
    masks: dict[str, torch.Tensor] = plan.masks  # type: ignore[attr-defined]
    if channels:
        surgery = get_surgery(arch.family)
        units = {u.name: u for u in surgery.units(model, arch)}
        unknown = sorted(set(channels) - set(units))
        if unknown:
            raise PruningError(f"plan names unknown channel units {unknown[:3]} for {arch.family}")
        for name, idx in channels.items():
            if idx.numel() == 0:
                raise PruningError(f"the plan empties layer {name}; lower the ratio or keep min_channels >= 1")
            if idx.max() >= units[name].size or idx.min() < 0:
                raise PruningError(f"plan for {name} has indices outside 0..{units[name].size - 1}")
        keep = {k: torch.sort(v.long()).values for k, v in channels.items()}
        new_arch, weights, structure = surgery.cut(model, arch, keep)
        kept = {u: f"{len(keep[u]) if u in keep else units[u].size}/{units[u].size}" for u in units}
        return new_arch, structure, weights, kept
    # Unstructured: same architecture; masks are structure, masked weights are the inherited weights.
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    params = dict(model.named_parameters())
    kept = {}
    for name, mask in masks.items():
        if name not in params or params[name].shape != mask.shape:
            raise PruningError(f"mask {name} does not fit the model")
        state[name] = state[name] * mask
        kept[name] = f"{int(mask.sum())}/{mask.numel()}"
    structure = {f"mask:{k}": v.bool() for k, v in masks.items()}
    return arch, structure, state, kept
