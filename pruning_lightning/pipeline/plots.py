"""Report plots (matplotlib Agg): accuracy vs FLOPs / params per regime, kept widths per layer."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from pruning_lightning.pipeline.names import method_label, regime_label
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
        return "Large (unpruned)"
    return "Large (shared)" if row.method == "-" else f"Large ({method_label(row.method, None)}'s own)"


REGIME_COLORS = {"large": "black", "finetune": "#1f77b4", "scratch_e": "#2ca02c", "scratch_b": "#d62728"}
# Experiment-defined regimes (finetune_kd, ...), in order: none repeats a built-in regime's colour.
EXTRA_COLORS = ("#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
METHOD_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
LARGE_MARKERS = ("*", "p", "H", "8")


def ci_half(values: list[float], level: float = 0.95) -> float:
    """Half-width of the two-sided t interval of the mean (0 with fewer than two values)."""
    n = len(values)
    if n < 2:
        return 0.0
    from scipy import stats  # imported on use (start-up time)

    mean = sum(values) / n
    sd = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5
    return float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / n**0.5


def _acc(r: Row) -> tuple[float, float]:
    """Best-epoch mean and 95 % CI half-width (what the paper's code reports) when recorded, else the final's."""
    vals = r.best if r.best and r.best_mean == r.best_mean else r.accs
    return sum(vals) / len(vals), ci_half(vals)


def unit(values: list[float], kind: str) -> tuple[float, str]:
    """A readable linear unit for an axis: ``(1e6, "MFLOPs")``, ``(1e3, "K params")``, ..."""
    top = max(values, default=0.0)
    scale, prefix = next(((f, p) for f, p in ((1e9, "G"), (1e6, "M"), (1e3, "K")) if top >= f), (1.0, ""))
    return scale, f"{prefix}FLOPs" if kind == "flops" else f"{prefix} params".strip()


def regime_color(regime: str, regimes: list[str]) -> str:
    extra = [g for g in regimes if g not in REGIME_COLORS]
    return REGIME_COLORS.get(regime) or EXTRA_COLORS[extra.index(regime) % len(EXTRA_COLORS)]


def caption(fig: Any, text: str, width: int = 120) -> tuple[float, float, float, float]:
    """A figure caption under the axes (plain text: a caption, not a warning box).

    Returns the ``tight_layout`` rect that keeps the axes (and their x label) clear of it.
    """
    lines = textwrap.wrap(text, width)
    fig.text(0.01, 0.01, "\n".join(lines), ha="left", va="bottom", fontsize=7.5, color="#333333")
    height = (0.14 * len(lines) + 0.12) / fig.get_size_inches()[1]  # ~0.14 inch per 7.5-point line
    return (0, height, 1, 1)


def save_all(fig: Any, path: Path, dpi: int, rect: tuple[float, float, float, float] | None = None) -> Path:
    """PNG for the page and a vector PDF beside it, for a paper."""
    fig.tight_layout(rect=rect)
    fig.savefig(path.with_suffix(".pdf"))
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path


def plot_accuracy(rows: list[Row], dest: Path, title: str | None = None, note: str | None = None) -> list[Path]:
    """``acc_vs_flops.{png,pdf}`` and ``acc_vs_params.{png,pdf}`` in the paper's style.

    One colour per regime, one marker per method, no line joining different methods (they are different
    networks); error bars = 95 % t-interval of the mean over seeds; the paper's number as a hollow marker;
    each large model its own labelled marker and dashed line; linear axes in readable units; ``note`` (a
    reduced-budget caveat) in the caption.
    """
    plt = pyplot()
    paths = []
    methods = [m for m in dict.fromkeys(r.method for r in rows) if m != "-"]
    marker = {m: METHOD_MARKERS[i % len(METHOD_MARKERS)] for i, m in enumerate(methods)}
    pruner = {r.method: r.pruner for r in rows}
    seeds = sorted({len(r.accs) for r in rows})
    regimes = [g for g in dict.fromkeys(r.regime for r in rows) if g != "large"]
    larges = [r for r in rows if r.regime == "large"]
    for attr, kind in (("flops", "flops"), ("params", "params")):
        xs_all = [getattr(r, attr) for r in rows if getattr(r, attr) == getattr(r, attr)]
        scale, unit_name = unit(xs_all, kind)
        span = (max(xs_all, default=1) - min(xs_all, default=0)) / scale or 1.0
        fig, ax = plt.subplots(figsize=(7.5, 5.4))
        for i, r in enumerate(larges):
            y, err = _acc(r)
            x = getattr(r, attr) / scale
            ax.axhline(y, color="grey", ls="--", lw=0.8, zorder=0)
            ax.errorbar([x], [y], yerr=[err], fmt=LARGE_MARKERS[i % len(LARGE_MARKERS)], ms=13, color="black",
                        capsize=3, label=_large_label(r, len(larges)))  # fmt: skip
            if r.paper:
                ax.plot([x], [r.paper[0]], LARGE_MARKERS[i % 4], ms=13, mfc="none", mec="black")
        for j, regime in enumerate(regimes):
            color = regime_color(regime, regimes)
            dodge = 0.012 * span * (j - (len(regimes) - 1) / 2)  # regimes share each method's x
            for r in (r for r in rows if r.regime == regime):
                y, err = _acc(r)
                x = getattr(r, attr) / scale + dodge
                ax.errorbar([x], [y], yerr=[err], fmt=marker.get(r.method, "o"), color=color, ms=7, capsize=3)
                if r.paper:
                    ax.plot([x], [r.paper[0]], marker.get(r.method, "o"), ms=10, mfc="none", mec=color, mew=1.5)
            ax.plot([], [], "-", color=color, lw=6, label=regime_label(regime))  # a colour swatch, not a marker
        for m in methods:  # legend entries for the method markers (grey: the colour is the regime's)
            ax.plot([], [], marker[m], color="grey", ls="none", label=method_label(m, pruner.get(m)))
        if any(r.paper for r in rows):
            ax.plot([], [], "o", mfc="none", mec="grey", ls="none", ms=10, label="paper (hollow)")
        ax.set_xlabel(unit_name + (" (non-zero weights for masked nets)" if attr == "params" else ""))
        ax.set_ylabel("test top-1 (%), best epoch")
        ax.set_title(textwrap.fill(title or f"accuracy vs {unit_name}", 80), fontsize=10)
        ax.grid(True, alpha=0.25)
        ax.legend(fontsize=7.5, loc="best", framealpha=0.85)
        spread = (
            "1 seed, no error bars"
            if seeds == [1]
            else f"error bars: 95 % CI of the mean over {'/'.join(map(str, seeds))} seeds"
        )
        rect = caption(fig, f"Markers: mean test top-1 of the best epoch; {spread}." + (f" {note}." if note else ""))
        paths.append(save_all(fig, dest / f"acc_vs_{attr}.png", 150, rect=rect))
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


def paired_name(p: Any) -> str:
    """A comparison in the paper's words: "Network Slimming 50 %: Scratch-B - Fine-tuned"."""
    if p.baseline_method is None:
        return f"{method_label(p.method)}:\n{regime_label(p.regime)} - {regime_label(p.baseline)}"
    a, b = (f"{method_label(m)} {regime_label(r)}" if m != "-" else regime_label(r)  # "-": the shared large model
            for m, r in ((p.method, p.regime), (p.baseline_method, p.baseline)))  # fmt: skip
    return f"{a}\n- {b}"


def plot_paired(pairs: list[Any], dest: Path, title: str) -> Path:
    """``paired_differences.{png,pdf}``: each comparison a - b, mean with 95 % CI and per-seed points."""
    plt = pyplot()
    columns = [c for c in ("final", "best") if any(p.column == c for p in pairs)]
    rows = max(sum(p.column == c for p in pairs) for c in columns)
    fig, axes = plt.subplots(1, len(columns), figsize=(6.2 * len(columns), 0.75 * rows + 2.2), squeeze=False)
    regimes = list(dict.fromkeys(p.regime for p in pairs))
    for ax, column in zip(axes[0], columns, strict=True):
        sel = [p for p in pairs if p.column == column]
        for y, p in enumerate(sel):
            ci = p.interval
            c = regime_color(p.regime, regimes)
            if ci is not None:
                ax.errorbar([p.mean], [y], xerr=[[p.mean - ci[0]], [ci[1] - p.mean]], fmt="o", color=c, capsize=4)
            ax.scatter(p.diffs, [y] * p.n, marker="x", color=c, alpha=0.6, s=22)
            if p.margin:
                ax.plot([-p.margin, p.margin], [y, y], "|", color="grey", ms=14)
        ax.axvline(0, color="grey", lw=1, ls="--")
        ax.set_yticks(range(len(sel)))
        ax.set_yticklabels([paired_name(p) for p in sel], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("top-1 difference a - b (percentage points)")
        ax.set_title(f"{column} checkpoint ({'last' if column == 'final' else 'best'}.ckpt)", fontsize=9)
    ax = axes[0][0]  # one legend for the figure, above the axes: inside them it would cover a seed's point
    ax.errorbar([], [], xerr=[], fmt="o", color="k", capsize=4, label="mean, 95 % CI")
    ax.scatter([], [], marker="x", color="k", label="one seed")
    if any(p.margin for p in pairs):
        ax.plot([], [], "|", color="grey", ms=10, ls="none", label="± margin of the claim")
    height = fig.get_size_inches()[1]
    fig.legend(*ax.get_legend_handles_labels(), loc="upper center", ncol=3, fontsize=7.5, frameon=False,
               bbox_to_anchor=(0.5, 1 - 0.3 / height))  # fmt: skip
    n = sorted({p.n for p in pairs})
    bottom = caption(fig, f"Paired by seed ({'/'.join(map(str, n))} seeds): each seed's large model feeds both stages.")
    fig.suptitle(f"{title}: paired differences", fontsize=10)
    return save_all(fig, dest / "paired_differences.png", 150, rect=(0, bottom[1], 1, 1 - 0.55 / height))
