"""Uniform baselines of "pruning as architecture search" (Liu et al., ICLR 2019, arXiv 1810.05270 Sec. 5).

* :class:`UniformChannelPruner` removes the same fraction of channels from every prunable channel
  unit of the network (``num_keep = int(C * (1 - ratio))``, the rule of arXiv 1810.05270 Table 1). Which channels
  survive does not matter for scratch training; ``keep="l1"`` keeps the largest-L1 filters (so the
  result can also be fine-tuned sensibly), ``keep="first"`` the first ``num_keep``. Units with no
  producing conv (the channel selections of PreResNet / DenseNet) always keep the first ``num_keep``.
* :class:`UniformSparsityPruner` gives every Conv2d weight the same sparsity: exactly
  ``int(numel * ratio)`` weights of each conv are zeroed, chosen at random (``criterion="random"``,
  the paper's uniform sparsification) or as the smallest |w| *within that layer*
  (``criterion="magnitude"``, the layer-wise counterpart of the global magnitude pruner).

Deviations from the paper's description:
    * Uniform sparsification is described as zeroing each weight "with a fixed probability"; we zero
      an exact count per layer (sampling without replacement), so every layer has the same sparsity
      exactly rather than in expectation. The draw is seeded (``seed``) and so reproducible.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from torch import nn
from torch.utils.data import DataLoader

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.base import Pruner
from pruning_lightning.pruning.magnitude import check_layers, conv_weights
from pruning_lightning.pruning.plan import KeepPlan
from pruning_lightning.pruning.surgery import Capability, channel_units


def filter_l1(weight: torch.Tensor) -> torch.Tensor:
    """L1 norm of every output filter, summed over (C_in, k, k) (Li et al. 2017)."""
    return weight.detach().abs().flatten(1).sum(dim=1).cpu()


class UniformChannelPruner(Pruner):
    """The same fraction of channels removed from every channel unit.

    Args:
        ratio: fraction of each unit's channels to remove (0-1).
        keep: which channels survive: ``l1`` (largest filter L1 norm) or ``first`` (the first ones).
    """

    name: ClassVar[str] = "uniform_channel"
    needs: ClassVar[frozenset[str]] = frozenset({Capability.CHANNEL_UNITS})

    def __init__(self, ratio: float, keep: Literal["l1", "first"] = "l1") -> None:
        self.ratio = self.check_ratio(ratio)
        if keep not in ("l1", "first"):
            raise PruningError(f"keep must be 'l1' or 'first', got {keep!r}")
        self.keep = keep

    def select(self, model: nn.Module, arch: ArchSpec, data: DataLoader | None = None) -> KeepPlan:
        modules = dict(model.named_modules())
        plan = KeepPlan()
        for u in channel_units(model, arch):
            num_keep = int(u.size * (1 - self.ratio))
            if num_keep < 1:
                raise PruningError(
                    f"ratio {self.ratio} empties {u.name} ({u.size} channels keep int({u.size} x "
                    f"{1 - self.ratio:g}) = 0); lower the ratio"
                )
            if num_keep == u.size:
                continue
            if self.keep == "first" or u.conv is None:  # channel-selection units have no filters to score
                plan.channels[u.name] = torch.arange(num_keep)
                continue
            order = torch.sort(filter_l1(modules[u.conv].weight), descending=True, stable=True).indices
            plan.channels[u.name] = torch.sort(order[:num_keep]).values
        return plan


class UniformSparsityPruner(Pruner):
    """The same sparsity in every conv layer (unstructured; masks, architecture unchanged).

    Args:
        ratio: fraction of each conv layer's weights to remove (0-1).
        criterion: ``random`` (seeded uniform choice) or ``magnitude`` (smallest |w| within the layer).
        seed: random-number seed for ``criterion="random"``.
    """

    name: ClassVar[str] = "uniform_sparsity"
    needs: ClassVar[frozenset[str]] = frozenset({Capability.WEIGHTS})

    def __init__(self, ratio: float, criterion: Literal["random", "magnitude"] = "random", seed: int = 0) -> None:
        self.ratio = self.check_ratio(ratio)
        if criterion not in ("random", "magnitude"):
            raise PruningError(f"criterion must be 'random' or 'magnitude', got {criterion!r}")
        self.criterion = criterion
        self.seed = seed

    def select(self, model: nn.Module, arch: ArchSpec, data: DataLoader | None = None) -> KeepPlan:
        gen = torch.Generator().manual_seed(self.seed)
        plan = KeepPlan()
        weights = conv_weights(model)
        if not weights:
            raise PruningError("uniform sparsity found no Conv2d weights in the model")
        for name, w in weights.items():
            n = w.numel()
            drop = int(n * self.ratio)
            if self.criterion == "random":
                order = torch.randperm(n, generator=gen)
            else:
                order = torch.sort(w.detach().abs().flatten().cpu(), stable=True).indices
            mask = torch.ones(n, dtype=torch.bool)
            mask[order[:drop]] = False
            plan.masks[name] = mask.view_as(w.detach().cpu())
        check_layers(plan, False, f"ratio {self.ratio}")
        return plan
