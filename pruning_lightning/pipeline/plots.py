"""Report plots (matplotlib Agg): accuracy vs FLOPs / params per regime, kept widths per layer."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from pruning_lightning.pipeline.results import Row


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend."""
    import matplotlib  # imported on use (start-up time)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after the backend is chosen

    return plt


def save_figure(
    fig: Any, path: Path, dpi: int, title: str | None = None, rect: tuple[float, float, float, float] | None = None
) -> Path:
    """The end of every figure: the optional suptitle, layout (within ``rect``), save to ``path``, close."""
    if title is not None:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=rect)
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path


def _large_label(row: Row, n_large: int) -> str:
    """One legend entry per large model: the shared one, or a method's own (e.g. trained without sparsity)."""
    if n_large == 1:
        return "large (unpruned)"
    return "large (shared)" if row.method == "-" else f"large ({row.method}'s own)"


REGIME_COLORS = {"large": "black", "finetune": "#1f77b4", "scratch_e": "#2ca02c", "scratch_b": "#d62728"}
# Experiment-defined regimes (finetune_kd, ...), in order: none repeats a built-in regime's colour.
EXTRA_COLORS = ("#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
METHOD_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")


def _acc(r: Row) -> tuple[float, float]:
    """Best-epoch mean/std (what the paper's code reports) when recorded, else the final epoch's."""
    return (r.best_mean, r.best_std) if r.best and r.best_mean == r.best_mean else (r.mean, r.std)


def plot_accuracy(rows: list[Row], dest: Path, title: str | None = None, note: str | None = None) -> list[Path]:
    """``acc_vs_flops.png`` and ``acc_vs_params.png`` in the paper's style.

    One line (colour) per regime across methods, one marker per method, error bars = the population
    std over seeds (no bar for one seed: the legend says so), the paper's number as a hollow marker of
    the same shape at the same x, the large model as a dashed line; ``note`` (a reduced-budget
    warning) is printed across the figure.
    """
    plt = pyplot()
    paths = []
    methods = [m for m in dict.fromkeys(r.method for r in rows) if m != "-"]
    marker = {m: METHOD_MARKERS[i % len(METHOD_MARKERS)] for i, m in enumerate(methods)}
    seeds = sorted({len(r.accs) for r in rows})
    for attr, label in (("flops", "FLOPs"), ("params", "parameters")):
        fig, ax = plt.subplots(figsize=(7.5, 5.2))
        regimes = [g for g in dict.fromkeys(r.regime for r in rows) if g != "large"]
        extra = [g for g in regimes if g not in REGIME_COLORS]
        for regime in dict.fromkeys(r.regime for r in rows):
            color = REGIME_COLORS.get(regime) or EXTRA_COLORS[extra.index(regime) % len(EXTRA_COLORS)]
            sel = sorted((r for r in rows if r.regime == regime), key=lambda r: getattr(r, attr))
            # Regimes share each method's x: a small horizontal dodge keeps their error bars apart.
            dodge = 1.0 if regime == "large" else 1 + 0.012 * (regimes.index(regime) - (len(regimes) - 1) / 2)
            if regime == "large":
                for r in sel:
                    y, err = _acc(r)
                    ax.axhline(y, color="grey", ls="--", lw=1, zorder=0)
                    ax.errorbar([getattr(r, attr)], [y], yerr=[err if len(r.accs) > 1 else 0], fmt="*", ms=13,
                                color="black", capsize=3, label=_large_label(r, len(sel)))  # fmt: skip
                    if r.paper:
                        ax.plot([getattr(r, attr)], [r.paper[0]], "*", ms=13, mfc="none", mec="black")
                continue
            xs = [getattr(r, attr) * dodge for r in sel]
            line = ax.plot(xs, [_acc(r)[0] for r in sel], "-", lw=1.2, color=color, alpha=0.8, label=regime)[0]
            for x, r in zip(xs, sel, strict=True):
                y, err = _acc(r)
                ax.errorbar([x], [y], yerr=[err if len(r.accs) > 1 else 0], fmt=marker.get(r.method, "o"),
                            color=line.get_color(), ms=7, capsize=3)  # fmt: skip
                if r.paper:
                    ax.plot([x], [r.paper[0]], marker.get(r.method, "o"), ms=10, mfc="none", mec=line.get_color(),
                            mew=1.5)  # fmt: skip
        for m in methods:  # legend entries for the method markers (grey: the colour is the regime's)
            ax.plot([], [], marker[m], color="grey", ls="none", label=f"method: {m}")
        if any(r.paper for r in rows):
            ax.plot([], [], "o", mfc="none", mec="grey", ls="none", ms=10, label="paper (hollow)")
        ax.set_xscale("log")
        ax.set_xlabel(f"{label} (log scale)" + (" - non-zero for masked nets" if attr == "params" else ""))
        spread = "1 seed, no spread" if seeds == [1] else f"mean ± std over {'/'.join(map(str, seeds))} seeds"
        ax.set_ylabel(f"test top-1 (%), best epoch; {spread}", fontsize=9)
        ax.set_title(title or f"accuracy vs {label}", fontsize=11)
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=7.5, loc="best", framealpha=0.85)
        if note:
            fig.text(0.5, 0.01, textwrap.fill(note, 110), ha="center", va="bottom", fontsize=8, color="#b00000",
                     bbox={"facecolor": "#fff3f3", "edgecolor": "#b00000", "boxstyle": "round,pad=0.3"})  # fmt: skip
        paths.append(save_figure(fig, dest / f"acc_vs_{attr}.png", 120, rect=(0, 0.06 if note else 0, 1, 1)))
    return paths


