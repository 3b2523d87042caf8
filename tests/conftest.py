"""Shared fixtures: tiny trainer settings, W&B off, one intra-op thread, fixed seeds.

Shared constants and helper functions live in :mod:`tests.helpers` (imported, not fixtures)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import lightning as L
import pytest
import torch

os.environ.setdefault("WANDB_MODE", "disabled")
# Tiny nets on a shared 2-core machine: one thread is 10-20x faster than two fighting OpenMP threads.
torch.set_num_threads(1)
warnings.filterwarnings("ignore", message=".*LeafSpec.*")


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    wdir = tmp_path_factory.mktemp("wandb")
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR"):
        monkeypatch.setenv(var, str(wdir))
    L.seed_everything(0, verbose=False)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One intra-op thread for every test, restored afterwards (a test may change it).

    Tiny nets on a shared 2-core machine: two OpenMP threads only spin, 10-20x the CPU time of one."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def trainer_args(tmp_path) -> list[str]:  # noqa: ANN001
    """LightningCLI flags for a tiny CPU run."""
    return [
        "--trainer.accelerator",
        "cpu",
        "--trainer.devices",
        "1",
        "--trainer.limit_train_batches",
        "2",
        "--trainer.limit_val_batches",
        "1",
        "--trainer.limit_test_batches",
        "1",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
        "--trainer.logger",
        "false",
        "--trainer.default_root_dir",
        str(tmp_path / "run"),
    ]
