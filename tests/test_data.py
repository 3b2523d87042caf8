"""DataModules: the bundled CIFAR-10 subset, class-balanced subsets, digits, synthetic, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pruning_lightning.core.errors import PruningError
from pruning_lightning.data import CIFARDataModule, DigitsDataModule, RandomImageDataModule
from pruning_lightning.data.cifar import balanced_indices
from pruning_lightning.data.transforms import MEAN_STD

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.skipif(not (SHARED / "cifar-10-batches-py").is_dir(), reason="../shared/data (CIFAR-10 subset) absent")
def test_real_cifar10_subset() -> None:
    dm = CIFARDataModule(
        "cifar10",
        data_dir=str(SHARED),
        download=False,
        verify_checksums=False,
        num_workers=0,
        batch_size=64,
        eval_batch_size=100,
        subset=1000,
    )
    assert dm.num_classes == 10
    dm.setup("fit")
    assert len(dm.train_set) == 1000 and len(dm.test_set) == 2000
    labels = torch.tensor([dm.train_set.dataset.targets[i] for i in dm.train_set.indices])
    assert torch.bincount(labels, minlength=10).tolist() == [100] * 10
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (64, 3, 32, 32) and x.dtype == torch.float32
    # Normalised with the paper's constants: the test split's per-channel mean is near 0.
    xe, _ = next(iter(dm.test_dataloader()))
    assert xe.mean(dim=(0, 2, 3)).abs().max() < 0.3
    # Eval loaders never shuffle.
    first = [next(iter(dm.val_dataloader()))[1] for _ in range(2)]
    assert torch.equal(first[0], first[1])
    assert dm.val_set is dm.test_set  # the paper validates on the test split


@pytest.mark.skipif(not (SHARED / "cifar-10-batches-py").is_dir(), reason="../shared/data (CIFAR-10 subset) absent")
def test_checksums_are_checked_by_default() -> None:
    dm = CIFARDataModule("cifar10", data_dir=str(SHARED), download=False, num_workers=0)
    with pytest.raises(PruningError, match="verify_checksums false"):
        dm.setup("fit")


def test_held_out_split_is_disjoint() -> None:
    targets = [i % 10 for i in range(500)]
    idx = balanced_indices(targets, 200, 10, seed=0)
    assert len(idx) == 200 and len(set(idx)) == 200
    assert torch.bincount(torch.tensor([targets[i] for i in idx])).tolist() == [20] * 10
    with pytest.raises(PruningError, match="fewer than one image per class"):
        balanced_indices(targets, 5, 10, seed=0)


def test_missing_data_dir_without_download(tmp_path: Path) -> None:
    dm = CIFARDataModule("cifar100", data_dir=str(tmp_path / "nothing"), download=False)
    assert dm.num_classes == 100
    with pytest.raises(PruningError, match="not found.*download is off"):
        dm.prepare_data()


def test_cifar100_uses_reference_constants() -> None:
    assert MEAN_STD["cifar100"] == MEAN_STD["cifar10"] == ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))


def test_digits_is_real_and_fixed() -> None:
    dm = DigitsDataModule(batch_size=32)
    dm.setup()
    assert len(dm.train_set) + len(dm.test_set) == 1797
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (32, 3, 32, 32) and y.max() < 10
    again = DigitsDataModule()
    again.setup()
    assert torch.equal(again.test_set.labels, dm.test_set.labels)


def test_synthetic_shapes() -> None:
    dm = RandomImageDataModule(num_classes=4, num_samples=20, image_size=16, batch_size=8)
    dm.setup()
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 3, 16, 16) and int(y.max()) < 4


@pytest.mark.skipif(not (SHARED / "cifar-10-batches-py").is_dir(), reason="../shared/data (CIFAR-10 subset) absent")
def test_val_split_fragment_holds_out_training_images() -> None:
    import yaml

    from pruning_lightning.cli.lightning_cli import cli_main

    cfgs = Path(__file__).resolve().parents[1] / "configs"
    cli = cli_main(
        ["-c", str(cfgs / "data/cifar10_shared.yaml"), "-c", str(cfgs / "data/val_split.yaml"), "-c",
         str(cfgs / "demo/arch.yaml"), "-c", str(cfgs / "regime/large.yaml"), "--data.init_args.data_dir", str(SHARED)],
        run=False,
    )  # fmt: skip
    dm = cli.datamodule
    dm.setup("fit")
    assert dm.hparams.val_source == "split" and len(dm.val_set) == 5000 and len(dm.train_set) == 5000
    assert set(dm.val_set.indices).isdisjoint(dm.train_set.indices) and dm.val_set is not dm.test_set
    assert yaml.safe_load((cfgs / "data/val_split.yaml").read_text())["data"]["init_args"]["val_size"] == 5000
