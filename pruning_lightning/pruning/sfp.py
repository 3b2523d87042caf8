"""Soft Filter Pruning (He, Kang, Dong, Fu, Yang, "Soft Filter Pruning for Accelerating Deep
Convolutional Neural Networks", IJCAI 2018, arXiv 1808.06866), as evaluated by the Rethinking
paper's ``cifar/soft-filter-pruning`` (arXiv 1810.05270 appendix (SFP)) on CIFAR ResNet-20/32/56/110.

Two halves:
    * **soft** (training): after every epoch, in every pruned conv, the ``int(C * ratio)`` filters
      with the smallest L2 norm are set to zero; they keep receiving gradient and may regrow
      (:class:`~pruning_lightning.callbacks.soft_filter.SoftFilterPruning`, ``configs/sparsity/sfp.yaml``);
    * **hard** (:class:`SoftFilterPruner`): at the end, the same lowest-L2 filters of every channel
      unit are removed by the channel surgery, giving the small network that Scratch-E/B retrain.

The reference soft-prunes every conv (``--layer_begin 0 --layer_inter 3``), the residual stream
included. Our ResNet surgery cuts only the widths inside residual branches (the stream is fixed by the
type-A shortcut), so the hard prune removes the zeroed filters of the block first convs; zeroed filters
of the stem and second convs stay in the small net, as zeros. The cut is exact when the pruned
channels' BN gamma/beta are zero too (callback ``zero_bn``); otherwise a soft-pruned channel emitted
the constant ReLU(BN(0)), which the cut drops (the same caveat as the structured lottery ticket).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from torch.utils.data import DataLoader

from pruning_lightning.errors import PruningError
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.base import Pruner
from pruning_lightning.pruning.plan import KeepPlan
from pruning_lightning.pruning.surgery import channel_units


def filter_l2(weight: torch.Tensor) -> torch.Tensor:
    """L2 norm of every output filter over (C_in, k, k)."""
    return weight.detach().float().flatten(1).norm(dim=1).cpu()


def num_pruned(channels: int, ratio: float) -> int:
    """Filters zeroed / removed per layer: ``int(C * ratio)``, the reference's ``int(C * (1 - rate))``
    with ``ratio = 1 - rate`` (1e-9 slack for float error), never all of them."""
    return min(channels - 1, int(channels * ratio + 1e-9))


def lowest_filters(weight: torch.Tensor, ratio: float) -> torch.Tensor:
    """Indices of the ``num_pruned`` smallest-L2 filters (ties: the lower index goes first)."""
    order = torch.sort(filter_l2(weight), stable=True).indices
    return order[: num_pruned(weight.shape[0], ratio)]


class SoftFilterPruner(Pruner):
    """Hard prune of a soft-filter-pruned network: drop the lowest-L2 filters of every channel unit.

    Args:
        ratio: fraction of each unit's filters removed (``int(C * ratio)``); the reference's
            ``--rate 0.7`` keeps 70 %, i.e. ``ratio: 0.3``. Use the ratio the training callback used.
    """

    name: ClassVar[str] = "sfp"
    supports: ClassVar[frozenset[str]] = frozenset({"vgg", "resnet_cifar", "resnet_imagenet"})

    def __init__(self, ratio: float = 0.3) -> None:
        self.ratio = self.check_ratio(ratio)

    def select(self, model: nn.Module, arch: ArchSpec, data: DataLoader | None = None) -> KeepPlan:
        modules = dict(model.named_modules())
        plan = KeepPlan()
        for unit in channel_units(model, arch):
            if unit.conv is None:
                continue
            drop = lowest_filters(modules[unit.conv].weight, self.ratio)
            if len(drop) == 0:
                continue
            alive = torch.ones(unit.size, dtype=torch.bool)
            alive[drop] = False
            plan.channels[unit.name] = torch.nonzero(alive).flatten()
        if not plan.channels:
            raise PruningError(f"sfp: ratio {self.ratio} removes no filter of {arch}; raise the ratio")
        return plan
