"""The accuracy unit. Every accuracy this project logs or records is a percent (0-100, the paper's unit):
``train/acc1``, ``val/acc1``, ``val/acc5``, ``val/acc1_best``, ``test/acc*`` and ``result.json``'s ``test_acc1``.
Files written before that logged fractions; they are told apart by their header: every fit since logs the
learning rate (``train/lr``), so a ``metrics.csv`` without a ``train/lr`` column holds fractions, and
:func:`read_metrics` converts its accuracy columns. A resumed old run converts the rows it keeps
(:meth:`_ContinuedWriter.continue_at`), and an old checkpoint's best accuracy is converted on load
(:func:`percent_checkpoint`).

Light on purpose (no torch, no Lightning): ``report`` reads metrics through it.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

ACC_UNIT = "percent"
LR_KEY = "train/lr"  # logged by every fit (callbacks.console.EpochLR); its column marks a percent metrics.csv
_ACC = re.compile(r"^(train|val|test)/acc\d+(_best)?$")


def fraction_header(fieldnames: list[str]) -> bool:
    """A ``metrics.csv`` header from before accuracies were percent (no ``train/lr`` column)."""
    return LR_KEY not in fieldnames


def _to_percent(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    for r in rows:
        for k, v in r.items():
            if k and _ACC.match(k) and v not in (None, ""):
                r[k] = repr(100.0 * float(v))
    return rows


def read_metrics(path: str | Path) -> list[dict[str, str]]:
    """The rows of a stage's ``metrics.csv`` with every accuracy column in percent, whenever it was written."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    return _to_percent(rows) if fraction_header(list(reader.fieldnames or [])) else rows


def percent_checkpoint(checkpoint: dict[str, Any]) -> None:
    """Convert, in place, a checkpoint saved when accuracies were fractions (no ``acc_unit``) to percent."""
    if checkpoint.get("acc_unit") == ACC_UNIT:
        return
    if "best_val_acc1" in checkpoint:
        checkpoint["best_val_acc1"] = 100.0 * float(checkpoint["best_val_acc1"])
    for key, state in (checkpoint.get("callbacks") or {}).items():
        if "val/acc" not in str(key) or not isinstance(state, dict):
            continue
        for name in ("best_model_score", "current_score", "kth_value"):
            if state.get(name) is not None:
                state[name] = state[name] * 100.0
        if isinstance(state.get("best_k_models"), dict):
            state["best_k_models"] = {k: v * 100.0 for k, v in state["best_k_models"].items()}
    checkpoint["acc_unit"] = ACC_UNIT
