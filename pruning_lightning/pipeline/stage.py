"""One planned unit of work of an experiment (see :mod:`~pruning_lightning.pipeline.plan` for the layout)."""

from __future__ import annotations

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

    def done(self) -> bool:
        return self.marker.is_file()
