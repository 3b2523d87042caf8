"""One planned unit of work of an experiment (its folder: :class:`~pruning_lightning.formats.run_dir.StageDir`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pruning_lightning.formats.run_dir import StageDir


@dataclass
class Stage:
    """One unit of work; ``kind`` is ``fit``, ``zoo``, ``prune``, ``preset`` or ``guided``."""

    key: str
    kind: str
    seed: int
    method: str | None
    job_type: str
    dir: Path
    deps: tuple[str, ...] = ()
    args: list[str] = field(default_factory=list)
    devices: int = 1
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def folder(self) -> StageDir:
        """Where the stage writes (its checkpoints, ``config.yaml``, ``metrics.csv``, ``result.json``)."""
        return StageDir(self.dir)

    @property
    def ckpt(self) -> Path:
        return self.folder.last_ckpt

    @property
    def marker(self) -> Path:
        return self.folder.result

    @property
    def outputs(self) -> list[Path]:
        """The files a finished stage has: its checkpoint (fit, zoo) or its artifact (prune, preset, guided)."""
        if self.kind in ("fit", "zoo"):
            return [self.ckpt]
        return [self.dir / n for n in ("arch.yaml", "stats.yaml", *(["pruned.pt"] if self.kind == "prune" else []))]

    def done(self) -> bool:
        """Finished: ``result.json`` parses (a mapping) and the stage's :attr:`outputs` exist."""
        return self.marker_problem() is None

    def marker_problem(self) -> str | None:
        """Why the stage does not count as finished (None: it does)."""
        return self.folder.result_problem(self.outputs)
