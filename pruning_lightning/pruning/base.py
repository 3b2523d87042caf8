"""The pruner contract and the one entry point ``prune()``: select -> surgery -> PruneResult.

Every method is a small object: hyper-parameters in ``__init__`` (so LightningCLI/jsonargparse can
configure it with ``class_path``/``init_args``) and one ``select`` that returns a :class:`KeepPlan`.
The shared :func:`prune` checks that the architecture provides what the method needs, applies the plan
with the single surgery implementation, and measures the result.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data import DataLoader

from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.artifact import PrunedArtifact
from pruning_lightning.models import build_arch, classes_of, input_size, resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.plan import KeepPlan
from pruning_lightning.pruning.stats import complexity_stats
from pruning_lightning.pruning.surgery import apply_plan, check_supported
from pruning_lightning.utils.flops import count_complexity


class Pruner(ABC):
    """Base class of all pruning methods (see module docstring)."""

    name: ClassVar[str]
    needs: ClassVar[frozenset[str]]  # the Capability values a family must provide (surgery.structure)
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
    arch = resolve(arch)
    check_supported(arch, pruner.name, pruner.needs)
    if pruner.needs_data and data is None:
        raise PruningError(f"method {pruner.name!r} needs training data: configure --data")
    model = model.eval()
    with torch.no_grad():
        plan = pruner.select(model, arch, data)
    result = apply_plan(model, arch, plan)
    sparse = bool(plan.masks)
    before = count_complexity(model, input_size(arch))
    pruned_net = build_arch(result.arch, classes_of(model))
    pruned_net.load_state_dict(result.weights, strict=False)
    after = count_complexity(pruned_net, input_size(result.arch), sparse=sparse)
    stats = complexity_stats(
        before, after, base_epochs=base_epochs, max_ratio=max_ratio, sparse=sparse, kept=result.kept, notes=plan.notes
    )
    return PrunedArtifact(
        arch=result.arch,
        reference_arch=arch,
        method=pruner.name,
        num_classes=classes_of(model),
        structure=result.structure,
        weights=result.weights,
        stats={**pruner.describe(), **stats},
    )
