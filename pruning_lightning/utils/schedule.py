"""Scratch-B budget arithmetic and LR step epochs (arXiv 1810.05270 Sec. 3)."""

from __future__ import annotations

from fractions import Fraction

from pruning_lightning.core.errors import PruningError

MAX_EPOCHS = 100_000  # an epoch budget above this is a typo (1e20), not a plan: refused where budgets are computed


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
    epochs = int(base_epochs * max_ratio) if max_ratio is not None and flops_ratio >= max_ratio else None
    epochs = int(base_epochs * flops_ratio) if epochs is None else epochs
    if epochs > MAX_EPOCHS:
        raise PruningError(
            f"Scratch-B would train {epochs} epochs (base {base_epochs} x FLOPs ratio {flops_ratio:.3g}), more than "
            f"{MAX_EPOCHS}; lower base_epochs or set max_ratio to cap the budget"
        )
    return epochs


def milestone_epochs(fractions: tuple[float, ...] | list[float], max_epochs: int) -> list[int]:
    """LR milestones stated as fractions of ``max_epochs`` -> epoch numbers (``int`` as the code does).

    A milestone that rounds down to epoch 0 (only in runs of a few epochs) is dropped: MultiStepLR
    would otherwise apply it before the first step, lowering the initial LR.
    """
    for f in fractions:
        if not 0 < f < 1:
            raise PruningError(f"lr_milestones are fractions of max_epochs in (0, 1), got {f}")
    return [m for m in (int(f * max_epochs) for f in fractions) if m >= 1]


def step_every_epochs(every: float | str, max_epochs: int) -> list[int]:
    """LR steps every ``int(f·E)`` epochs, at every multiple strictly below ``E`` (``f = every``).

    The reference's ImageNet scripts set ``lr · 0.1^(epoch // int(E/3))`` for an E-epoch run: with
    ``every = "1/3"`` the milestones are ``int(E/3)·k < E`` (E = 106: 35, 70, 105; E = 90: 30, 60). SSS's
    MXNet recipe steps at ``int(30·r)·{1,2,3}`` for ``E = int(100·r)``: ``every = 0.3`` (E = 145: 43, 86,
    129). ``every`` is read exactly (``"1/3"`` or a decimal such as 0.3), so no float rounding moves a
    step. A step that rounds to 0 epochs (runs of a few epochs) gives no milestone.
    """
    try:
        frac = Fraction(str(every))
    except (ValueError, ZeroDivisionError) as err:
        raise PruningError(f"lr_step_every must be a fraction of max_epochs such as 1/3 or 0.3, got {every!r}") from err
    if not 0 < frac < 1:
        raise PruningError(f"lr_step_every is a fraction of max_epochs in (0, 1), got {every!r}")
    step = int(frac * max_epochs)
    return list(range(step, max_epochs, step)) if step >= 1 else []


def lr_milestones(fractions: tuple[float, ...] | list[float], every: float | str | None, max_epochs: int) -> list[int]:
    """The LR milestones of a run: ``lr_milestones`` fractions or ``lr_step_every`` (not both)."""
    if every is None:
        return milestone_epochs(fractions, max_epochs)
    if fractions:
        raise PruningError(
            f"set lr_milestones {list(fractions)} or lr_step_every {every!r}, not both (pass `[]` or `null` for one)"
        )
    return step_every_epochs(every, max_epochs)
