"""Type checks of experiment-file values (used by :mod:`pruning_lightning.pipeline.schema`).

A wrong type (``seeds: 3``, ``seeds: [a, b]``, ``base_epochs: ten``) is one :class:`PruningError`
naming the key and the expected form, never a ``TypeError`` from deep inside the planner.
"""

from __future__ import annotations

from typing import Any

from pruning_lightning.errors import PruningError


def seeds_tuple(value: Any) -> tuple[int, ...]:
    ok = isinstance(value, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in value)
    if not ok or not value or len(set(value)) != len(value):
        raise PruningError(f"seeds must be a non-empty list of distinct integers, e.g. [0, 1, 2]; got {value!r}")
    return tuple(value)


def check_type(value: Any, types: tuple[type, ...], where: str, what: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
        raise PruningError(f"{where} must be {what}, got {value!r}")


def check_scalars(d: dict[str, Any]) -> None:
    if not isinstance(d["name"], str) or not d["name"].strip() or "/" in d["name"]:
        raise PruningError(f"name must be a non-empty string without '/', got {d['name']!r}")
    check_type(d.get("description"), (str,), "description", "a string")
    check_type(d.get("run_dir"), (str,), "run_dir", "a path")
    for key in ("num_classes", "base_epochs"):
        check_type(d.get(key), (int,), key, "a positive integer or null")
        if d.get(key) is not None and d[key] < 1:
            raise PruningError(f"{key} must be a positive integer or null, got {d[key]!r}")
