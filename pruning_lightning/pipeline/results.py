"""Collect finished stages of a run directory into table rows (mean ± std over seeds).

Each fit stage's ``result.json`` holds two test accuracies: ``test_acc1`` of ``last.ckpt`` (the
final epoch) and ``test_acc1_best`` of ``best.ckpt`` (the epoch with the best ``val/acc1``; with
validation on the test split, as the paper's code does, that is the best test accuracy over epochs,
the number the official scripts print).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pruning_lightning.formats.run_dir import RunDir
from pruning_lightning.pipeline.reference import lookup


@dataclass
class Row:
    """One (method, regime) cell group of the paper-style table."""

    method: str
    regime: str
    accs: list[float] = field(default_factory=list)  # final epoch (last.ckpt), per seed
    best: list[float] = field(default_factory=list)  # best epoch (best.ckpt), per seed
    params: float = float("nan")
    flops: float = float("nan")
    flops_ratio: float = float("nan")
    paper: tuple[float, float | None] | None = None
    seeds: list[int] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)  # trained epochs per seed (Scratch-B's differ by seed)
    pruner: str | None = None  # the prune stage's method (``slimming``, ``l1_norm``, ...), for display names

    @property
    def epochs_text(self) -> str:
        """``32``, or ``50-55`` when the seeds trained different budgets (Scratch-B follows each FLOPs ratio)."""
        if not self.epochs:
            return "-"
        lo, hi = min(self.epochs), max(self.epochs)
        return str(lo) if lo == hi else f"{lo}-{hi}"

    @property
    def mean(self) -> float:
        return _mean(self.accs)

    @property
    def std(self) -> float:
        return _std(self.accs)

    @property
    def best_mean(self) -> float:
        return _mean(self.best)

    @property
    def best_std(self) -> float:
        return _std(self.best)

    @property
    def diff(self) -> float | None:
        """Best-epoch mean minus the paper's number (the official code reports the best epoch)."""
        return None if self.paper is None or not self.best else self.best_mean - self.paper[0]


def _std(vals: list[float]) -> float:
    # Population std (numpy's default), as the paper's "mean ± std of 5 runs" is commonly computed.
    if not vals:
        return float("nan")
    m = _mean(vals)
    return math.sqrt(sum((a - m) ** 2 for a in vals) / len(vals))


def _mean(vals: list[float]) -> float:
    return sum(vals) / len(vals) if vals else float("nan")


def by_seed(rows: list[Row], column: str) -> dict[tuple[str, str], dict[int, float]]:
    """``{(method, regime): {seed: accuracy}}`` of the ``final`` or ``best`` column (for paired statistics)."""
    return {
        (r.method, r.regime): dict(zip(r.seeds, r.accs if column == "final" else r.best, strict=True)) for r in rows
    }


def collect(run_dir: str | Path) -> tuple[dict[str, Any], list[Row], dict[str, list[dict[str, Any]]]]:
    """(experiment dict, table rows, prune stats per method) from every ``result.json`` under ``run_dir``."""
    run = RunDir(Path(run_dir))
    exp = run.read_record()["experiment"]
    paper: dict[str, str] = exp.get("paper") or {}
    results = [json.loads(p.read_text()) for p in run.results()]
    prune: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        if r["job_type"] == "prune":
            prune.setdefault(r["method"], []).append(r)
    stats = {m: [r["stats"] for r in sorted(rs, key=lambda r: r["seed"])] for m, rs in prune.items()}
    rows: dict[tuple[str, str], Row] = {}
    first_key = next(iter(paper.values()), None)
    for r in sorted(results, key=lambda r: r["seed"]):
        if r["job_type"] == "prune":
            continue
        method = r["method"] or "-"
        row = rows.setdefault((method, r["job_type"]), Row(method, r["job_type"]))
        row.accs.append(float(r["test_acc1"]))
        # Runs from before best.ckpt was tested recorded the best val/acc1 (the test split by default).
        row.best.append(float(r.get("test_acc1_best", r.get("val_acc1_best", float("nan")))))
        row.seeds.append(int(r["seed"]))
        if isinstance(r.get("epochs"), int):
            row.epochs.append(r["epochs"])
        key = first_key if r["job_type"] == "large" else paper.get(method)
        row.paper = lookup(key, r["job_type"]) if key else None
    for row in rows.values():
        method = row.method if row.method != "-" else None
        seeds = [json.loads(run.stage(s, method, row.regime).result.read_text()) for s in row.seeds]
        st = stats.get(row.method, [])
        row.pruner = st[0].get("method") if st else None
        if row.regime == "large" or not st:
            row.params, row.flops = _mean([s["params_nonzero"] for s in seeds]), _mean([s["flops"] for s in seeds])
            row.flops_ratio = 1.0 if row.regime == "large" else float("nan")
        else:
            # The prune stage's measurement (sparse-aware for masked nets, docs/protocol.md §5).
            row.params, row.flops = _mean([s["params_after"] for s in st]), _mean([s["flops_after"] for s in st])
            row.flops_ratio = _mean([s["flops_ratio"] for s in st])
    order_m = ["-"] + [m["name"] for m in exp["methods"]]
    order_r = ["large", *exp["regimes"]]
    ordered = sorted(
        rows.values(),
        key=lambda r: (
            order_m.index(r.method) if r.method in order_m else 99,
            order_r.index(r.regime) if r.regime in order_r else 99,
            r.regime,
        ),
    )
    return exp, ordered, stats


def unfinished(run_dir: Path, exp: dict[str, Any]) -> list[str] | None:
    """Stage keys of the recorded experiment without ``result.json`` (None: its plan cannot be rebuilt here)."""
    from pruning_lightning.pipeline.plan import plan  # on use: collecting results needs no planning
    from pruning_lightning.pipeline.schema import parse_experiment

    try:
        return [st.key for st in plan(parse_experiment({**exp, "run_dir": str(run_dir)})) if not st.marker.is_file()]
    except Exception:  # a record from another version, files no longer here: the table still stands
        return None
