"""The pruner contract and the one entry point ``prune()``: select -> surgery -> PruneResult.

Every method is a small object: hyper-parameters in ``__init__`` (so LightningCLI/jsonargparse can
configure it with ``class_path``/``init_args``) and one ``select`` that returns a :class:`KeepPlan`.
The shared :func:`prune` checks the (method, family) pair, applies the plan with the single surgery
implementation, and measures the result.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data import DataLoader

from pruning_lightning.artifact import PrunedArtifact
from pruning_lightning.errors import PruningError
from pruning_lightning.models import build_arch, input_size, resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.utils.flops import count_complexity
from pruning_lightning.utils.schedule import scratch_b_epochs


@dataclass
class KeepPlan:
    """What to keep.

    Attributes:
        channels: channel-unit name -> sorted indices of kept channels (structured methods).
        masks: parameter name -> bool mask of kept weights (unstructured methods).
        notes: human-readable remarks (e.g. when the min-channel guard fired).
        weight_updates: state-dict key -> replacement tensor of the *unpruned* shape, written into a
            copy of the model before cutting (ThiNet / regression reconstruct the next layer).
        arch: block-level methods (SSS): the new architecture; weights are then copied by name.
    """

    channels: dict[str, torch.Tensor] = field(default_factory=dict)
    masks: dict[str, torch.Tensor] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    weight_updates: dict[str, torch.Tensor] = field(default_factory=dict)
    arch: ArchSpec | None = None


class Pruner(ABC):
    """Base class of all pruning methods (see module docstring)."""

    name: ClassVar[str]
    supports: ClassVar[frozenset[str]]
    needs_data: ClassVar[bool] = False
    ratio: float

    @abstractmethod
    def select(self, model: nn.Module, arch: ArchSpec, data: DataLoader | None = None) -> KeepPlan:
        """Decide what to keep in ``model`` (the trained network described by ``arch``)."""

    @staticmethod
    def check_ratio(ratio: float) -> float:
        if not 0 < ratio < 1:
            raise PruningError(f"prune ratio must be in (0, 1), got {ratio}")
        return ratio

    def describe(self) -> dict[str, Any]:
        """Hyper-parameters, for stats and logs."""
        return {"method": self.name, **{k: v for k, v in vars(self).items() if not k.startswith("_")}}


def prune(
    model: nn.Module,
    arch: ArchSpec,
    pruner: Pruner,
    data: DataLoader | None = None,
    base_epochs: int = 160,
    max_ratio: float | None = None,
) -> PrunedArtifact:
    """Prune a trained ``model`` (described by ``arch``) and measure the result.

    Args:
        model: the trained network (not modified).
        arch: its architecture.
        pruner: a configured method.
        data: training data for data-driven methods (ThiNet, regression).
        base_epochs: the large model's epochs, for the Scratch-B budget.
        max_ratio: cap on the Scratch-B FLOPs ratio (ImageNet: 2.0).
    """
    from pruning_lightning.pruning.surgery import apply_plan

    arch = resolve(arch)
    if arch.family not in pruner.supports:
        raise PruningError(
            f"method {pruner.name!r} does not support family {arch.family!r}; it supports {sorted(pruner.supports)}"
        )
    if pruner.needs_data and data is None:
        raise PruningError(f"method {pruner.name!r} needs training data: configure --data")
    model = model.eval()
    with torch.no_grad():
        plan = pruner.select(model, arch, data)
    new_arch, structure, weights, kept = apply_plan(model, arch, plan)
    before = count_complexity(model, input_size(arch))
    pruned_net = build_arch(new_arch)
    pruned_net.load_state_dict(weights, strict=False)
    after = count_complexity(pruned_net, input_size(new_arch), sparse=bool(plan.masks))
    ratio = before.flops / after.flops
    stats: dict[str, Any] = {
        **{k: v for k, v in pruner.describe().items()},
        "params_before": before.params,
        "params_after": after.params_nonzero if plan.masks else after.params,
        "flops_before": before.flops,
        "flops_after": after.flops,
        "macs_before": before.macs,
        "macs_after": after.macs,
        "flops_ratio": ratio,
        "params_ratio": before.params / (after.params_nonzero if plan.masks else after.params),
        "base_epochs": base_epochs,
        "max_ratio": max_ratio,
        "scratch_b_epochs": scratch_b_epochs(base_epochs, ratio, max_ratio),
        "kept": kept,
        "notes": list(plan.notes),
    }
    return PrunedArtifact(
        arch=new_arch, reference_arch=arch, method=pruner.name, structure=structure, weights=weights, stats=stats
    )
