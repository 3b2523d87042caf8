"""Checkpointed RNG state, so a resumed stage continues exactly as an uninterrupted one would.

Lightning restores model, optimizer, schedulers and loop counters from ``last.ckpt`` but not the
global RNGs. Data order and augmentation do not depend on them (``data/sampling.py``), but model
randomness does (dropout in the ImageNet VGG head). Every ``ClassificationModule`` attaches this
callback (``configure_callbacks``), so manual and pipeline runs resume alike.
"""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch


class RestoreRNG(L.Callback):
    """Save python/numpy/torch RNG states in checkpoints; re-apply them when the next epoch starts."""

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "python": random.getstate(),
            # Plain lists and tensors only: checkpoints must load with torch.load(weights_only=True).
            "numpy": [v.tolist() if isinstance(v, np.ndarray) else v for v in np.random.get_state()],
            "torch": torch.get_rng_state(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # After restore and the sanity check, before the epoch's loader draws its shuffle seed.
        if self._pending is None:
            return
        random.setstate(self._pending["python"])
        name, keys, pos, has_gauss, cached = self._pending["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
        torch.set_rng_state(self._pending["torch"])
        self._pending = None
