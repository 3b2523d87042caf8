"""Network Slimming (Liu et al., "Learning Efficient Convolutional Networks through Network
Slimming", ICCV 2017, arXiv 1708.06519).

Criterion: one global threshold over |gamma| of every BatchNorm that scales a prunable channel
unit; the threshold is the sorted value at index ``int(T * ratio)`` and a channel is kept iff
``|gamma| > threshold`` (strict, arXiv 1810.05270 Table 4). Sparsity comes from the ``BNL1Sparsity`` callback
during large training.

Deviations from the reference code:
    * ``min_channels`` (default 1) keeps the largest-|gamma| channels of a layer that would
      otherwise be emptied; the reference has no guard and crashes (its issues #30/#44/#50). Each
      time the guard fires it is logged and recorded in ``stats.yaml`` under ``notes``. Set it to
      0 for strict fidelity: an emptied layer is then a clear error.

Extension: ``round_to`` (default 1, the paper's widths) rounds each unit's kept count, after the global
threshold and the guard, up to a multiple of ``round_to`` (at most the unit's full width) by adding its
next-largest-|gamma| channels (:mod:`pruning_lightning.pruning.rounding`); the notes say how many were added.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import torch
from torch import nn
from torch.utils.data import DataLoader

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.base import Pruner
from pruning_lightning.pruning.plan import KeepPlan
from pruning_lightning.pruning.rounding import WidthRounding, check_round_to
from pruning_lightning.pruning.surgery import Capability, channel_units

log = logging.getLogger(__name__)


class SlimmingPruner(Pruner):
    """Global |gamma| threshold.

    Args:
        ratio: fraction of all BN channels to remove (0-1), e.g. 0.7 for CIFAR-10 VGG-19.
        min_channels: channels every layer keeps at least (0 disables the guard).
        round_to: round every unit's kept count up to a multiple of this (extension; 1: the paper's widths).
    """

    name: ClassVar[str] = "slimming"
    needs: ClassVar[frozenset[str]] = frozenset({Capability.CHANNEL_UNITS, Capability.BN_COVERS_NETWORK})

    def __init__(self, ratio: float, min_channels: int = 1, round_to: int = 1) -> None:
        self.ratio = self.check_ratio(ratio)
        if min_channels < 0:
            raise PruningError(f"min_channels must be >= 0, got {min_channels}")
        self.min_channels, self.round_to = min_channels, check_round_to(round_to)

    def select(self, model: nn.Module, arch: ArchSpec, data: DataLoader | None = None) -> KeepPlan:
        modules = dict(model.named_modules())
        units = [u for u in channel_units(model, arch) if u.bn is not None]
        gammas = {u.name: modules[u.bn].weight.detach().abs().cpu() for u in units}
        everything = torch.cat(list(gammas.values())).sort().values
        threshold = everything[int(len(everything) * self.ratio)]
        plan, rounding = KeepPlan(), WidthRounding(self.round_to)
        for u in units:
            g = gammas[u.name]
            idx = torch.nonzero(g > threshold).flatten()
            if len(idx) < self.min_channels:
                idx = torch.sort(torch.topk(g, min(self.min_channels, len(g))).indices).values
                note = f"min_channels guard kept {len(idx)} channel(s) of {u.name} (threshold {threshold:.3g})"
                log.warning(note)
                plan.notes.append(note)
            if len(idx) == 0:
                raise PruningError(
                    f"ratio {self.ratio} empties layer {u.name}; lower the ratio or set min_channels >= 1"
                )
            plan.channels[u.name] = rounding(idx, g)
        plan.notes.extend(rounding.notes(self.name))
        return plan
