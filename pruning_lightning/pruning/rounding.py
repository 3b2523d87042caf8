"""Kept widths rounded up to a multiple of ``round_to`` (an extension, not in arXiv 1810.05270).

A structured method decides how many channels of a unit survive (L1-norm, SFP, slimming; arXiv 1810.05270
Sec. 4) and the surgery makes that the new width. Odd widths (6, 22, 57 in L1-norm ResNet-56-B) are what the
paper's code produces, but CPU runtimes compute convolutions in channel blocks (ONNX Runtime's MLAS: 8 channels
on AVX2, 16 on AVX-512) and fall back to slower kernels plus layout reorders for widths that are not multiples of
the block (``docs/benchmarks.md``, deploy_latency). ``round_to`` lets a method keep a few more channels so that
every width is a multiple of the block: the method's kept set is grown by its own next-best channels (its own
score, not a family rule) until the count is a multiple of ``round_to`` or the unit's full width.

``round_to=1`` (every pruner's default) changes nothing: the paper's widths.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pruning_lightning.core.errors import PruningError


def check_round_to(round_to: int) -> int:
    """``round_to`` as given, or a one-line :class:`PruningError` when it is not an integer >= 1."""
    if isinstance(round_to, bool) or not isinstance(round_to, int) or round_to < 1:
        raise PruningError(f"round_to must be an integer >= 1 (1: the method's own widths), got {round_to!r}")
    return round_to


def rounded_width(kept: int, size: int, round_to: int) -> int:
    """``kept`` rounded up to a multiple of ``round_to``, never above the full width ``size``."""
    return min(size, -(-kept // round_to) * round_to)


def round_kept(kept: torch.Tensor, scores: torch.Tensor, round_to: int) -> torch.Tensor:
    """Sorted kept indices of one unit of ``scores.numel()`` channels, grown to a multiple of ``round_to``.

    Args:
        kept: the channels the method keeps (any order, no duplicates).
        scores: one score per channel of the unit, higher = better by the method's own criterion; the channels
            added are the best not yet kept (ties: the lower index first).
        round_to: the multiple (1: ``kept`` sorted, unchanged).
    """
    kept = torch.sort(kept.flatten().long().cpu()).values
    size = scores.numel()
    extra = rounded_width(kept.numel(), size, round_to) - kept.numel()
    if extra <= 0:
        return kept
    alive = torch.zeros(size, dtype=torch.bool)
    alive[kept] = True
    order = torch.sort(scores.flatten().double().cpu(), descending=True, stable=True).indices
    added = order[~alive[order]][:extra]
    return torch.sort(torch.cat([kept, added])).values


@dataclass
class WidthRounding:
    """:func:`round_kept` for every unit of one ``select`` call, counting what it added for the prune notes."""

    round_to: int
    units: int = 0
    changed: int = 0
    added: int = 0
    restored: int = 0  # units rounded back to their full width: not pruned at all

    def __call__(self, kept: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        out = round_kept(kept, scores, self.round_to)
        self.units += 1
        grown = out.numel() - kept.numel()
        self.changed += grown > 0
        self.added += grown
        self.restored += grown > 0 and out.numel() == scores.numel()
        return out

    def notes(self, method: str) -> list[str]:
        """One line for ``stats.yaml`` ``notes`` (none at ``round_to=1``)."""
        if self.round_to == 1:
            return []
        return [
            f"{method}: kept widths rounded up to a multiple of {self.round_to} (or the full width): "
            f"{self.changed} of {self.units} pruned units grew ({self.restored} back to their full width), "
            f"{self.added} channels added beyond the method's own selection"
        ]
