"""Soft Filter Pruning (He, Kang, Dong, Fu, Yang, "Soft Filter Pruning for Accelerating Deep
Convolutional Neural Networks", IJCAI 2018, arXiv 1808.06866), as evaluated by the Rethinking
paper's ``cifar/soft-filter-pruning`` (arXiv 1810.05270 appendix (SFP)) on CIFAR ResNet-20/32/56/110.

Two halves:
    * **soft** (training): after every epoch, in every pruned conv, the ``int(C * ratio)`` filters
      with the smallest L2 norm are set to zero; they keep receiving gradient and may regrow
      (:class:`~pruning_lightning.callbacks.soft_filter.SoftFilterPruning`, ``configs/sparsity/sfp.yaml``);
    * **hard** (:class:`SoftFilterPruner`), in one of two forms:

      - ``form="mask"`` (the reference's Scratch-E/B, ``configs/prune/sfp_30.yaml``): the network keeps
        its full shape; every conv (stem, and both convs of every block, so the residual path too) gets a
        fixed filter mask that zeroes its ``int(C * ratio)`` lowest-L2 filters. The masks are the
        artifact's ``"mask:<param>"`` structure, so the regimes keep them exactly as for magnitude
        pruning (``ApplyWeightMasks``: gradients masked before every step, weights after every batch;
        Scratch: the density-corrected He re-init) and Scratch-B uses the nonzero-weight FLOPs ratio, as
        the reference's ``pruning_resnet_scratch.py`` / ``pruning_resnet_longer_scratch.py`` do (their
        mask is ``weight != 0`` of the soft-pruned model: after the last epoch's soft prune, exactly
        these filters).
      - ``form="cut"`` (a project variant, ``configs/prune/sfp_30_cut.yaml``): the channel surgery
        removes the lowest-L2 filters of every channel unit, giving a small dense network. Our ResNet
        surgery cuts only the widths inside residual branches (the stream is fixed by the type-A
        shortcut), so only the block first convs lose filters; zeroed filters of the stem and second
        convs stay in the small net, as zeros, and the real ratio is below ``ratio`` (the prune notes
        state it). The cut is exact when the pruned channels' BN gamma/beta are zero too (callback
        ``zero_bn``); otherwise a soft-pruned channel emitted the constant ReLU(BN(0)), which the cut drops.
        ``round_to`` (an extension, default 1) rounds each cut unit's kept count up to a multiple of ``round_to``
        (at most the full width) by restoring its highest-L2 removed filters
        (:mod:`pruning_lightning.pruning.rounding`); the restored filters may be soft-zeroed ones.

The reference soft-prunes every conv (``--layer_begin 0 --layer_inter 3``), the residual stream included.
Scratch-B: the reference's "longer" script trains ``int(400 r)`` epochs (r: the nonzero-weight FLOPs
ratio); the experiments here use ``int(200 r)``, the large run's 200 epochs times r (arXiv 1810.05270 Sec. 3).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from torch import nn
from torch.utils.data import DataLoader

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.base import Pruner
from pruning_lightning.pruning.plan import KeepPlan
from pruning_lightning.pruning.rounding import WidthRounding, check_round_to
from pruning_lightning.pruning.surgery import Capability, channel_units


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
    """Hard prune of a soft-filter-pruned network: mask (reference) or cut its lowest-L2 filters.

    Args:
        ratio: fraction of each conv's filters removed (``int(C * ratio)``); the reference's
            ``--rate 0.7`` keeps 70 %, i.e. ``ratio: 0.3``. Use the ratio the training callback used.
        form: ``"mask"``: the full network with every conv's lowest filters masked (the reference's
            Scratch-E/B); ``"cut"``: remove them from every channel unit (see module docstring).
        round_to: ``"cut"`` only: round every cut unit's kept count up to a multiple of this (extension; 1: none).
    """

    name: ClassVar[str] = "sfp"
    needs: ClassVar[frozenset[str]] = frozenset({Capability.CHANNEL_UNITS, Capability.CONV_FILTERS})

    def __init__(self, ratio: float = 0.3, form: Literal["cut", "mask"] = "cut", round_to: int = 1) -> None:
        if form not in ("cut", "mask"):
            raise PruningError(f"sfp form must be 'cut' or 'mask', got {form!r}")
        self.ratio, self.form, self.round_to = self.check_ratio(ratio), form, check_round_to(round_to)
        if round_to != 1 and form == "mask":
            raise PruningError("round_to only applies to the cut network: set form: cut (masks keep every width)")

    def select(self, model: nn.Module, arch: ArchSpec, data: DataLoader | None = None) -> KeepPlan:
        convs = {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
        total = sum(m.out_channels for m in convs.values())
        plan = KeepPlan()
        if self.form == "mask":
            for name, conv in convs.items():
                mask = torch.ones_like(conv.weight, dtype=torch.bool)
                mask[lowest_filters(conv.weight, self.ratio).to(mask.device)] = False
                plan.masks[f"{name}.weight"] = mask
            gone = sum(int((~m.flatten(1).any(1)).sum()) for m in plan.masks.values())
            plan.notes.append(
                f"sfp (mask): {gone} of {total} conv filters ({gone / total:.1%}) masked in all {len(convs)} convs; "
                "the network keeps its full shape"
            )
            return plan
        modules, gone, rounding = dict(model.named_modules()), 0, WidthRounding(self.round_to)
        for unit in channel_units(model, arch):
            if unit.conv is None:
                continue
            weight = modules[unit.conv].weight
            drop = lowest_filters(weight, self.ratio)
            if len(drop) == 0:
                continue
            alive = torch.ones(unit.size, dtype=torch.bool)
            alive[drop] = False
            kept = rounding(torch.nonzero(alive).flatten(), filter_l2(weight))
            if len(kept) == unit.size:  # rounded back to the full width
                continue
            plan.channels[unit.name] = kept
            gone += unit.size - len(kept)
        if not plan.channels:
            why = f"ratio {self.ratio} with round_to {self.round_to}" if self.round_to > 1 else f"ratio {self.ratio}"
            raise PruningError(f"sfp: {why} removes no filter of {arch}; raise the ratio")
        plan.notes.append(
            f"sfp (cut): {gone} of {total} conv filters ({gone / total:.1%}) removed, not {self.ratio:.0%}: only the "
            f"{len(plan.channels)} prunable units' convs are cut; the other convs keep their (soft-zeroed) filters"
        )
        plan.notes.extend(rounding.notes(f"{self.name} (cut)"))
        return plan
