"""Learning curves of a run folder's large models: ``val/acc1`` per epoch from each ``metrics.csv``.

Shows whether the large models converged (plateaued before the last LR step) before they were pruned;
one line per seed, one panel per large stage (the shared one and any method's own).
"""

from __future__ import annotations

import csv
from pathlib import Path

from pruning_lightning.pipeline.plots import pyplot, save_figure


def val_curve(metrics_csv: Path) -> list[tuple[int, float]]:
    """``(epoch, val top-1 %)`` rows of a stage's ``metrics.csv``, in epoch order."""
    with metrics_csv.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val/acc1")]
    return sorted({int(r["epoch"]): 100 * float(r["val/acc1"]) for r in rows}.items())


def large_curves(run_dir: Path) -> dict[str, dict[int, list[tuple[int, float]]]]:
    """``{large stage name: {seed: curve}}`` for every large stage that has a ``metrics.csv``."""
    out: dict[str, dict[int, list[tuple[int, float]]]] = {}
    for m in sorted(run_dir.glob("seed*/large/metrics.csv")) + sorted(run_dir.glob("seed*/*/large/metrics.csv")):
        seed_dir = next(p for p in m.parents if p.name.startswith("seed"))
        rel = m.parent.relative_to(seed_dir)
        name = "large" if str(rel) == "large" else f"{rel.parent} (own large)"
        out.setdefault(name, {})[int(seed_dir.name[4:])] = val_curve(m)
    return out


def plot_curves(run_dir: Path, dest: Path, title: str) -> Path | None:
    """``learning_curves.png`` (None when no large stage logged a curve)."""
    curves = {k: v for k, v in large_curves(run_dir).items() if any(v.values())}
    if not curves:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(5.5 * len(curves), 4), squeeze=False)
    for ax, (name, by_seed) in zip(axes[0], curves.items(), strict=True):
        for seed, curve in sorted(by_seed.items()):
            ax.plot([e + 1 for e, _ in curve], [a for _, a in curve], marker=".", lw=1, label=f"seed {seed}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("val top-1 (%) (validation split as configured)")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, dest / "learning_curves.png", 110, f"{title}: large-model learning curves")
