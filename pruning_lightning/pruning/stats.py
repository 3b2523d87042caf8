"""The statistics every pruned artifact carries (``stats.yaml``): complexity before/after and the Scratch-B budget."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pruning_lightning.utils.flops import Complexity
from pruning_lightning.utils.schedule import scratch_b_epochs


def complexity_stats(
    before: Complexity,
    after: Complexity,
    *,
    base_epochs: int,
    max_ratio: float | None,
    sparse: bool = False,
    kept: Mapping[str, str] | None = None,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """The measured keys of ``stats.yaml`` (callers put ``method`` and the hyper-parameters first).

    Args:
        before: the unpruned network's complexity.
        after: the pruned network's complexity (counted with ``sparse`` for masked nets).
        base_epochs: the large model's epochs, for the Scratch-B budget.
        max_ratio: cap on the Scratch-B FLOPs ratio (ImageNet: 2.0), or None.
        sparse: the pruned net is masked: its parameter count is the non-zero one.
        kept: per-unit ``"kept/total"`` summary.
        notes: human-readable remarks.
    """
    params_after = after.params_nonzero if sparse else after.params
    ratio = before.flops / after.flops
    return {
        "params_before": before.params,
        "params_after": params_after,
        "flops_before": before.flops,
        "flops_after": after.flops,
        "macs_before": before.macs,
        "macs_after": after.macs,
        "flops_ratio": ratio,
        "params_ratio": before.params / params_after,
        "base_epochs": base_epochs,
        "max_ratio": max_ratio,
        "scratch_b_epochs": scratch_b_epochs(base_epochs, ratio, max_ratio),
        "kept": dict(kept or {}),
        "notes": list(notes),
    }
