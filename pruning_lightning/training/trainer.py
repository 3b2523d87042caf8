"""``StageTrainer``: Lightning's Trainer whose ``limit_*_batches`` read an integer as a number of batches.

Lightning annotates them ``float | int | None``; jsonargparse tries the types in that order, so
``--trainer.limit_val_batches 1`` (or ``limit_val_batches: 1`` in a YAML file) became ``1.0`` = 100 % of
the batches, and ``2`` became ``2.0``, an error. Here the annotation is ``int | float | None``: ``1`` is one
batch, ``1.0`` all of them, ``0.25`` a quarter, as Lightning's documentation says.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Trainer


class StageTrainer(Trainer):
    """:class:`lightning.pytorch.Trainer` with integer-first ``limit_*_batches`` (nothing else differs)."""

    def __init__(
        self,
        *args: Any,
        limit_train_batches: int | float | None = None,
        limit_val_batches: int | float | None = None,
        limit_test_batches: int | float | None = None,
        limit_predict_batches: int | float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            *args,
            limit_train_batches=limit_train_batches,
            limit_val_batches=limit_val_batches,
            limit_test_batches=limit_test_batches,
            limit_predict_batches=limit_predict_batches,
            **kwargs,
        )
