"""Checks of experiment-file values (used by :mod:`~pruning_lightning.pipeline.schema` and ``regimes``).

An unknown or missing key, or a wrong type (``seeds: 3``, ``seeds: [a, b]``, ``base_epochs: ten``) is one
:class:`PruningError` naming the key and the expected form, never a ``TypeError`` from deep inside the planner.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pruning_lightning.core.errors import PruningError
from pruning_lightning.utils.schedule import MAX_EPOCHS


def strict(cls: type, data: Any, where: str) -> dict[str, Any]:
    """Check ``data`` is a mapping with only ``cls``'s field names; return it as a dict."""
    if not isinstance(data, dict):
        raise PruningError(f"{where} must be a mapping, got {type(data).__name__}")
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise PruningError(f"unknown key(s) {unknown} in {where}; known keys: {known}")
    required = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [k for k in required if k not in data]
    if missing:
        raise PruningError(f"{where} lacks required key(s) {missing}")
    return dict(data)


def paths_tuple(value: Any, where: str) -> tuple[str, ...]:
    """One config path or a list of them (None: none) as a tuple."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise PruningError(f"{where} must be a path or a list of paths, got {value!r}")


def check_cap(value: Any, where: str) -> None:
    """A Scratch-B cap on the FLOPs ratio: a number >= 1, or None."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 1):
        raise PruningError(f"{where} caps the Scratch-B FLOPs ratio: a number >= 1 or null, got {value!r}")


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
    check_type(d.get("num_classes"), (int,), "num_classes", "a positive integer or null")
    if d.get("num_classes") is not None and d["num_classes"] < 1:
        raise PruningError(f"num_classes must be a positive integer or null, got {d['num_classes']!r}")
    check_epochs(d.get("base_epochs"), "base_epochs")


def check_epochs(value: Any, where: str, words: tuple[str, ...] = ()) -> None:
    """An epoch budget the project computes with: 1..MAX_EPOCHS (or null, or one of ``words``).

    Lightning's ``max_epochs: -1`` (no limit) is for a user's explicit ``trainer.max_epochs``, not for these.
    """
    if value is None or (isinstance(value, str) and value in words):
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EPOCHS:
        also = "".join(f", {w!r}" for w in words)
        raise PruningError(f"{where} must be a positive integer up to {MAX_EPOCHS}{also} or null, got {value!r}")
