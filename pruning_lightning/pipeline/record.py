"""The run folder's record, ``RUN_DIR/experiment.json``: which experiment the folder belongs to.

The identity of an experiment is its content (:meth:`Experiment.digest`), not where the folder or the file
lives; report-only keys (comparisons, description, ...) are refreshed when a re-run brings new ones.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pruning_lightning.core.errors import PruningError
from pruning_lightning.pipeline.schema import Experiment


def check_run_dir(exp: Experiment) -> None:
    """Record the experiment's hash in its run directory; refuse a different experiment there."""
    root = exp.root
    rec = root / "experiment.json"
    if rec.is_file():
        try:
            old = json.loads(rec.read_text())
        except json.JSONDecodeError:
            raise PruningError(f"{rec} is corrupt; restore it or choose another run_dir") from None
        if not exp.same_as(old):  # content, not location: a moved run folder is still this experiment
            old = old if isinstance(old, dict) else {}
            raise PruningError(
                f"run directory {root} belongs to experiment {old.get('name')!r} (hash {old.get('digest')}), "
                f"not {exp.name!r} (hash {exp.digest()}); set another run_dir or delete {root}"
            )
    record = {"name": exp.name, "digest": exp.digest(), "source": exp.source, "experiment": exp.to_dict()}
    if rec.is_file() and _content(json.loads(rec.read_text())) == _content(json.loads(json.dumps(record, default=str))):
        return  # unchanged (where it lives aside): a re-run leaves the folder as it was
    # Rewritten for the same experiment too when report-only keys (comparisons, description, ...) changed.
    root.mkdir(parents=True, exist_ok=True)
    write_json(rec, record)


def _content(record: Any) -> Any:
    """A record without where the run folder and the experiment file live."""
    if isinstance(record, dict) and isinstance(record.get("experiment"), dict):
        return {**record, "source": None, "experiment": {**record["experiment"], "run_dir": None}}
    return record


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic write: a marker is either complete or absent."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)
