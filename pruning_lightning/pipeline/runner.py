"""Run planned stages in order, idempotently and resumably.

* a stage with ``result.json`` is finished and skipped (re-running a finished experiment trains nothing);
* an interrupted fit resumes from ``checkpoints/last.ckpt`` (checked loadable first);
* the run directory records the experiment's hash and refuses a different experiment (:meth:`RunDir.check`);
* where each stage writes, and what counts as finished, is :class:`~pruning_lightning.formats.run_dir.StageDir`'s.

Fit and test run in-process (fast); a multi-device (DDP) fit runs as a
``python -m pruning_lightning fit ...`` subprocess, because Lightning's DDP launcher re-executes
``sys.argv`` in the other ranks. The final test always runs on one device (see ``plan.test_args``).

Every stage runs through :func:`pruning_lightning.stages.run_stage`, the function the console commands
use, so a planned stage and the command ``--dry-run`` prints run the same code. Modules that import
torch or Lightning are imported inside the functions that run stages: planning, ``--dry-run`` and the
run-folder checks stay light.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pruning_lightning.core.config_files import read_config
from pruning_lightning.core.errors import PruningError
from pruning_lightning.core.units import ACC_UNIT
from pruning_lightning.formats.run_dir import RunDir
from pruning_lightning.pipeline import lineage
from pruning_lightning.pipeline.plan import Stage, plan, test_args
from pruning_lightning.pipeline.progress import Progress
from pruning_lightning.pipeline.schema import Experiment

Echo = Callable[[str], None]


def check_run_dir(exp: Experiment) -> None:
    """Record the experiment in its run folder; refuse a folder that records another (:meth:`RunDir.check`)."""
    RunDir(exp.root).check(exp)


def command_line(args: list[str]) -> str:
    return "pruning-lightning " + shlex.join(args)


def dry_run(exp: Experiment, stages: list[Stage]) -> list[str]:
    """The exact commands the local runner would run, one per line (fit stages: fit then test)."""
    lines = []
    for st in stages:
        if st.done():
            lines.append(f"# {st.key}: done, skipped")
            continue
        if st.kind == "fit":
            resume = ["--ckpt_path", str(st.ckpt)] if st.folder.resumable() else []
            lines.append(command_line(st.args + resume))
            lines.append(command_line(test_args(exp, st, st.ckpt)))
            lines.append(command_line(test_args(exp, st, st.folder.best_ckpt)))
        elif st.kind == "zoo":
            lines += [command_line(st.args), command_line(test_args(exp, st, st.ckpt))]
        else:  # prune, or the arch stage of a preset / guided method
            lines.append(command_line(st.args))
    return lines


def _check_checkpoint(st: Stage, ckpt: Path | None = None) -> int | None:
    """Load-check a stage checkpoint; returns the epoch stored in it (Lightning's 0-based index)."""
    import torch  # on use (see the module docstring)

    ckpt = ckpt or st.ckpt
    try:
        ck = torch.load(ckpt, map_location="cpu", weights_only=True)
        if "state_dict" not in ck:
            raise KeyError("state_dict")
    except Exception as e:
        raise PruningError(
            f"stage {st.key}: checkpoint {ckpt} is corrupt ({type(e).__name__}); delete {st.dir} to retrain "
            "that stage (finished stages are untouched)"
        ) from None
    return ck.get("epoch")


def _subprocess(args: list[str], st: Stage) -> None:
    rc = subprocess.call([sys.executable, "-m", "pruning_lightning", *args])
    if rc != 0:
        raise PruningError(f"stage {st.key}: `{command_line(args[:1])} ...` exited with status {rc}")


def run_fit(exp: Experiment, st: Stage, subprocess_fit: bool | None = None) -> None:
    """fit (resuming if a checkpoint exists) in the configured devices."""
    args = list(st.args)
    if st.folder.resumable():
        _check_checkpoint(st)
        args += ["--ckpt_path", str(st.ckpt)]
    use_sub = st.devices > 1 and "SLURM_JOB_ID" not in os.environ if subprocess_fit is None else subprocess_fit
    if use_sub:
        _subprocess(args, st)
    else:
        # A fit that fails before a checkpoint leaves nothing.
        from pruning_lightning.training.cli_guard import guarded_outputs

        with guarded_outputs() as guard:
            run_stage(args, guard=guard)
        if exp.wandb is None:
            lineage.finish()
        # With W&B the fit's run stays open: the test's numbers and the lineage go to it (run_test), so
        # nothing reopens the run and logs at step 0 again.


def _test_checkpoint(exp: Experiment, st: Stage, ckpt: Path) -> tuple[Any, dict[str, float], int | None]:
    """(CLI, test metrics, the checkpoint's 1-based epoch) of a single-device test of ``ckpt``."""
    from pruning_lightning.core.console_once import quiet

    epoch = _check_checkpoint(st, ckpt)
    with quiet("Restoring states from the checkpoint", "Loaded model weights from the checkpoint"):
        cli = run_stage(test_args(exp, st, ckpt))  # its result is the one line run_test prints
    return cli, {k: float(v) for k, v in cli.trainer.callback_metrics.items()}, None if epoch is None else epoch + 1


def run_test(exp: Experiment, st: Stage, stages: dict[str, Stage], t0: float) -> dict[str, Any]:
    """Single-device test of ``last.ckpt`` (final epoch) and ``best.ckpt`` (best val/acc1 epoch).

    Writes ``result.json`` (the finished marker) with both accuracies (percent) and the 1-based epochs they
    come from, and prints them on one line (the test tables are not printed).
    """
    from pruning_lightning.models import input_size  # torch: on use (see the module docstring)
    from pruning_lightning.utils.flops import count_complexity

    if not st.ckpt.is_file() or (st.kind != "zoo" and not st.folder.config.is_file()):
        raise PruningError(f"stage {st.key}: no finished fit to test (missing {st.ckpt} or config.yaml); run its fit")
    cli, metrics, final_epoch = _test_checkpoint(exp, st, st.ckpt)
    best_ckpt = st.folder.best_ckpt
    _, best, best_epoch = _test_checkpoint(exp, st, best_ckpt) if best_ckpt.is_file() else (None, {}, None)
    c = count_complexity(cli.model.net, input_size(cli.model.arch))
    result = {
        "key": st.key,
        "kind": st.kind,
        "job_type": st.job_type,
        "seed": st.seed,
        "method": st.method,
        "metrics": metrics,
        "acc_unit": ACC_UNIT,
        "epoch_base": 1,
        "test_acc1": metrics.get("test/acc1", float("nan")),
        "test_acc1_best": best.get("test/acc1", float("nan")),
        "final_epoch": final_epoch,
        "best_epoch": best_epoch,
        "val_acc1_best": float(cli.model.best_val_acc1),
        "epochs": int(cli.trainer.max_epochs or 0),
        "params": c.params,
        "params_nonzero": c.params_nonzero,
        "flops": c.flops,
        "macs": c.macs,
        "arch": cli.model.arch.to_dict(),
        "num_classes": cli.model.num_classes,
        "wall_s": round(time.time() - t0, 2),
    }
    if exp.wandb is not None:
        lineage.after_fit_stage(exp, st, [stages[d] for d in st.deps], result)
    lineage.finish()
    st.folder.write_result(result)  # the finished marker, atomically (temporary file + os.replace)
    print(f"[pipeline] {st.key}: {test_line(result)}")
    return result


def test_line(result: dict[str, Any]) -> str:
    """``test top-1 final 63.65 % (epoch 24), best 63.65 % (epoch 17)`` from a fit stage's ``result.json``."""
    best = result.get("best_epoch")
    best_text = f", best {result['test_acc1_best']:.2f} % (epoch {best})" if best is not None else ""
    return f"test top-1 final {result['test_acc1']:.2f} % (epoch {result.get('final_epoch')}){best_text}"


def run_prune(exp: Experiment, st: Stage) -> dict[str, Any]:
    import lightning as L  # on use (see the module docstring)

    L.seed_everything(st.seed, verbose=False)
    st.folder.clear_partial()  # left by a kill while the artifact was written (the run folder is locked)
    run_stage(st.args)  # prune, or the arch stage of a preset / guided method
    stats = read_config(st.dir / "stats.yaml")
    result = {"key": st.key, "kind": st.kind, "job_type": "prune", "seed": st.seed, "method": st.method, "stats": stats}
    if exp.wandb is not None:
        lineage.log_prune(exp, st, stats)
    st.folder.write_result(result)
    return result


def run(
    exp: Experiment,
    only: list[str] | None = None,
    step: str = "all",
    echo: Echo = print,
    subprocess_fit: bool | None = None,
) -> list[Stage]:
    """Run every unfinished stage (or those in ``only``) in dependency order."""
    stages = plan(exp)
    by_key = {s.key: s for s in stages}
    unknown = sorted(set(only or ()) - set(by_key))
    if unknown:
        raise PruningError(f"unknown stage(s) {unknown}; stages: {list(by_key)}")
    check_run_dir(exp)
    progress = Progress(stages, echo)
    todo = [s for s in stages if not (only and s.key not in only) and not s.done()]
    for st in stages:
        if only and st.key not in only:
            continue
        if st.done():
            echo(f"[pipeline] {st.key}: done, skipped")
            continue
        if st.marker.exists():  # corrupt, or its files are gone: the stage runs again (a fit resumes)
            echo(f"[pipeline] {st.key}: {st.marker_problem()}; running the stage again")
        missing = [d for d in st.deps if not by_key[d].done()]
        if missing:
            raise PruningError(f"stage {st.key} needs {missing} finished first; run them (or the whole pipeline)")
        progress.start(st, todo[todo.index(st) :])
        t0 = time.time()
        if st.kind == "fit":
            if step in ("all", "fit"):
                run_fit(exp, st, subprocess_fit)
            if step in ("all", "test") and _is_rank_zero():
                run_test(exp, st, by_key, t0)
        elif st.kind == "zoo":  # model-zoo weights instead of training: import, then test like a fit
            run_stage(st.args)
            run_test(exp, st, by_key, t0)
        else:
            run_prune(exp, st)
        progress.finish(st)
    progress.summary()
    return stages


def _is_rank_zero() -> bool:
    return all(os.environ.get(v, "0") == "0" for v in ("RANK", "LOCAL_RANK", "SLURM_PROCID"))


def run_stage(args: list[str], guard: Any = None) -> Any:
    """:func:`pruning_lightning.stages.run_stage`, imported on first use (it imports Lightning)."""
    from pruning_lightning import stages

    return stages.run_stage(args, guard=guard)
