"""The logger a planned stage's ``fit``/``test`` gets: a WandbLogger when the experiment enables W&B, else CSV.

W&B runs are grouped per experiment with one ``job_type`` per stage; a stage's run id is stable, so its
fit, test and resumes all land in one run (:mod:`~pruning_lightning.pipeline.lineage` links the runs).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from pruning_lightning.cli.config import prune_ratio
from pruning_lightning.core.errors import PruningError
from pruning_lightning.pipeline.paths import resolve_path
from pruning_lightning.pipeline.schema import Experiment, MethodSpec
from pruning_lightning.pipeline.stage import Stage


def run_id(exp: Experiment, key: str) -> str:
    """Stable W&B run id per (experiment, stage): fit, test and resumes all land in one run."""
    return hashlib.sha256(f"{exp.digest()}:{key}".encode()).hexdigest()[:12]


def method_ratio(m: MethodSpec) -> float | None:
    """The prune ratio of a method (args override, then its prune config), if it has one.

    None also when the prune config is missing or does not parse: preflight and the prune stage report it.
    """
    if "pruner.init_args.ratio" in m.args:
        return float(m.args["pruner.init_args.ratio"])
    if not m.prune or not Path(resolve_path(m.prune)).is_file():
        return None
    try:
        return prune_ratio(resolve_path(m.prune))
    except PruningError:
        return None


def wandb_mode(mode: str | None) -> dict[str, str]:
    """``{"mode": ...}`` when the experiment sets one and ``WANDB_MODE`` does not; else W&B decides (env, online)."""
    return {"mode": mode} if mode and not os.environ.get("WANDB_MODE") else {}


def wandb_logger(exp: Experiment, stage: Stage, resume: bool = False) -> dict[str, Any]:
    """The WandbLogger a stage gets when the experiment enables W&B (group = experiment, job_type = stage)."""
    assert exp.wandb is not None
    m = exp.method(stage.method) if stage.method else None
    ratio = method_ratio(m) if m else None
    tags = [f"seed{stage.seed}", stage.job_type, *([stage.method] if stage.method else []), *exp.wandb.tags]
    if ratio is not None:
        tags.append(f"ratio{ratio:g}")
    init: dict[str, Any] = {
        **exp.wandb.options,
        "project": exp.wandb.project,
        "group": exp.name,
        "job_type": stage.job_type,
        "name": f"{exp.name}/{stage.key}",
        "id": run_id(exp, stage.key),
        "save_dir": str(stage.dir),
        "tags": tags,
        "config": {
            "seed": stage.seed,
            "method": stage.method,
            "ratio": ratio,
            "stage": stage.key,
            "experiment": exp.name,
        },
        **wandb_mode(exp.wandb.mode),
        "resume": "allow",
    }
    if exp.wandb.entity:
        init["entity"] = exp.wandb.entity
    return {"class_path": "lightning.pytorch.loggers.WandbLogger", "init_args": init}


def stage_logger(exp: Experiment, stage: Stage) -> dict[str, Any]:
    """The ``--trainer.logger`` of a stage's fit: its WandbLogger, else CSV metrics in the stage directory."""
    if exp.wandb is not None:
        return wandb_logger(exp, stage)
    # Plain CSV metrics in the stage directory itself (config.yaml lands beside them).
    return {
        "class_path": "pruning_lightning.training.loggers.StageCSVLogger",
        "init_args": {"save_dir": str(stage.dir)},
    }
