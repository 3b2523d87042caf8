"""``pruning-lightning report RUN_DIR``: the paper-style table of a pipeline run, plus plots.

Writes ``RUN_DIR/report/{report.md, report.csv, acc_vs_flops.png, acc_vs_params.png,
widths_<method>.png}``: test top-1 mean ± std over seeds per (method, regime), params, FLOPs and
FLOPs ratio, with the paper's number and our difference where PAPER §6 has one
(:mod:`pruning_lightning.reference`). Logged to W&B too when the experiment enables it.
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

from pruning_lightning.pipeline.results import Row, collect
from pruning_lightning.utils.table import human, markdown_table

HEADERS = ["method", "regime", "seeds", "top-1 (%)", "paper (%)", "diff", "params", "FLOPs", "FLOPs ratio"]


def _pm(mean: float, std: float | None) -> str:
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def table_rows(rows: list[Row]) -> list[list[str]]:
    out = []
    for r in rows:
        paper = _pm(*r.paper) if r.paper else "-"
        diff = f"{r.diff:+.2f}" if r.diff is not None else "-"
        ratio = f"{r.flops_ratio:.2f}x" if r.flops_ratio == r.flops_ratio else "-"
        out.append(
            [
                r.method,
                r.regime,
                str(len(r.accs)),
                _pm(r.mean, r.std),
                paper,
                diff,
                human(r.params),
                human(r.flops),
                ratio,
            ]
        )
    return out


def to_csv(rows: list[Row]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "method",
            "regime",
            "seeds",
            "acc_mean",
            "acc_std",
            "paper_mean",
            "paper_std",
            "diff",
            "params",
            "flops",
            "flops_ratio",
            "accs",
        ]
    )
    for r in rows:
        w.writerow(
            [
                r.method,
                r.regime,
                len(r.accs),
                f"{r.mean:.4f}",
                f"{r.std:.4f}",
                r.paper[0] if r.paper else "",
                (r.paper[1] if r.paper and r.paper[1] is not None else ""),
                f"{r.diff:.4f}" if r.diff is not None else "",
                int(r.params),
                int(r.flops),
                f"{r.flops_ratio:.4f}",
                " ".join(f"{a:.4f}" for a in r.accs),
            ]
        )
    return buf.getvalue()


def report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the Markdown/CSV tables and the plots; returns the report directory."""
    from pruning_lightning.pipeline.plots import plot_accuracy, plot_widths

    exp, rows, stats = collect(run_dir)
    dest = Path(out) if out else Path(run_dir) / "report"
    dest.mkdir(parents=True, exist_ok=True)
    md = f"# {exp['name']}\n\n{exp.get('description') or ''}\n\n" + markdown_table(HEADERS, table_rows(rows))
    md += "\n\nTop-1 is the single-device test accuracy of the last epoch, mean ± population std over seeds.\n"
    (dest / "report.md").write_text(md)
    (dest / "report.csv").write_text(to_csv(rows))
    images = plot_accuracy(rows, dest)
    images += [plot_widths(m, s, dest) for m, s in stats.items() if any(x.get("kept") for x in s)]
    if exp.get("wandb"):
        from pruning_lightning.pipeline.lineage import log_report

        log_report(exp, rows, table_rows(rows), HEADERS, images, Path(run_dir))
    print(md)
    print(f"\nwrote {dest}/report.md, report.csv and {len(images)} plot(s)")
    return dest


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="pruning-lightning report", description=__doc__.splitlines()[0])
    p.add_argument("run_dir", help="the experiment's run directory (holds experiment.json)")
    p.add_argument("--out", default=None, help="output folder (default RUN_DIR/report)")
    a = p.parse_args(argv)
    report(a.run_dir, a.out)
