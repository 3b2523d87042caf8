"""Learning curves of a run folder: ``val/acc1`` per epoch from each stage's ``metrics.csv``.

``learning_curves.png`` shows whether the large models converged (plateaued before the last LR step) before
they were pruned: one line per seed, one panel per large stage (the shared one and any method's own).
``regime_curves.png`` shows, per pruned architecture, fine-tuning against training from scratch over epochs.
"""

from __future__ import annotations

from pathlib import Path

from pruning_lightning.core.units import read_metrics
from pruning_lightning.pipeline.names import method_label, regime_label
from pruning_lightning.pipeline.plots import caption, ci_half, pyplot, regime_color, save_all, save_figure
from pruning_lightning.pipeline.results import Row


def val_curve(metrics_csv: Path) -> list[tuple[int, float]]:
    """``(epoch, val top-1 %)`` rows of a stage's ``metrics.csv``, in epoch order (old fraction files converted)."""
    rows = [r for r in read_metrics(metrics_csv) if r.get("val/acc1")]
    return sorted({int(float(r["epoch"])): float(r["val/acc1"]) for r in rows}.items())


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


def stage_curves(run_dir: Path, method: str, regime: str) -> dict[int, list[tuple[int, float]]]:
    """``{seed: curve}`` of one (method, regime) over the seeds that logged a ``metrics.csv``."""
    out = {}
    for m in sorted(run_dir.glob(f"seed*/{method}/{regime}/metrics.csv")):
        seed = int(m.parents[2].name[4:])
        curve = val_curve(m)
        if curve:
            out[seed] = curve
    return out


def _mean_band(by_seed: dict[int, list[tuple[int, float]]]) -> tuple[list[int], list[float], list[float]]:
    """Per epoch: the mean over the seeds that reached it and the 95 % CI half-width."""
    per_epoch: dict[int, list[float]] = {}
    for curve in by_seed.values():
        for e, a in curve:
            per_epoch.setdefault(e, []).append(a)
    epochs = sorted(per_epoch)
    return (
        [e + 1 for e in epochs],
        [sum(v) / len(v) for v in (per_epoch[e] for e in epochs)],
        [ci_half(per_epoch[e]) for e in epochs],
    )


def plot_regime_curves(run_dir: Path, rows: list[Row], dest: Path, title: str) -> Path | None:
    """``regime_curves.{png,pdf}``: accuracy over epochs of every regime of each pruned architecture.

    One panel per method: each regime's mean validation top-1 over seeds with a 95 % CI band, and the large
    model's final test top-1 (mean over seeds) as a reference line. None when no regime logged a curve.
    """
    methods = [m for m in dict.fromkeys(r.method for r in rows) if m != "-"]
    regimes = [g for g in dict.fromkeys(r.regime for r in rows) if g != "large"]
    panels = {m: {g: c for g in regimes if (c := stage_curves(run_dir, m, g))} for m in methods}
    panels = {m: v for m, v in panels.items() if v}
    if not panels:
        return None
    large = {r.method: r for r in rows if r.regime == "large"}
    pruner = {r.method: r.pruner for r in rows}
    plt = pyplot()
    cols = min(3, len(panels))
    nrows = -(-len(panels) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(5.2 * cols, 3.9 * nrows + 0.5), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax, (method, curves) in zip(axes.flat, panels.items(), strict=False):
        for regime, by_seed in curves.items():
            x, mean, half = _mean_band(by_seed)
            color = regime_color(regime, regimes)
            ax.plot(
                x,
                mean,
                color=color,
                lw=1.4,
                marker="." if len(x) < 4 else None,
                label=f"{regime_label(regime)} ({len(by_seed)} seeds)",
            )
            low = [m - h for m, h in zip(mean, half, strict=True)]
            high = [m + h for m, h in zip(mean, half, strict=True)]
            ax.fill_between(x, low, high, color=color, alpha=0.18, lw=0)
        ref = large.get(method) or large.get("-")
        if ref is not None and ref.accs:
            ax.axhline(ref.mean, color="black", ls="--", lw=1, label=f"large model, final ({ref.mean:.2f})")
        ax.set_title(method_label(method, pruner.get(method)), fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation top-1 (%)")
        ax.grid(alpha=0.25)
        ax.legend(fontsize=7.5, loc="lower right")
    rect = caption(
        fig,
        "Lines: mean validation top-1 over seeds per epoch (the validation split is the test split unless the data "
        "config holds one out); bands: 95 % CI of the mean over the seeds that reached that epoch.",
    )
    fig.suptitle(f"{title}: accuracy over epochs per regime", fontsize=10)
    return save_all(fig, dest / "regime_curves.png", 150, rect=rect)
