"""What a fit prints: the epoch bar with the total (``Epoch 3/160``) and a model summary with our FLOPs.

Epochs the user sees are 1-based (``Epoch 1/160`` is the first); only Lightning's ``epoch`` column of
``metrics.csv`` / W&B keeps its 0-based index. :class:`EpochLR` logs each epoch's learning rate as ``train/lr``.

Lightning's own summary counts FLOPs only with an ``example_input_array`` and printed "0 Total Flops"
for every model; ours drops that column and prints the paper-convention FLOPs per image
(:func:`pruning_lightning.utils.flops.count_complexity`, as ``pruning-lightning info`` does).
"""

from __future__ import annotations

import logging
from typing import Any

from lightning.pytorch.callbacks import LearningRateMonitor, ModelSummary, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import convert_inf
from lightning.pytorch.utilities.model_summary.model_summary import _format_summary_table

from pruning_lightning.core.units import LR_KEY
from pruning_lightning.models import input_size
from pruning_lightning.utils.flops import count_complexity
from pruning_lightning.utils.table import human

log = logging.getLogger("lightning.pytorch.callbacks.model_summary")


class EpochBar(TQDMProgressBar):
    """:class:`TQDMProgressBar` whose description counts epochs from 1 and shows ``max_epochs``."""

    def on_train_epoch_start(self, trainer: Any, *args: Any) -> None:
        # Lightning's own version first draws its 0-based "Epoch 0:"; this one draws only "Epoch 1/E".
        if self._leave:
            self.train_progress_bar = self.init_train_tqdm()
        bar = self.train_progress_bar
        total = trainer.max_epochs
        desc = f"Epoch {trainer.current_epoch + 1}" + (f"/{total}" if total is not None and total > 0 else "")
        bar.set_description(desc, refresh=False)
        bar.reset(total=convert_inf(self.total_train_batches))
        bar.initial = 0


class EpochLR(LearningRateMonitor):
    """Lightning's LearningRateMonitor, once per epoch, as ``train/lr`` with its ``epoch`` (kept on resume)."""

    def __init__(self) -> None:
        super().__init__(logging_interval="epoch")

    def _extract_stats(self, trainer: Any, interval: str) -> dict[str, float]:
        stats = super()._extract_stats(trainer, interval)
        if not stats:
            return stats
        out = {LR_KEY: next(iter(stats.values()))} if len(stats) == 1 else {f"train/{k}": v for k, v in stats.items()}
        return {**out, "epoch": trainer.current_epoch}


class StageSummary(ModelSummary):
    """Lightning's layer table without its FLOPs column; the network's FLOPs per image below it."""

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if not self._max_depth or not trainer.is_global_zero:
            return
        s = self._summary(trainer, pl_module)
        data = [c for c in s._get_summary_data() if c[0] != "FLOPs"]
        table = _format_summary_table(s.total_parameters, s.trainable_parameters, s.model_size,
                                      s.total_training_modes, 0, *data)  # fmt: skip
        lines = table.splitlines()[:-1]  # drop Lightning's "0 Total Flops"
        if getattr(pl_module, "arch", None) is not None and hasattr(pl_module, "net"):
            c = count_complexity(pl_module.net, input_size(pl_module.arch))
            lines.append(f"{human(c.flops):<10}FLOPs per image (paper convention; `pruning-lightning info` for more)")
        log.info("\n" + "\n".join(lines))


def use_console_defaults(trainer: Any) -> None:
    """Make :class:`EpochBar`, :class:`StageSummary` and :class:`EpochLR` the defaults (configured ones are kept)."""
    # Always (a configured LearningRateMonitor too): its train/lr column marks a metrics.csv in percent (core/units.py).
    if trainer.loggers and not any(isinstance(cb, EpochLR) for cb in trainer.callbacks):
        trainer.callbacks.append(EpochLR())
    for i, cb in enumerate(trainer.callbacks):
        if type(cb) is TQDMProgressBar:
            trainer.callbacks[i] = EpochBar(refresh_rate=cb.refresh_rate, leave=cb._leave)
        elif type(cb) is ModelSummary:
            trainer.callbacks[i] = StageSummary(max_depth=cb._max_depth, **cb._summarize_kwargs)


def fit_summary(trainer: Any, model: Any) -> str:
    """The line a finished ``fit`` ends with: epochs, final and best validation top-1 (1-based epochs), checkpoints."""
    done = trainer.fit_loop.epoch_progress.current.completed
    parts = [f"[fit] finished {done} epoch(s)"]
    last = trainer.callback_metrics.get("val/acc1")
    if last is not None:
        parts.append(f"final val top-1 {float(last):.2f} % (epoch {done})")
    best_epoch = getattr(model, "best_val_epoch", None)
    if best_epoch is not None:
        parts.append(f"best {float(model.best_val_acc1):.2f} % (epoch {best_epoch})")
    ck = trainer.checkpoint_callback
    where = f"; checkpoints: {ck.dirpath}/{{last,best}}.ckpt" if ck is not None and ck.dirpath else ""
    return ", ".join(parts) + where
