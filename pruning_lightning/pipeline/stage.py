"""One planned unit of work of an experiment (see :mod:`~pruning_lightning.pipeline.plan` for the layout)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Stage:
    """One unit of work; ``kind`` is ``fit``, ``prune``, ``preset`` or ``guided``."""

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
    def ckpt(self) -> Path:
        return self.dir / "checkpoints" / "last.ckpt"

    @property
    def marker(self) -> Path:
        return self.dir / "result.json"

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
        try:
            rec = json.loads(self.marker.read_text())
        except FileNotFoundError:
            return "no result.json"
        except (OSError, ValueError) as e:
            return f"{self.marker} is corrupt ({type(e).__name__})"
        if not isinstance(rec, dict):
            return f"{self.marker} is corrupt (not a mapping)"
        missing = [p.name for p in self.outputs if not p.is_file()]
        return f"{self.marker} names a finished stage but {missing} are missing" if missing else None
