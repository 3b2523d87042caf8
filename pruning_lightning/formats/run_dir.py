"""The run folder and its stage folders: the one owner of where a stage writes and of the run's record.

A :class:`RunDir` is an experiment's ``run_dir``::

    experiment.json              the record: which experiment the folder belongs to (RunDir.check)
    seed{s}/large/               the large model: fit + test (or a model-zoo import + test)
    seed{s}/<method>/large/      a method's own large model (methods giving the same `large` share the first's)
    seed{s}/<method>/prune/      the artifact (pruned.pt, arch.yaml, stats.yaml, scratch_b.yaml) + result.json
    seed{s}/<method>/<regime>/   fit + test of each downstream regime
    report/                      `pruning-lightning report`

A :class:`StageDir` is one stage's folder: ``checkpoints/{last,best}.ckpt``, ``config.yaml``, ``metrics.csv``
and ``result.json``, the only "finished" marker (written after fit *and* test, or after the artifact).

How a folder comes to hold its outputs:

* **rename on success**, for outputs made in one step: prune and arch artifacts (``write_artifact``), the
  ``export`` and ``report`` folders are written into a hidden sibling (``.NAME.XXXXXXXX``) by
  :func:`fresh_folder` and renamed when complete; a zoo import writes its checkpoint to a temporary file that
  ``os.replace`` puts in place (:func:`fresh_file`). A failure leaves no folder behind, nor a parent folder it
  created.
* **resume in place**, for ``fit`` stages: a fit runs for hours and resumes exactly (data order, RNG,
  ``metrics.csv`` continued) from ``checkpoints/last.ckpt`` after a crash, so it trains in its final folder
  (moving it would change the paths its checkpoints, ``config.yaml`` and loggers record). What keeps that safe:
  ``result.json`` is written last and atomically (:meth:`StageDir.write_result`: a temporary file, then
  ``os.replace``), so a stage is finished or not, never half; a fit that fails before its first checkpoint is
  undone (``training/cli_guard.OutputGuard``); a new fit into a folder holding another run's checkpoints is
  refused (``cli/resume.check_fresh_folder``), a resume whose configuration differs from its checkpoint's is
  refused (``check_against_checkpoint``), and a run folder recording another experiment is refused
  (:meth:`RunDir.check`).

Nothing here imports torch or Lightning: ``pipeline --dry-run`` and ``report`` use it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.fresh import write_json

RECORD = "experiment.json"
RESULT = "result.json"
# What a started stage leaves: work worth keeping (a rollback or a release never removes a folder holding it).
PRODUCED = (RESULT, "*.ckpt", "pruned.pt", "init.pt")


class Experiment(Protocol):
    """What the record needs of an experiment (``pipeline/schema.Experiment``)."""

    @property
    def name(self) -> str: ...

    @property
    def source(self) -> str: ...

    def digest(self, run_dir: str | None = None) -> str: ...

    def same_as(self, record: Any) -> bool: ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class StageDir:
    """One stage's folder (see the module docstring)."""

    path: Path

    # Files a failed fit's rollback restores (config.yaml, the CSV logger's hparams.yaml and metrics.csv).
    RESTORED = ("config.yaml", "hparams.yaml", "metrics.csv")

    @classmethod
    def of_checkpoint(cls, ckpt: str | Path) -> StageDir:
        """The stage folder a checkpoint belongs to (``X/checkpoints/last.ckpt`` -> ``X``)."""
        parent = Path(str(ckpt)).resolve().parent
        return cls(parent.parent if parent.name == "checkpoints" else parent)

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def last_ckpt(self) -> Path:
        return self.checkpoints / "last.ckpt"

    @property
    def best_ckpt(self) -> Path:
        return self.checkpoints / "best.ckpt"

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def result(self) -> Path:
        return self.path / RESULT

    def checkpoint_files(self) -> dict[Path, float]:
        """Every ``*.ckpt`` in the folder or its ``checkpoints/``, with its modification time."""
        found = {}
        for sub in (self.path, self.checkpoints):
            if sub.is_dir():
                found.update({p: p.stat().st_mtime for p in sub.glob("*.ckpt")})
        return found

    def resumable(self) -> bool:
        """Whether an interrupted fit left ``last.ckpt`` to resume from."""
        return self.last_ckpt.is_file()

    def result_problem(self, outputs: list[Path]) -> str | None:
        """Why the stage does not count as finished (None: ``result.json`` parses and ``outputs`` exist)."""
        try:
            rec = json.loads(self.result.read_text())
        except FileNotFoundError:
            return "no result.json"
        except (OSError, ValueError) as e:
            return f"{self.result} is corrupt ({type(e).__name__})"
        if not isinstance(rec, dict):
            return f"{self.result} is corrupt (not a mapping)"
        missing = [p.name for p in outputs if not p.is_file()]
        return f"{self.result} names a finished stage but {missing} are missing" if missing else None

    def write_result(self, result: dict[str, Any]) -> None:
        """The finished marker, atomically: a reader sees the whole ``result.json`` or none."""
        write_json(self.result, result)

    def clear_partial(self) -> None:
        """Remove hidden siblings a kill left while this folder was written by :func:`fresh_folder`."""
        for tmp in self.path.parent.glob(f".{self.path.name}.*"):
            shutil.rmtree(tmp, ignore_errors=True)


