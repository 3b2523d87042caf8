"""What ``report`` checks before it reads a run folder, and its ``--replay_lineage`` action."""

from __future__ import annotations

import json
from pathlib import Path

from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.run_dir import RunDir


def check_run_dir(run_dir: Path) -> None:
    """A readable run folder: its record (:meth:`RunDir.check_record`) and every result.json parse and hold what
    the report reads."""
    if not run_dir.is_dir():
        raise PruningError(f"run folder not found: {run_dir} (give the run_dir of a `pruning-lightning pipeline` run)")
    run = RunDir(run_dir)
    run.check_record()  # a missing one is named by RunDir.read_record
    for f in run.results():
        try:
            doc = json.loads(f.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise PruningError(f"{f} is corrupt ({type(e).__name__}); delete its stage folder and re-run it") from None
        need = ("job_type", "seed", "method")
        if not isinstance(doc, dict) or any(k not in doc for k in need):
            raise PruningError(f"{f} is not a pipeline record (expected keys {list(need)}); restore or delete it")


def replay_lineage(run_dir: Path, entity: str | None) -> None:
    """``report RUN_DIR --replay_lineage``: :func:`~pruning_lightning.pipeline.lineage.replay` of the run folder."""
    from pruning_lightning.pipeline.lineage import replay

    path = run_dir / "wandb_lineage.jsonl"
    if not path.is_file():
        raise PruningError(f"{path} not found: only an offline W&B study records its lineage (WANDB_MODE=offline)")
    print(f"report: declared {replay(path, entity)} artifact use(s) online from {path}")