def plot_widths(method: str, stats: list[dict[str, Any]], dest: Path) -> Path:
    """Per-layer kept widths (mean over seeds) against the original widths."""
    plt = pyplot()
    layers = list(stats[0]["kept"])
    kept = [sum(int(str(s["kept"][k]).split("/")[0]) for s in stats) / len(stats) for k in layers]
    total = [int(str(stats[0]["kept"][k]).split("/")[1]) for k in layers]
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(layers)), 4))
    x = range(len(layers))
    ax.bar(x, total, color="#ddd", label="original")
    ax.bar(x, kept, color="#1f77b4", label=f"kept (mean of {len(stats)})")
    ax.set_xticks(list(x))
    ax.set_xticklabels(layer_labels(layers), rotation=90, fontsize=7)
    masked = all(k.endswith(".weight") for k in layers)
    ax.set_ylabel("weights kept" if masked else "channels kept")
    ax.set_title(f"{method}: kept per layer")
    ax.legend(fontsize=8)
    return save_figure(fig, dest / f"widths_{method}.png", 110)


def layer_labels(keys: list[str]) -> list[str]:
    """Short, distinct layer names: ``features.conv3.weight`` -> ``conv3``, ``layer1.0.bn2`` -> ``layer1.0.bn2``."""
    names = [k.removesuffix(".weight") for k in keys]
    short = [n.rsplit(".", 1)[-1] for n in names]
    return short if len(set(short)) == len(short) else [n.removeprefix("features.") for n in names]


def plot_paired(pairs: list[Any], dest: Path, title: str) -> Path:
    """``paired_differences.png``: each comparison a - b, mean with 95 % CI and per-seed dots."""
    plt = pyplot()
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
        names = [f"{p.method}\n{p.label}" if p.baseline_method is None else p.label for p in sel]
        ax.set_yticklabels(names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("top-1 difference (percentage points)")
        ax.set_title(f"{column} checkpoint ({sel[0].n if sel else 0} seeds, 95% CI)", fontsize=9)
    return save_figure(fig, dest / "paired_differences.png", 110, f"{title}: paired differences by seed")