@dataclass(frozen=True)
class RunDir:
    """An experiment's run folder: the layout of its stage folders and its ``experiment.json`` record."""

    root: Path

    @property
    def record(self) -> Path:
        return self.root / RECORD

    @property
    def report(self) -> Path:
        return self.root / "report"

    def seed(self, seed: int) -> Path:
        return self.root / f"seed{seed}"

    def stage(self, seed: int, method: str | None, name: str) -> StageDir:
        """``seed{seed}/<name>`` (the shared large model) or ``seed{seed}/<method>/<name>``."""
        return StageDir(self.seed(seed) / method / name if method else self.seed(seed) / name)

    def results(self) -> list[Path]:
        """Every stage's ``result.json``, in path order."""
        return sorted(self.root.glob(f"seed*/**/{RESULT}"))

    def started(self) -> bool:
        """Whether any stage produced something (a result, checkpoint or artifact)."""
        return any(next(self.root.glob(f"**/{p}"), None) is not None for p in PRODUCED)

    def read_record(self) -> dict[str, Any]:
        """The record (``report``, ``findings``); a folder without one is no pipeline run."""
        if not self.record.is_file():
            raise PruningError(
                f"{self.root} is not a pipeline run directory (no {RECORD}); run `pruning-lightning pipeline` first"
            )
        return json.loads(self.record.read_text())

    def check_record(self) -> None:
        """A record that exists parses and holds what ``report`` reads (a missing one: :meth:`read_record`)."""
        f = self.record
        if not f.is_file():
            return
        try:
            doc = json.loads(f.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise PruningError(f"{f} is corrupt ({type(e).__name__}); restore it or re-run the pipeline") from None
        if not isinstance(doc, dict) or "experiment" not in doc or not isinstance(doc.get("experiment"), dict):
            raise PruningError(f"{f} is not a pipeline record (expected keys ['experiment']); restore or delete it")
        if not {"name", "methods", "regimes"} <= set(doc["experiment"]):
            raise PruningError(f"{f} lacks the experiment's name/methods/regimes; restore it or re-run the pipeline")

    def holds(self, exp: Experiment) -> bool | None:
        """None: no record; True: the record is ``exp``; False: another experiment (or an unreadable record)."""
        if not self.record.is_file():
            return None
        try:
            old = json.loads(self.record.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False
        return exp.same_as(old)

    def check(self, exp: Experiment) -> None:
        """Record ``exp`` here; refuse a folder that records a different experiment."""
        rec = self.record
        if rec.is_file():
            try:
                old = json.loads(rec.read_text())
            except json.JSONDecodeError:
                raise PruningError(f"{rec} is corrupt; restore it or choose another run_dir") from None
            if not exp.same_as(old):  # content, not location: a moved run folder is still this experiment
                old = old if isinstance(old, dict) else {}
                raise PruningError(
                    f"run directory {self.root} belongs to experiment {old.get('name')!r} (hash "
                    f"{old.get('digest')}), not {exp.name!r} (hash {exp.digest()}); set another run_dir or delete "
                    f"{self.root}"
                )
        record = {"name": exp.name, "digest": exp.digest(), "source": exp.source, "experiment": exp.to_dict()}
        new = _content(json.loads(json.dumps(record, default=str)))
        if rec.is_file() and _content(json.loads(rec.read_text())) == new:
            return  # unchanged (where it lives aside): a re-run leaves the folder as it was
        # Rewritten for the same experiment too when report-only keys (comparisons, description, ...) changed.
        self.root.mkdir(parents=True, exist_ok=True)
        write_json(rec, record)

    def release_unstarted(self, exp: Experiment) -> bool:
        """Forget another experiment's record where no stage has produced anything; True when it was released."""
        if self.holds(exp) is not False or self.started():
            return False  # no record, this experiment's, or work was done there (then check() refuses it)
        self.record.unlink()
        return True


def _content(record: Any) -> Any:
    """A record without where the run folder and the experiment file live."""
    if isinstance(record, dict) and isinstance(record.get("experiment"), dict):
        return {**record, "source": None, "experiment": {**record["experiment"], "run_dir": None}}
    return record
