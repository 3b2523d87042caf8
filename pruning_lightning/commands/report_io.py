"""What ``report`` checks before it reads a run folder, and its ``--replay_lineage`` action."""

from __future__ import annotations

import json
from pathlib import Path

from pruning_lightning.core.errors import PruningError


def check_run_dir(run_dir: Path) -> None:
    """A readable run folder: experiment.json and every result.json parse and hold what the report reads."""
    if not run_dir.is_dir():
        raise PruningError(f"run folder not found: {run_dir} (give the run_dir of a `pruning-lightning pipeline` run)")
    files = [run_dir / "experiment.json", *sorted(run_dir.glob("seed*/**/result.json"))]
    for f in files:
        if not f.is_file():
            continue  # results.load_record names a missing experiment.json
        try:
            doc = json.loads(f.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            what = "restore it or re-run the pipeline" if f == files[0] else "delete its stage folder and re-run it"
            raise PruningError(f"{f} is corrupt ({type(e).__name__}); {what}") from None
        need = ("experiment",) if f == files[0] else ("job_type", "seed", "method")
        inner = doc.get("experiment") if isinstance(doc, dict) and f == files[0] else {"name": 1, "methods": []}
        if not isinstance(doc, dict) or any(k not in doc for k in need) or not isinstance(inner, dict):
            raise PruningError(f"{f} is not a pipeline record (expected keys {list(need)}); restore or delete it")
        if f == files[0] and not {"name", "methods", "regimes"} <= set(inner):
            raise PruningError(f"{f} lacks the experiment's name/methods/regimes; restore it or re-run the pipeline")


def replay_lineage(run_dir: Path, entity: str | None) -> None:
    """``report RUN_DIR --replay_lineage``: :func:`~pruning_lightning.pipeline.lineage.replay` of the run folder."""
    from pruning_lightning.pipeline.lineage import replay

    path = run_dir / "wandb_lineage.jsonl"
    if not path.is_file():
        raise PruningError(f"{path} not found: only an offline W&B study records its lineage (WANDB_MODE=offline)")
    print(f"report: declared {replay(path, entity)} artifact use(s) online from {path}")
