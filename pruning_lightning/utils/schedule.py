"""Scratch-B budget arithmetic (PAPER §2.3)."""

from __future__ import annotations

from pruning_lightning.errors import PruningError


def scratch_b_epochs(base_epochs: int, flops_ratio: float, max_ratio: float | None = None) -> int:
    """Epochs that give the pruned net the large net's compute budget.

    ``int(base_epochs * r)`` with ``r = FLOPs(unpruned) / FLOPs(pruned)``; when ``max_ratio`` is set
    (ImageNet: 2.0) and ``r >= max_ratio`` the budget is capped at ``int(base_epochs * max_ratio)``.

    Args:
        base_epochs: epochs of the large model (CIFAR 160, ImageNet 90).
        flops_ratio: measured FLOPs ratio r (>= 1 for a pruned net).
        max_ratio: optional cap on r.

    Returns:
        The Scratch-B epoch count.
    """
    if base_epochs < 1:
        raise PruningError(f"base_epochs must be >= 1, got {base_epochs}")
    if not flops_ratio > 0:
        raise PruningError(f"flops_ratio must be > 0, got {flops_ratio}")
    if max_ratio is not None and flops_ratio >= max_ratio:
        return int(base_epochs * max_ratio)
    return int(base_epochs * flops_ratio)


def milestone_epochs(fractions: tuple[float, ...] | list[float], max_epochs: int) -> list[int]:
    """LR milestones stated as fractions of ``max_epochs`` -> epoch numbers (``int`` as the code does).

    A milestone that rounds down to epoch 0 (only in runs of a few epochs) is dropped: MultiStepLR
    would otherwise apply it before the first step, lowering the initial LR.
    """
    for f in fractions:
        if not 0 < f < 1:
            raise PruningError(f"lr_milestones are fractions of max_epochs in (0, 1), got {f}")
    return [m for m in (int(f * max_epochs) for f in fractions) if m >= 1]
