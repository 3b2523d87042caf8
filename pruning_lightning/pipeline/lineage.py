"""W&B lineage: one group per experiment, ``job_type`` per stage, artifacts linking the stages.

* prune stage: its own run (``job_type=prune``) logs the per-layer kept widths as a Table, the
  stats as summary, the artifact directory as a ``pruned-model`` artifact, and uses the large
  checkpoint artifact;
* fit stages: after the single-device test the run logs ``last.ckpt`` as a ``model`` artifact and
  uses the artifacts of the stages it depends on (fine-tune/scratch -> the prune artifact).

Offline (``WANDB_MODE=offline``) W&B cannot resolve artifact names, so ``use_artifact`` is
recorded in the run config (``lineage/uses``) and in ``<run_dir>/wandb_lineage.jsonl``; after
``wandb sync``, :func:`replay` declares those uses online through the public API.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from pruning_lightning.pipeline.schema import Experiment
from pruning_lightning.pipeline.stage import Stage
from pruning_lightning.pipeline.wandb_args import run_id, wandb_logger, wandb_mode


def finish() -> None:
    """Close the live W&B run, if any (Lightning's WandbLogger never does)."""
    if "wandb" in sys.modules:
        import wandb  # already loaded (checked above)

        if wandb.run is not None:
            wandb.finish()


def artifact_name(exp: Experiment, st: Stage) -> str:
    """``<experiment>-seed0-<method>-<stage>``, in W&B's allowed characters."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{exp.name}-{st.key.replace('/', '-')}")


def _offline(run: Any) -> bool:
    return bool(getattr(run.settings, "_offline", False)) or run.settings.mode in ("offline", "dryrun")


def declare_use(exp: Experiment, run: Any, name: str, type_: str) -> None:
    """``run.use_artifact(name:latest)`` online; recorded for :func:`replay` offline."""
    if not _offline(run):
        run.use_artifact(f"{name}:latest", type=type_)
        return
    uses = list(run.config.get("lineage/uses", []) or []) + [f"{name}:latest"]
    run.config.update({"lineage/uses": uses}, allow_val_change=True)
    with (exp.root / "wandb_lineage.jsonl").open("a") as f:
        f.write(json.dumps({"project": run.project, "run_id": run.id, "uses": f"{name}:latest", "type": type_}) + "\n")


def _artifact(name: str, type_: str, files: list[Path], metadata: dict[str, Any]) -> Any:
    import wandb  # imported on use (start-up time)

    art = wandb.Artifact(name, type=type_, metadata=metadata)
    for f in files:
        if f.is_file():
            art.add_file(str(f))
    return art


def _init(exp: Experiment, st: Stage) -> Any:
    import wandb  # imported on use (start-up time)

    init = dict(wandb_logger(exp, st)["init_args"])
    init["dir"] = init.pop("save_dir")
    return wandb.init(**init)


def log_prune(exp: Experiment, st: Stage, stats: dict[str, Any]) -> None:
    """The prune stage's own run: Table of kept widths, stats, artifact, lineage to the large checkpoint."""
    import wandb  # imported on use (start-up time)

    run = _init(exp, st)
    rows = [[layer, *map(int, str(k).split("/"))] for layer, k in (stats.get("kept") or {}).items()]
    run.log({"prune/kept": wandb.Table(columns=["layer", "kept", "total"], data=rows)})
    run.summary.update({f"prune/{k}": v for k, v in stats.items() if isinstance(v, (int, float))})
    meta = {k: v for k, v in stats.items() if isinstance(v, (int, float, str))}
    files = [st.dir / n for n in ("pruned.pt", "arch.yaml", "stats.yaml", "scratch_b.yaml")]
    run.log_artifact(_artifact(artifact_name(exp, st), "pruned-model", files, meta))
    for dep in st.deps:
        declare_use(exp, run, re.sub(r"[^A-Za-z0-9_.-]", "-", f"{exp.name}-{dep.replace('/', '-')}"), "model")
    run.finish()


def after_fit_stage(exp: Experiment, st: Stage, deps: list[Stage], result: dict[str, Any]) -> None:
    """On the fit's still open run (reopened only after a subprocess fit): checkpoint artifact, lineage, results.

    The results go to the run's summary (no step), so the test never adds a history row at step 0.
    """
    import wandb  # imported on use (start-up time)

    if wandb.run is not None and wandb.run.id != run_id(exp, st.key):
        wandb.finish()
    run = wandb.run if wandb.run is not None else _init(exp, st)
    keys = ("test_acc1", "test_acc1_best", "final_epoch", "best_epoch", "params", "flops")
    run.summary.update({f"result/{k}": result[k] for k in keys if result.get(k) is not None})
    if exp.wandb is not None and exp.wandb.log_checkpoints:
        run.log_artifact(_artifact(artifact_name(exp, st), "model", [st.ckpt], {"seed": st.seed}))
    for d in deps:
        declare_use(exp, run, artifact_name(exp, d), "pruned-model" if d.job_type == "prune" else "model")


def replay(lineage_file: str | Path, entity: str | None = None) -> int:
    """After ``wandb sync``: declare the recorded uses online (needs network and an API key)."""
    import wandb  # imported on use (start-up time)

    api = wandb.Api()
    n = 0
    for line in Path(lineage_file).read_text().splitlines():
        rec = json.loads(line)
        prefix = f"{entity}/{rec['project']}" if entity else rec["project"]
        api.run(f"{prefix}/{rec['run_id']}").use_artifact(api.artifact(f"{prefix}/{rec['uses']}", type=rec["type"]))
        n += 1
    return n


def log_report(
    exp: dict[str, Any], rows: list[Any], cells: list[list[str]], headers: list[str], images: list[Path], run_dir: Path
) -> None:
    """The report as its own run of the experiment's group (``job_type=report``): a Table and the plots."""
    import wandb  # imported on use (start-up time)

    w = exp["wandb"]
    run = wandb.init(
        project=w["project"],
        entity=w.get("entity"),
        group=exp["name"],
        job_type="report",
        name=f"{exp['name']}/report",
        dir=str(run_dir),
        tags=list(w.get("tags") or ()),
        mode=wandb_mode(w.get("mode")).get("mode"),  # type: ignore[arg-type]  # None: WANDB_MODE, else online
        reinit="finish_previous",
    )
    run.log(
        {
            "report/table": wandb.Table(columns=[*headers], data=cells),
            **{f"report/{p.stem}": wandb.Image(str(p)) for p in images},
        }
    )
    run.finish()
