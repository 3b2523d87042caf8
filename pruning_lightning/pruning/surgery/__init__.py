"""The only code that cuts layers and copies surviving weights.

Each family registers a :class:`FamilySurgery`: its *channel units* (the groups of channels a
structured method may remove, with the conv that produces them and the BN that scales them) and
``cut(model, arch, keep) -> (arch, state_dict, structure)``. Unstructured masks are
family-independent and handled here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from pruning_lightning.errors import PruningError
from pruning_lightning.models.spec import ArchSpec

if TYPE_CHECKING:
    from pruning_lightning.pruning.base import KeepPlan


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


Cut = Callable[
    [nn.Module, ArchSpec, dict[str, torch.Tensor]], tuple[ArchSpec, dict[str, torch.Tensor], dict[str, torch.Tensor]]
]


@dataclass(frozen=True)
class FamilySurgery:
    units: Callable[[nn.Module, ArchSpec], list[ChannelUnit]]
    cut: Cut


SURGERY: dict[str, FamilySurgery] = {}


def register_surgery(family: str, surgery: FamilySurgery) -> None:
    SURGERY[family] = surgery


def get_surgery(family: str) -> FamilySurgery:
    """The family's surgery, from ``pruning/surgery/<family>.py`` (imported on first use)."""
    import importlib
    import pkgutil

    if family not in SURGERY and family in {i.name for i in pkgutil.iter_modules(__path__)}:
        importlib.import_module(f"{__name__}.{family}")

    if family not in SURGERY:
        raise PruningError(f"no channel surgery for family {family!r}; families with surgery: {sorted(SURGERY)}")
    return SURGERY[family]


def channel_units(model: nn.Module, arch: ArchSpec) -> list[ChannelUnit]:
    """The prunable channel units of ``model``, in network order."""
    return get_surgery(arch.family).units(model, arch)


def apply_plan(
    model: nn.Module, arch: ArchSpec, plan: KeepPlan
) -> tuple[ArchSpec, dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, str]]:
    """Apply a KeepPlan. Returns (new arch, structure, weights, kept-per-unit summary)."""
    if plan.weight_updates:  # reconstructed next-layer weights (ThiNet, regression) are inherited like any other
        model = _with_updates(model, plan.weight_updates)
    if plan.arch is not None:
        return _rearchitect(model, plan.arch)
    channels, masks = plan.channels, plan.masks
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


def _with_updates(model: nn.Module, updates: dict[str, torch.Tensor]) -> nn.Module:
    """A copy of ``model`` with some state-dict tensors replaced (same shapes)."""
    import copy

    model = copy.deepcopy(model)
    state = model.state_dict()
    for name, value in updates.items():
        if name not in state or state[name].shape != value.shape:
            raise PruningError(f"weight update {name} does not fit the model")
        state[name].copy_(value)
    return model


def _rearchitect(
    model: nn.Module, new_arch: ArchSpec
) -> tuple[ArchSpec, dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, str]]:
    """Block-level plan: build ``new_arch`` and copy every tensor it has from ``model`` by name."""
    from pruning_lightning.models import build_arch, resolve

    new_arch = resolve(new_arch)
    old = model.state_dict()
    new = build_arch(new_arch).state_dict()
    for name, value in new.items():
        if name not in old or old[name].shape != value.shape:
            raise PruningError(f"the new architecture's {name} has no matching tensor in the model")
    weights = {k: old[k].detach().clone() for k in new}
    # One row per top-most module that disappeared (e.g. a residual branch), for the prune summary.
    prefixes = {".".join(k.split(".")[:i]) for k in old for i in range(1, k.count(".") + 1)}
    gone = [m for m in prefixes if not any(k.startswith(m + ".") for k in new)]
    kept = {m: "removed" for m in sorted(gone) if not any(m.startswith(g + ".") for g in gone)}
    structure = {k: v.clone() for k, v in weights.items() if k.endswith(".indexes")}  # channel selections
    return new_arch, structure, weights, kept
