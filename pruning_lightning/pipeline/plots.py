"""Report plots (matplotlib Agg): accuracy vs FLOPs / params per regime, kept widths per layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pruning_lightning.pipeline.results import Row


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy(rows: list[Row], dest: Path) -> list[Path]:
    """``acc_vs_flops.png`` and ``acc_vs_params.png``: one marker per (method, regime), error bar = std."""
    plt = _plt()
    paths = []
    markers = {"large": "*", "finetune": "o", "scratch_e": "s", "scratch_b": "^"}
    for attr, label in (("flops", "FLOPs"), ("params", "params")):
        fig, ax = plt.subplots(figsize=(6, 4.5))
        for regime in dict.fromkeys(r.regime for r in rows):
            sel = [r for r in rows if r.regime == regime]
            ax.errorbar(
                [getattr(r, attr) for r in sel],
                [r.mean for r in sel],
                yerr=[r.std for r in sel],
                fmt=markers.get(regime, "D"),
                capsize=3,
                label=regime,
            )
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("test top-1 (%)")
        ax.set_title(f"accuracy vs {label}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = dest / f"acc_vs_{attr}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_widths(method: str, stats: list[dict[str, Any]], dest: Path) -> Path:
    """Per-layer kept widths (mean over seeds) against the original widths."""
    plt = _plt()
    layers = list(stats[0]["kept"])
    kept = [sum(int(str(s["kept"][k]).split("/")[0]) for s in stats) / len(stats) for k in layers]
    total = [int(str(stats[0]["kept"][k]).split("/")[1]) for k in layers]
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(layers)), 4))
    x = range(len(layers))
    ax.bar(x, total, color="#ddd", label="original")
    ax.bar(x, kept, color="#1f77b4", label=f"kept (mean of {len(stats)})")
    ax.set_xticks(list(x))
    ax.set_xticklabels([k.rsplit(".", 1)[-1] for k in layers], rotation=90, fontsize=7)
    ax.set_ylabel("channels / weights")
    ax.set_title(f"{method}: kept per layer")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = dest / f"widths_{method}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_paired(pairs: list[Any], dest: Path, title: str) -> Path:
    """``paired_differences.png``: scratch minus fine-tune per method, mean with 95 % CI and per-seed dots."""
    plt = _plt()
    columns = [c for c in ("final", "best") if any(p.column == c for p in pairs)]
    fig, axes = plt.subplots(1, len(columns), figsize=(5.5 * len(columns), 0.6 * len(pairs) + 2), squeeze=False)
    colors = {"scratch_e": "#1f77b4", "scratch_b": "#d62728"}
    for ax, column in zip(axes[0], columns, strict=True):
        sel = [p for p in pairs if p.column == column]
        for y, p in enumerate(sel):
            ci = p.interval
            c = colors.get(p.regime, "k")
            if ci is not None:
                ax.errorbar([p.mean], [y], xerr=[[p.mean - ci[0]], [ci[1] - p.mean]], fmt="o", color=c, capsize=4)
            ax.scatter(p.diffs, [y] * p.n, marker="x", color=c, alpha=0.5, s=20)
        ax.axvline(0, color="grey", lw=1, ls="--")
        ax.set_yticks(range(len(sel)))
        ax.set_yticklabels([f"{p.method}\n{p.regime} - {p.baseline}" for p in sel], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("top-1 difference (percentage points)")
        ax.set_title(f"{column} checkpoint ({sel[0].n if sel else 0} seeds, 95% CI)", fontsize=9)
    fig.suptitle(f"{title}: scratch minus fine-tune, paired by seed", fontsize=10)
    fig.tight_layout()
    path = dest / "paired_differences.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
