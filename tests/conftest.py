"""Shared fixtures: tiny architectures, tiny trainer settings, W&B off, fixed seeds."""

from __future__ import annotations

import os
import warnings

import lightning as L
import pytest
import torch

from pruning_lightning.models.spec import ArchSpec

os.environ.setdefault("WANDB_MODE", "disabled")
# Tiny nets on a shared 2-core machine: one thread is 10-20x faster than two fighting OpenMP threads.
torch.set_num_threads(1)
warnings.filterwarnings("ignore", message=".*LeafSpec.*")

# One small spec per family (torchvision's `_model_params` idea): fast enough for every test.
TINY_VGG = ArchSpec("vgg", 11, 10, cfg=[8, "M", 16, "M", 16, 16, "M", 32, 32, "M", 32, 32])
TINY_VGG_L1 = TINY_VGG.replace(variant="l1")
TINY_ARCHS = [TINY_VGG, TINY_VGG_L1]

# A tiny network of every family, with the image size it is tested at.
TINY_FAMILIES: dict[str, tuple[ArchSpec, int]] = {
    "vgg": (TINY_VGG, 32),
    "resnet_cifar": (ArchSpec("resnet_cifar", 8, options={"block_scale": True}), 32),
    "preresnet": (ArchSpec("preresnet", 11), 32),
    "densenet": (ArchSpec("densenet", 7), 32),
    "vgg_imagenet": (
        ArchSpec("vgg_imagenet", 11, variant="slimming", cfg=[4, "M", 4, "M", 8, 8, "M", 8, 8, "M", 8, 8, "M", 16, 16]),
        64,
    ),
    "resnet_imagenet": (ArchSpec("resnet_imagenet", 50, options={"base_width": 4, "block_scale": True}), 64),
}


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    wdir = tmp_path_factory.mktemp("wandb")
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR"):
        monkeypatch.setenv(var, str(wdir))
    L.seed_everything(0, verbose=False)


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
