"""The only code that knows a family's structure, cuts layers and copies surviving weights.

Each family module here describes its prunable structure once (see
:mod:`~pruning_lightning.pruning.surgery.structure`) and cuts it with the shared helpers of
:mod:`~pruning_lightning.pruning.surgery.slicing`. Criteria ask this package for units, stages and
residual blocks; they never branch on the family. Unstructured masks and block-level plans are
family-independent and handled here.

A family's surgery is the module named after the family that defines ``SURGERY`` (a
:class:`FamilySurgery`); :data:`SURGERY` collects every such module of this package, in sorted order,
so a new family adds its module here and edits nothing else.
"""

from __future__ import annotations

import copy
import importlib
import pkgutil
from collections.abc import Collection

import torch
from torch import nn

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models import build_arch, classes_of, resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.plan import KeepPlan
from pruning_lightning.pruning.surgery.structure import (
    BranchEnd,
    Capability,
    ChannelUnit,
    FamilySurgery,
    ResidualBlock,
    SurgeryResult,
)


def _discover() -> dict[str, FamilySurgery]:
    """``{family: surgery}`` of every module of this package that defines ``SURGERY`` (sorted by name)."""
    found: dict[str, FamilySurgery] = {}
    for name in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        surgery = getattr(importlib.import_module(f"{__name__}.{name}"), "SURGERY", None)
        if isinstance(surgery, FamilySurgery):
            found[name] = surgery
    return found


SURGERY: dict[str, FamilySurgery] = _discover()
"""The surgery of every family that has one, by family name (its module's name)."""

__all__ = [
    "SURGERY",
    "BranchEnd",
    "Capability",
    "ChannelUnit",
    "FamilySurgery",
    "ResidualBlock",
    "SurgeryResult",
    "apply_plan",
    "channel_units",
    "check_supported",
    "family_provides",
    "get_surgery",
    "num_stages",
    "numbered_units",
    "residual_blocks",
]


def get_surgery(family: str) -> FamilySurgery:
    """The surgery of ``family``."""
    if family not in SURGERY:
        raise PruningError(f"no channel surgery for family {family!r}; families with surgery: {sorted(SURGERY)}")
    return SURGERY[family]


def family_provides(family: str) -> frozenset[Capability]:
    """The capabilities ``family``'s structure description declares (a family without one: none)."""
    return SURGERY[family].provides if family in SURGERY else frozenset()


def check_supported(arch: ArchSpec, method: str, needs: Collection[str]) -> None:
    """Raise unless ``arch``'s family provides every capability that ``method`` ``needs``."""
    missing = sorted(set(needs) - family_provides(arch.family))
    if missing:
        fam, what = arch.family, ", ".join(missing)
        why = f"it needs {what}, which {fam} does not provide"
        raise PruningError(f"method {method!r} does not support family {fam!r}: {why}")


def channel_units(model: nn.Module, arch: ArchSpec) -> list[ChannelUnit]:
    """The prunable channel units of ``model``, in network order."""
    return get_surgery(arch.family).units(model, arch)


def numbered_units(model: nn.Module, arch: ArchSpec) -> list[ChannelUnit]:
    """The units with a Li et al. layer id (L1-norm), in network order.

    Raises:
        PruningError: ``arch`` has no such numbering (e.g. a bottleneck ResNet).
    """
    surgery = get_surgery(arch.family)
    if surgery.check_numbered is not None:
        surgery.check_numbered(arch)
    return [u for u in surgery.units(model, arch) if u.layer_id is not None]


def num_stages(arch: ArchSpec) -> int:
    """Stages of the network (the ``stage`` numbering of its units)."""
    surgery = get_surgery(arch.family)
    if surgery.num_stages is None:
        raise PruningError(f"{arch} has no stage numbering")
    return surgery.num_stages(arch)


def residual_blocks(arch: ArchSpec) -> list[ResidualBlock]:
    """The residual blocks of the unpruned layout, in network order (block-level methods)."""
    surgery = get_surgery(arch.family)
    if surgery.residual_blocks is None:
        raise PruningError(f"{arch} has no residual blocks")
    return surgery.residual_blocks(arch)


def apply_plan(model: nn.Module, arch: ArchSpec, plan: KeepPlan) -> SurgeryResult:
    """Apply a KeepPlan: the new architecture, its inherited weights, its structure and a kept summary."""
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
        result = surgery.cut(model, arch, keep)
        kept = {u: f"{len(keep[u]) if u in keep else units[u].size}/{units[u].size}" for u in units}
        return SurgeryResult(arch=result.arch, weights=result.weights, structure=result.structure, kept=kept)
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
    return SurgeryResult(arch=arch, weights=state, structure=structure, kept=kept)


def _with_updates(model: nn.Module, updates: dict[str, torch.Tensor]) -> nn.Module:
    """A copy of ``model`` with some state-dict tensors replaced (same shapes)."""
    model = copy.deepcopy(model)
    state = model.state_dict()
    for name, value in updates.items():
        if name not in state or state[name].shape != value.shape:
            raise PruningError(f"weight update {name} does not fit the model")
        state[name].copy_(value)
    return model


def _rearchitect(model: nn.Module, new_arch: ArchSpec) -> SurgeryResult:
    """Block-level plan: build ``new_arch`` and copy every tensor it has from ``model`` by name."""
    new_arch = resolve(new_arch)
    old = model.state_dict()
    new = build_arch(new_arch, classes_of(model)).state_dict()
    for name, value in new.items():
        if name not in old or old[name].shape != value.shape:
            raise PruningError(f"the new architecture's {name} has no matching tensor in the model")
    weights = {k: old[k].detach().clone() for k in new}
    # One row per top-most module that disappeared (e.g. a residual branch), for the prune summary.
    prefixes = {".".join(k.split(".")[:i]) for k in old for i in range(1, k.count(".") + 1)}
    gone = [m for m in prefixes if not any(k.startswith(m + ".") for k in new)]
    kept = {m: "removed" for m in sorted(gone) if not any(m.startswith(g + ".") for g in gone)}
    structure = {k: v.clone() for k, v in weights.items() if k.endswith(".indexes")}  # channel selections
    return SurgeryResult(arch=new_arch, weights=weights, structure=structure, kept=kept)
