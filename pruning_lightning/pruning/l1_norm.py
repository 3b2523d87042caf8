"""L1-norm filter pruning (Li, Kadav, Durdanovic, Samet, Graf, "Pruning Filters for Efficient
ConvNets", ICLR 2017, arXiv 1608.08710), as used by the Rethinking paper (arXiv 1810.05270 Table 1).

Criterion: every pruned conv scores each output filter by the sum of |w| over (C_in, k, k) of the
trained, unpruned weights, independently per layer, and keeps the ``num_keep = int(C * (1 - p))``
largest; ``p`` is the ratio of the layer's *stage*. One shot: all layers at once.

Layers, numbered as in the reference scripts (each surgery module sets ``ChannelUnit.layer_id`` / ``stage``):
    * ``vgg``: conv ``i`` has id ``i``; a stage is the run of convs between two max-pools.
      VGG-16-A = stage ratios (0.5, 0, 0, 0.5, 0.5) with id 2 skipped (conv1 and conv8-13 at 50%).
    * ``resnet_cifar`` / ``resnet_imagenet`` (basic blocks): the stem is id 1 and block ``j``
      (0-based, network order) has ids ``2 + 2j`` (first conv) and ``3 + 2j``; 1x1 downsample convs
      are not numbered. Only block first convs (even ids) are pruned; a stage is ``layer{s}``, which
      coincides with the reference's id thresholds (ResNet-56: <= 18, <= 36; ResNet-110: <= 36, <= 72;
      ResNet-34: <= 6, <= 14, <= 26).
    Ids in ``skip`` (the "sensitive" layers) keep their full width.

``order`` picks the kept filters by ``largest`` L1 (Li et al.), ``smallest`` or ``random`` (the
lottery-ticket script's ``--prune large|small|random``, arXiv 1810.05270 Sec. 6). ``as_masks=True`` is the mask
implementation of the structured lottery ticket: the architecture stays whole and the artifact holds
masks zeroing the pruned filters' conv weights only, as the reference does (its pruned channels keep a
trainable BN gamma/beta and emit ReLU(beta), arXiv 1810.05270 Sec. 6 caveat). ``mask_bn=True`` also masks the conv
bias and BN gamma/beta, so a pruned channel outputs exactly 0 and the masked net computes the small net.

Deviations from the reference code:
    * Ties in L1 score keep the lower filter index (stable sort); the reference's reversed NumPy
      argsort leaves ties in an unspecified order.
    * ``skip`` ids that name no prunable layer are an error rather than silently ignored.

Extension: ``round_to`` (default 1, the paper's widths) rounds every pruned layer's kept count up to a multiple
of ``round_to`` (at most the full width), adding the next filters in the method's own ``order``
(:mod:`pruning_lightning.pruning.rounding`); a layer rounded back to its full width is not pruned.
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
from pruning_lightning.pruning.surgery import Capability, num_stages, numbered_units
from pruning_lightning.pruning.uniform import filter_l1


class L1NormPruner(Pruner):
    """Li et al.'s per-stage L1-norm filter pruning.

    Args:
        stage_ratios: fraction of filters removed per stage (0 <= p < 1), one per stage of the network.
        skip: layer ids kept at full width (the sensitive layers).
        order: keep the ``largest`` L1 filters (Li et al.), the ``smallest``, or a ``random`` set.
        seed: seed for ``order="random"``.
        as_masks: keep the whole architecture and return masks (lottery-ticket mask implementation).
        mask_bn: with ``as_masks``, also mask the pruned channels' conv bias and BN gamma/beta (exact small
            net); off by default, as the reference masks only the conv weights.
    """

    name: ClassVar[str] = "l1_norm"
    needs: ClassVar[frozenset[str]] = frozenset({Capability.CHANNEL_UNITS, Capability.NUMBERED_UNITS})

    def __init__(
        self,
        stage_ratios: tuple[float, ...],
        skip: tuple[int, ...] = (),
        order: Literal["largest", "smallest", "random"] = "largest",
        seed: int = 0,
        as_masks: bool = False,
        mask_bn: bool = False,
        round_to: int = 1,
    ) -> None:
        self.stage_ratios = tuple(float(p) for p in stage_ratios)
        if not self.stage_ratios or any(not 0 <= p < 1 for p in self.stage_ratios):
            raise PruningError(f"stage_ratios must each be in [0, 1), got {list(stage_ratios)}")
        if not any(p > 0 for p in self.stage_ratios):
            raise PruningError(f"stage_ratios {list(stage_ratios)} prune nothing; give some stage a ratio in (0, 1)")
        if order not in ("largest", "smallest", "random"):
            raise PruningError(f"order must be largest, smallest or random, got {order!r}")
        self.skip = tuple(int(i) for i in skip)
        if mask_bn and not as_masks:
            raise PruningError("mask_bn only applies to the mask implementation: set as_masks: true")
        self.order, self.seed, self.as_masks, self.mask_bn = order, seed, as_masks, mask_bn
        self.round_to = check_round_to(round_to)

    def _kept(self, weight: torch.Tensor, num_keep: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """The kept filters and every filter's score in the method's ``order`` (higher = kept first)."""
        if self.order == "random":
            ranked = torch.randperm(weight.shape[0], generator=gen)
            scores = torch.empty(len(ranked))
            scores[ranked] = torch.arange(len(ranked), 0, -1, dtype=scores.dtype)  # earlier in the draw = better
        else:
            l1 = filter_l1(weight)
            ranked = torch.sort(l1, descending=self.order == "largest", stable=True).indices
            scores = l1 if self.order == "largest" else -l1
        return ranked[:num_keep], scores

    def select(self, model: nn.Module, arch: ArchSpec, data: DataLoader | None = None) -> KeepPlan:
        numbered = numbered_units(model, arch)
        n_stages = num_stages(arch)
        if len(self.stage_ratios) != n_stages:
            raise PruningError(f"{arch} has {n_stages} stages but stage_ratios has {len(self.stage_ratios)} entries")
        ids = [u.layer_id for u in numbered]
        unknown = sorted(set(self.skip) - set(ids))
        if unknown:
            raise PruningError(f"skip ids {unknown} are not prunable layers of {arch}; prunable ids: {ids}")
        modules = dict(model.named_modules())
        gen = torch.Generator().manual_seed(self.seed)
        plan, rounding = KeepPlan(), WidthRounding(self.round_to)
        for unit in numbered:
            assert unit.stage is not None
            lid, p = unit.layer_id, self.stage_ratios[unit.stage - 1]
            num_keep = int(unit.size * (1 - p))  # the reference's rule, float arithmetic included
            if lid in self.skip or num_keep == unit.size:
                continue
            if num_keep < 1:
                raise PruningError(f"stage ratio {p} empties layer {lid} ({unit.name}, {unit.size} channels)")
            assert unit.conv is not None
            conv: nn.Conv2d = modules[unit.conv]
            kept = rounding(*self._kept(conv.weight, num_keep, gen))
            if len(kept) == unit.size:  # rounded back to the full width
                continue
            if not self.as_masks:
                plan.channels[unit.name] = kept
                continue
            alive = torch.zeros(unit.size, dtype=torch.bool)
            alive[kept] = True
            plan.masks[f"{unit.conv}.weight"] = alive.view(-1, 1, 1, 1).expand_as(conv.weight).clone()
            if not self.mask_bn:
                continue
            if conv.bias is not None:
                plan.masks[f"{unit.conv}.bias"] = alive.clone()
            if unit.bn is not None:
                plan.masks[f"{unit.bn}.weight"] = alive.clone()
                plan.masks[f"{unit.bn}.bias"] = alive.clone()
        if rounding.restored and not plan.channels and not plan.masks:
            raise PruningError(f"round_to {self.round_to} rounds every pruned layer of {arch} back to its full width")
        plan.notes.extend(rounding.notes(self.name))
        return plan
