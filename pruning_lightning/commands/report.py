"""``pruning-lightning report RUN_DIR``: the paper-style table of a pipeline run, plus plots.

Writes ``RUN_DIR/report/{report.md, report.csv, acc_vs_flops.png, acc_vs_params.png,
widths_<method>.png}``: test top-1 mean ± std over seeds per (method, regime), params, FLOPs and
FLOPs ratio, final-epoch and best-epoch columns, the paper's number where the paper has the row
(:mod:`pruning_lightning.pipeline.reference`), and the paired differences with 95 % CIs (scratch vs fine-tune, or the
experiment's ``comparisons``), also as ``paired.json`` for ``pruning-lightning findings``. ``--efficiency``
adds exported size and deployed latency beside accuracy for every model (:mod:`pruning_lightning.pipeline.efficiency`).
Logged to W&B too when the experiment enables it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from jsonargparse import ArgumentParser

from pruning_lightning.commands.report_io import check_run_dir, replay_lineage
from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.fresh import fresh_folder
from pruning_lightning.formats.run_dir import RunDir
from pruning_lightning.pipeline.compare import comparisons, paired_json
from pruning_lightning.pipeline.curves import plot_curves, plot_regime_curves
from pruning_lightning.pipeline.lineage import log_report
from pruning_lightning.pipeline.paired import Paired
from pruning_lightning.pipeline.plot_labels import labels
from pruning_lightning.pipeline.plots import plot_accuracy, plot_paired, plot_widths
from pruning_lightning.pipeline.results import Row, collect, unfinished
from pruning_lightning.utils.table import human, markdown_table

HEADERS = [
    "method",
    "regime",
    "seeds",
    "final top-1 (%)",
    "best top-1 (%)",
    "paper (%)",
    "best - paper",
    "params",
    "FLOPs",
    "FLOPs ratio",
    "epochs",
]
NOTE = (
    "**final** = test top-1 of `last.ckpt` (the last epoch); **best** = test top-1 of `best.ckpt` (the epoch with "
    "the best `val/acc1`; validation is the test split unless the data config holds out a split, so by default "
    "this is the best test accuracy over epochs, which is what the paper's official scripts print). "
    "Mean ± population std over seeds, single-device test; **epochs** = trained epochs (Scratch-B's follow each "
    "seed's FLOPs ratio, so a range). The paper column (where the paper has the row) is "
    "compared with **best**, as the paper's code reports."
)

CSV_COLUMNS = ["method", "regime", "seeds", "acc_mean", "acc_std", "best_mean", "best_std", "paper_mean", "paper_std",
               "diff", "params", "flops", "flops_ratio", "accs", "best_accs", "epochs"]  # fmt: skip


def _pm(mean: float, std: float | None, n: int | None = None) -> str:
    if mean != mean:
        return "-"
    if n == 1:
        return f"{mean:.2f} (1 seed)"
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def table_rows(rows: list[Row]) -> list[list[str]]:
    out = []
    for r in rows:
        paper = _pm(*r.paper) if r.paper else "-"
        diff = f"{r.diff:+.2f}" if r.diff is not None and r.diff == r.diff else "-"
        ratio = f"{r.flops_ratio:.2f}x" if r.flops_ratio == r.flops_ratio else "-"
        out.append(
            [
                r.method,
                r.regime,
                str(len(r.accs)),
                _pm(r.mean, r.std, len(r.accs)),
                _pm(r.best_mean, r.best_std, len(r.best)),
                paper,
                diff,
                human(r.params),
                human(r.flops),
                ratio,
                r.epochs_text,
            ]
        )
    return out


def paired_markdown(results: list[Paired]) -> str:
    if not results:
        return ""
    head = ["method", "comparison", "checkpoint", "seeds", "per-seed difference", "mean", "95% CI", "verdict"]
    body = []
    for p in results:
        ci = p.interval
        body.append(
            [
                p.method,
                p.label,
                p.column,
                str(p.n),
                " ".join(f"{d:+.2f}" for d in p.diffs),
                f"{p.mean:+.2f}",
                f"[{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "-",
                p.verdict,
            ]
        )
    return (
        "\n\n## Paired comparisons, by seed\n\n"
        + markdown_table(head, body)
        + "\n\nDifferences a - b in top-1 percentage points, the same seed's large model feeding both stages; 95 % "
        "CI from the t-distribution with n-1 degrees of freedom. The verdict reads the interval against the claim "
        "(`>`: above 0; `>= b - m`: above -m; `~ (within ±m)`: inside ±m).\n"
    )


def to_csv(rows: list[Row]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow(
            [
                r.method,
                r.regime,
                len(r.accs),
                f"{r.mean:.4f}",
                f"{r.std:.4f}",
                f"{r.best_mean:.4f}",
                f"{r.best_std:.4f}",
                r.paper[0] if r.paper else "",
                (r.paper[1] if r.paper and r.paper[1] is not None else ""),
                f"{r.diff:.4f}" if r.diff is not None else "",
                int(r.params),
                int(r.flops),
                f"{r.flops_ratio:.4f}",
                " ".join(f"{a:.4f}" for a in r.accs),
                " ".join(f"{a:.4f}" for a in r.best),
                " ".join(str(e) for e in r.epochs),
            ]
        )
    return buf.getvalue()


def report(run_dir: str | Path, out: str | Path | None = None, efficiency: bool = False) -> Path:
    """Write the Markdown/CSV tables and the plots; returns the report directory.

    Everything is written into a hidden sibling of the report folder first and moved there when complete
    (:func:`~pruning_lightning.formats.fresh.fresh_folder`): a failure leaves no half-written report.
    """
    exp, rows, stats = collect(run_dir)
    dest = Path(out) if out else RunDir(Path(run_dir)).report
    pairs = comparisons(exp, rows, Path(run_dir))
    md = f"# {exp['name']}\n\n{exp.get('description') or ''}\n\n" + markdown_table(HEADERS, table_rows(rows))
    md += "\n\n" + NOTE + "\n" + paired_markdown(pairs)
    if efficiency:
        from pruning_lightning.pipeline.efficiency import efficiency_markdown  # exports: only when asked

        md += efficiency_markdown(Path(run_dir), rows)
    missing = unfinished(Path(run_dir), exp)
    if missing:  # a partial run: the table holds the finished stages only, and says so
        md += f"\n\n**Partial run:** {len(missing)} stage(s) not finished: {', '.join(missing)}.\n"
    skipped: list[tuple[str, str]] = []  # (plot, why): every plot the report could not make is named

    def write(folder: Path) -> tuple[str, list[str]]:
        text = md
        (folder / "report.md").write_text(text)
        (folder / "report.csv").write_text(to_csv(rows))
        (folder / "paired.json").write_text(paired_json(exp, pairs))
        images = plot_accuracy(rows, folder, **labels(exp, Path(run_dir)))
        if any(p.interval for p in pairs):
            images.append(plot_paired(pairs, folder, exp["name"]))
        elif pairs:
            why = "no comparison has a 95 % interval yet (it needs 2 or more seeds)"
            skipped.append(("paired_differences.png", why))
        images += [plot_widths(m, s, folder) for m, s in stats.items() if any(x.get("kept") for x in s)]
        why_csv = "metrics.csv with a val/acc1 column (the fit wrote no CSV metrics: logger false?)"
        for name, made in (
            ("learning_curves.png", plot_curves(Path(run_dir), folder, exp["name"])),
            ("regime_curves.png", plot_regime_curves(Path(run_dir), rows, folder, exp["name"])),
        ):
            if made:
                images.append(made)
            else:
                what = "no large stage" if name.startswith("learning") else "no fine-tune / scratch stage"
                skipped.append((name, f"{what} has a {why_csv}"))
        if skipped:
            text += "\n\n" + "\n".join(f"**Plot skipped:** `{n}`: {why}." for n, why in skipped) + "\n"
            (folder / "report.md").write_text(text)
        return text, [str(Path(p).relative_to(folder)) for p in images]

    # An existing folder keeps its other files (--out may name any folder); each report file replaces its own.
    md, names = fresh_folder(dest, write, merge=True)
    images = [dest / n for n in names]
    if exp.get("wandb"):
        log_report(exp, rows, table_rows(rows), HEADERS, images, Path(run_dir))
    print(md)
    print(f"\nwrote {dest}/report.md, report.csv and {len(images)} plot(s)")
    for name, why in skipped:
        print(f"report: skipped {name}: {why}")
    return dest


def main(argv: list[str]) -> None:
    p = ArgumentParser(
        prog="pruning-lightning report", description=__doc__.splitlines()[0], exit_on_error=False, allow_abbrev=False
    )
    p.add_argument("run_dir", help="the experiment's run directory (of `pruning-lightning pipeline`)")
    p.add_argument("--out", default=None, help="output folder (default RUN_DIR/report)")
    p.add_argument(
        "--replay_lineage",
        "--replay-lineage",
        action="store_true",
        help="after `wandb sync` of an offline study: declare its recorded artifact uses online "
        "(RUN_DIR/wandb_lineage.jsonl; needs network and a W&B API key), then stop",
    )
    p.add_argument("--entity", default=None, help="--replay_lineage: the W&B entity of the project")
    p.add_argument("--efficiency", action="store_true", help="size/latency of every model (exports each one)")
    a = p.parse_args(argv)
    if a.replay_lineage:
        replay_lineage(Path(a.run_dir), a.entity)
        return
    check_run_dir(Path(a.run_dir))
    run = RunDir(Path(a.run_dir))
    dest = Path(a.out) if a.out else run.report
    if dest.exists() and not dest.is_dir():
        raise PruningError(f"--out {dest} is an existing file, not a folder; choose another --out")
    run.read_record()  # a missing record first: the folder is no run at all
    if not run.results():
        raise PruningError(
            f"{a.run_dir} has no finished stage yet (no result.json), so there is nothing to report; run its "
            "pipeline first"
        )
    try:
        report(a.run_dir, a.out, a.efficiency)  # a failure leaves no half-written report (see report())
    except Exception as e:
        if isinstance(e, OSError):
            raise PruningError(f"cannot write the report to {dest}: {e.strerror or e}") from None
        if isinstance(e, (KeyError, TypeError, ValueError)):
            raise PruningError(
                f"{a.run_dir} holds a malformed record ({type(e).__name__}: {e}); re-run its stage"
            ) from e
        raise
