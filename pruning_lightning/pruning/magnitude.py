"""Unstructured magnitude pruning (Han et al., "Learning both Weights and Connections for Efficient
Neural Networks", NIPS 2015, arXiv 1506.02626), in the one-shot global form of the Rethinking code.

Criterion (arXiv 1810.05270 Table 6): gather |w| over **all Conv2d weights** (FC, BN and biases are never pruned),
sort ascending, take the value at index ``int(total * ratio)`` as the threshold and zero every conv
weight with ``|w| <= threshold``. The architecture is unchanged; the result is one bool mask per conv
weight (``"mask:<param>"`` in the artifact's structure), which the regime modules keep during
training (``ApplyWeightMasks``). Scratch-B uses the sparse FLOPs ratio (conv cost ∝ nnz, docs/protocol.md §5).

``of_remaining=True`` is the lottery-ticket round (arXiv 1810.05270 Sec. 6): prune ``ratio`` of the *remaining*
non-zero weights, i.e. the threshold index is ``#zeros + int(#nonzeros * ratio)``.

Deviations from the reference code:
    * A layer left with no weights is an error by default (the reference only writes a flag to its
      log); ``allow_empty_layers=True`` restores the reference behaviour and records a note.
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
from pruning_lightning.pruning.surgery import Capability

log = logging.getLogger(__name__)


def conv_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Parameter name -> weight of every Conv2d, in network order."""
    return {f"{name}.weight": m.weight for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def check_layers(plan: KeepPlan, allow_empty: bool, what: str) -> None:
    """Raise (or note, when ``allow_empty``) for masks that remove every weight of a layer."""
    empty = [name for name, mask in plan.masks.items() if not bool(mask.any())]
    if not empty:
        return
    if not allow_empty:
        raise PruningError(
            f"{what} removes every weight of {empty[0]} ({len(empty)} layer(s) emptied); lower the ratio "
            "or set allow_empty_layers: true"
        )
    note = f"{what} leaves no weights in {len(empty)} layer(s): {empty}"
    log.warning(note)
    plan.notes.append(note)


class MagnitudePruner(Pruner):
    """One global |w| threshold over all conv weights.

    Args:
        ratio: fraction of conv weights to remove (0-1); with ``of_remaining``, of the non-zero ones.
        of_remaining: prune ``ratio`` of the remaining non-zero weights (iterative lottery rounds).
        allow_empty_layers: only note (do not fail) when a conv layer loses every weight.
    """

    name: ClassVar[str] = "magnitude"
    needs: ClassVar[frozenset[str]] = frozenset({Capability.WEIGHTS})  # no channel surgery: any conv net

    def __init__(self, ratio: float, of_remaining: bool = False, allow_empty_layers: bool = False) -> None:
        self.ratio = self.check_ratio(ratio)
        self.of_remaining = of_remaining
        self.allow_empty_layers = allow_empty_layers

    def threshold(self, model: nn.Module) -> float:
        """The |w| value at the cut-off index (arXiv 1810.05270 Table 6 / Sec. 6)."""
        weights = conv_weights(model)
        if not weights:
            raise PruningError("magnitude pruning found no Conv2d weights in the model")
        everything = torch.cat([w.detach().abs().flatten().cpu() for w in weights.values()]).sort().values
        if self.of_remaining:
            zeros = int((everything == 0).sum())
            index = zeros + int((len(everything) - zeros) * self.ratio)
        else:
            index = int(len(everything) * self.ratio)
        return float(everything[min(index, len(everything) - 1)])

    def select(self, model: nn.Module, arch: ArchSpec, data: DataLoader | None = None) -> KeepPlan:
        threshold = self.threshold(model)
        plan = KeepPlan()
        for name, w in conv_weights(model).items():
            plan.masks[name] = w.detach().abs() > threshold  # strict: |w| <= threshold is pruned
        check_layers(plan, self.allow_empty_layers, f"ratio {self.ratio}")
        return plan
