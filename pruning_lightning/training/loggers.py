"""``StageCSVLogger``: ``metrics.csv`` in the stage folder, continued (not replaced) on resume.

Lightning's ``CSVLogger`` deletes an existing ``metrics.csv`` when it starts, so a resumed fit lost
every epoch logged before the interruption. This logger keeps the file; when a fit starts at epoch
``e`` (0 for a new run, the checkpoint's next epoch on resume), rows of epochs ``>= e`` are dropped
(they belong to the interrupted epoch and are logged again), so every epoch appears exactly once.

Accuracy columns are percent; old fraction files are converted (:mod:`pruning_lightning.core.units`).
"""

from __future__ import annotations

import csv
import os
from typing import Any

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.utilities import rank_zero_only

from pruning_lightning.core.units import LR_KEY, fraction_header, read_metrics


class _ContinuedWriter(ExperimentWriter):
    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as f:
                self.metrics_keys = sorted(csv.DictReader(f).fieldnames or [])

    def _check_log_dir_exists(self) -> None:  # keep metrics.csv: continue_at() decides what survives
        pass

    def continue_at(self, epoch: int) -> None:
        self.save()
        if not os.path.isfile(self.metrics_file_path):
            return
        rows = [r for r in read_metrics(self.metrics_file_path) if r.get("epoch") not in (None, "")]
        rows = [r for r in rows if float(r["epoch"]) < epoch]
        if fraction_header(self.metrics_keys):  # an old run resumed: its kept rows are now percent, and say so
            self.metrics_keys.append(LR_KEY)
        # Lightning's writer sorts its keys before every append and rewrites the file only for a new key: the
        # header must already be sorted, or rows appended after a resume land in the wrong columns.
        self.metrics_keys.sort()
        if not rows:
            os.remove(self.metrics_file_path)
            self.metrics_keys = []
            return
        with open(self.metrics_file_path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.metrics_keys)
            writer.writeheader()
            writer.writerows(rows)


class StageCSVLogger(CSVLogger):
    """CSV metrics written to ``save_dir`` itself (no ``name/version`` sub-folders by default)."""

    def __init__(self, save_dir: str, name: str = "", version: int | str | None = "", **kwargs: Any) -> None:
        super().__init__(save_dir, name=name, version=version, **kwargs)

    @property
    def experiment(self) -> _ContinuedWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ContinuedWriter(log_dir=self.log_dir)
        return self._experiment  # type: ignore[return-value]

    @rank_zero_only
    def continue_at(self, epoch: int) -> None:
        """Drop rows of epochs ``>= epoch`` (a fit starting or resuming at ``epoch``)."""
        self.experiment.continue_at(epoch)
