"""``pruning-lightning demo``: the whole Network Slimming slice on bundled digits, on CPU.

A thin wrapper over the two commands a real study uses, on the experiment file
``configs/experiments/demo_digits_slimming.yaml``::

    pruning-lightning pipeline configs/experiments/demo_digits_slimming.yaml   # large -> prune -> regimes
    pruning-lightning report runs/demo                                         # table + plots

(``make demo`` runs exactly those two lines). The flags override the experiment file's values; finished
stages are skipped when the demo runs again (delete the output folder to start over). About 4 minutes
on 2 CPU cores.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from jsonargparse import ActionYesNo, ArgumentParser

from pruning_lightning.commands.report import main as report_main
from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.run_dir import RunDir
from pruning_lightning.pipeline.paths import ROOT
from pruning_lightning.pipeline.preflight import preflight
from pruning_lightning.pipeline.runner import run
from pruning_lightning.pipeline.schema import Experiment, load_experiment

EXPERIMENT = ROOT / "configs/experiments/demo_digits_slimming.yaml"


def demo_experiment(
    out: str | None = None,
    seed: int | None = None,
    large_epochs: int | None = None,
    finetune_epochs: int | None = None,
    progress: bool | None = None,
    trainer: dict[str, Any] | None = None,
) -> Experiment:
    """The demo experiment file with the given overrides (None keeps the file's value).

    ``large_epochs`` sets ``base_epochs`` (large and Scratch-E; Scratch-B scales it by the FLOPs ratio);
    ``finetune_epochs`` sets the epochs of every fine-tune regime (by default a quarter of the large run's);
    ``trainer`` adds ``trainer.*`` settings to every stage.
    """
    exp = load_experiment(EXPERIMENT)
    changes: dict[str, Any] = {}
    if out is not None:
        changes["run_dir"] = out
    if seed is not None:
        changes["seeds"] = (seed,)
    if large_epochs is not None:
        changes["base_epochs"] = large_epochs
    if finetune_epochs is not None:
        changes["regimes"] = {
            k: dataclasses.replace(r, epochs=finetune_epochs) if r.epochs == "scaled" else r
            for k, r in exp.regimes.items()
        }
    extra = {**(trainer or {}), **({"enable_progress_bar": progress} if progress is not None else {})}
    if extra:
        changes["trainer"] = {**exp.trainer, **extra}
    return dataclasses.replace(exp, **changes)


def _check_out(exp: Experiment) -> None:
    """The run folder is new, or holds this same demo (then finished stages are skipped)."""
    if RunDir(exp.root).holds(exp) is False:
        raise PruningError(
            f"--out {exp.root} holds another run (other demo flags or experiment); delete it or choose another --out"
        )


def run_demo(exp: Experiment) -> Path:
    """``pipeline`` then ``report`` on ``exp``; returns the report folder."""
    preflight(exp)  # every stage's configuration checked before the first trains
    _check_out(exp)
    run(exp)
    report_main([str(exp.root)])
    return exp.root / "report"


def main(argv: list[str]) -> None:
    parser = ArgumentParser(
        prog="pruning-lightning demo",
        exit_on_error=False,
        allow_abbrev=False,
        description=__doc__.splitlines()[0].split(": ", 1)[1],
        epilog=f"Same as: pruning-lightning pipeline {EXPERIMENT.relative_to(ROOT)} && pruning-lightning report "
        "<run_dir> (the flags override the experiment file).",
    )
    parser.add_argument("--out", default=None, help="run folder (default: the experiment's run_dir, runs/demo)")
    parser.add_argument("--seed", type=int | None, default=None, help="the one seed (default 0)")
    parser.add_argument("--large_epochs", type=int | None, default=None, help="large and Scratch-E epochs (default 16)")
    parser.add_argument(
        "--finetune_epochs", type=int | None, default=None, help="fine-tune epochs (default: large_epochs / 4, i.e. 6)"
    )
    parser.add_argument("--progress", action=ActionYesNo, nargs="?", default=None, help="progress bars (--no_progress)")
    args = parser.parse_args(argv)
    for flag in ("large_epochs", "finetune_epochs"):  # checked before anything is written
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise PruningError(f"--{flag} must be a positive integer, got {getattr(args, flag)}")
    exp = demo_experiment(args.out, args.seed, args.large_epochs, args.finetune_epochs, args.progress)
    out = exp.root
    if out.exists() and not out.is_dir():
        raise PruningError(f"--out {out} is an existing file, not a folder; choose another --out")
    run_demo(exp)
