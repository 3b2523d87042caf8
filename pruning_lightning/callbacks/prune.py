"""Prune at the end of a large run (the same code path as ``pruning-lightning prune``)."""

from __future__ import annotations

import lightning as L

from pruning_lightning.formats.artifact import write_artifact
from pruning_lightning.pruning.base import Pruner, prune


class PruneAtEnd(L.Callback):
    """After ``fit`` finishes, prune the trained network and write the artifact directory.

    Args:
        pruner: configured method.
        out: artifact directory (must not exist unless ``overwrite``).
        max_ratio: Scratch-B cap (ImageNet: 2.0); the base epochs are the run's ``max_epochs``.
        overwrite: replace an existing artifact directory.
    """

    def __init__(self, pruner: Pruner, out: str, max_ratio: float | None = None, overwrite: bool = False) -> None:
        self.pruner, self.out, self.max_ratio, self.overwrite = pruner, out, max_ratio, overwrite

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        data = trainer.datamodule.train_dataloader() if self.pruner.needs_data else None  # type: ignore[attr-defined]
        art = prune(pl_module.net, pl_module.arch, self.pruner, data, trainer.max_epochs, self.max_ratio)  # type: ignore[arg-type]
        write_artifact(art, self.out, overwrite=self.overwrite)
