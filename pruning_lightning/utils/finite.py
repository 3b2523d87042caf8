"""Non-finite values (NaN/Inf) never pass silently: one check for every tensor dict we read or write."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from pruning_lightning.core.errors import PruningError


def first_nonfinite(tensors: Mapping[str, Any]) -> str | None:
    """Name of the first floating tensor holding NaN or Inf (nested dicts searched), else ``None``."""
    for name, v in tensors.items():
        if isinstance(v, Mapping):
            inner = first_nonfinite(v)
            if inner is not None:
                return f"{name}.{inner}"
        elif isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
            return str(name)
    return None


def check_finite(tensors: Mapping[str, Any], source: str) -> None:
    """Raise a one-line :class:`PruningError` naming ``source`` when any tensor is non-finite."""
    bad = first_nonfinite(tensors)
    if bad is not None:
        raise PruningError(
            f"{source} holds non-finite values (NaN/Inf in {bad}): the run that wrote it diverged; "
            "retrain that stage (e.g. with a lower learning rate) instead of using it"
        )
