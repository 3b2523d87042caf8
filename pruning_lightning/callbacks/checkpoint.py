"""Stage checkpoints: ``last.ckpt`` is always the latest state, ``best.ckpt`` the best monitored one.

Lightning's ``ModelCheckpoint(save_last=True, monitor=...)`` rewrites ``last.ckpt`` only when the
monitored metric improves (or a top-k file is written at that step), so ``last.ckpt`` can hold an
early, validation-selected state. :class:`StageCheckpoint` writes it at every save opportunity
(end of each validation or training epoch, and every ``every_n_train_steps`` when step
checkpointing is on), so the file name means what it says. Files are written atomically by
Lightning (a kill while saving leaves the previous file intact).
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint


class StageCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``last.ckpt`` always follows the newest state (same arguments)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_written_step: int | None = None

    def _save_last_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict[str, Any]) -> None:
        super()._save_last_checkpoint(trainer, monitor_candidates)
        if self.save_last:
            self._last_written_step = trainer.global_step

    def _refresh_last(self, trainer: L.Trainer) -> None:
        if (
            self.save_last
            and not trainer.fast_dev_run  # type: ignore[attr-defined]  # set at runtime by Lightning (trainer/setup.py)
            and not trainer.sanity_checking
            and trainer.state.fn == "fit"
            and self._last_written_step != trainer.global_step
        ):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)
