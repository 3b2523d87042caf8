"""CIFAR-10 / CIFAR-100 on torchvision's datasets with the paper's recipe (docs/protocol.md §1).

Validation uses the official test split by default, as the reference code does (it also picks
"best" epochs on it); ``val_source="split"`` holds out part of the training set instead.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision import datasets
from torchvision.datasets.utils import check_integrity

from pruning_lightning.core.errors import PruningError
from pruning_lightning.data.device_loader import DeviceCIFARLoader, uint8_images
from pruning_lightning.data.safe_pickle import load_batch
from pruning_lightning.data.sampling import datamodule_loader, per_device_batch, starting_epoch
from pruning_lightning.data.transforms import MEAN_STD, cifar_eval_transform, cifar_train_transform


class _PlainDataCIFAR:
    """Reads the batch files with :func:`load_batch` (no code runs from a data file) instead of ``pickle.load``."""

    # Provided by the torchvision CIFAR class this mixin precedes in the MRO (see ``_DATASETS``).
    root: str
    base_folder: str
    train_list: list[list[str]]
    test_list: list[list[str]]
    meta: dict[str, str]
    download: Callable[[], None]
    _check_integrity: Callable[[], bool]

    def __init__(
        self, root: str, train: bool = True, transform: Any = None, target_transform: Any = None, download: bool = False
    ) -> None:
        datasets.VisionDataset.__init__(self, root, transform=transform, target_transform=target_transform)
        self.train = train
        if download:
            self.download()
        if not self._check_integrity():
            raise RuntimeError("Dataset not found or corrupted")
        folder = Path(self.root) / self.base_folder
        hint = "; restore it (or delete the folder and download again)"
        images: list[np.ndarray] = []
        labels: list[int] = []
        for name, _ in self.train_list if train else self.test_list:
            entry = load_batch(folder / name, hint)
            key = "labels" if "labels" in entry else "fine_labels"
            if not isinstance(entry.get("data"), np.ndarray) or entry["data"].size % 3072 or key not in entry:
                raise PruningError(f"CIFAR file {folder / name} lacks 32x32x3 image data or labels{hint}")
            images.append(entry["data"].reshape(-1, 3, 32, 32))
            labels.extend(int(y) for y in entry[key])
        self.data = np.concatenate(images).transpose(0, 2, 3, 1)  # HWC, as torchvision keeps it
        self.targets = labels
        meta = folder / self.meta["filename"]
        if not check_integrity(str(meta), self.meta["md5"]):
            raise RuntimeError("Dataset metadata file not found or corrupted")
        self.classes = list(load_batch(meta, hint).get(self.meta["key"], []))
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}


_DATASETS = {
    "cifar10": (type("CIFAR10", (_PlainDataCIFAR, datasets.CIFAR10), {}), 10, "cifar-10-batches-py"),
    "cifar100": (type("CIFAR100", (_PlainDataCIFAR, datasets.CIFAR100), {}), 100, "cifar-100-python"),
}


def _without_checksums(cls: type[datasets.CIFAR10]) -> type[datasets.CIFAR10]:
    """A dataset class that only checks the files exist (for re-packed copies such as ../shared/data)."""
    return type(
        cls.__name__ + "NoChecksum",
        (cls,),
        {
            "meta": {**cls.meta, "md5": None},
            "train_list": [[f, None] for f, _ in cls.train_list],
            "test_list": [[f, None] for f, _ in cls.test_list],
        },
    )


def balanced_indices(targets: list[int], total: int, num_classes: int, seed: int) -> list[int]:
    """``total // num_classes`` indices per class, drawn with a fixed seed, in ascending order."""
    per_class = total // num_classes
    if per_class < 1:
        raise PruningError(f"subset={total} gives fewer than one image per class ({num_classes} classes)")
    labels = torch.as_tensor(targets)
    g = torch.Generator().manual_seed(seed)
    picked: list[int] = []
    for c in range(num_classes):
        idx = torch.nonzero(labels == c).flatten()
        if len(idx) < per_class:
            raise PruningError(f"subset={total} needs {per_class} images of class {c}, only {len(idx)} exist")
        picked += idx[torch.randperm(len(idx), generator=g)[:per_class]].tolist()
    return sorted(picked)


class CIFARDataModule(L.LightningDataModule):
    """CIFAR-10/100.

    Args:
        name: ``cifar10`` or ``cifar100``.
        data_dir: folder holding (or receiving) torchvision's ``cifar-10-batches-py`` etc.
        batch_size: global training batch over all devices (paper: 64); each of N processes gets 1/N.
        eval_batch_size: global validation/test batch (reference code: 256).
        num_workers: DataLoader workers.
        download: fetch the dataset if missing (needs internet).
        verify_checksums: check torchvision's MD5s; turn off for re-packed copies whose files differ.
        subset: use a class-balanced subset of this many training images (None = all).
        subset_seed: seed of the subset draw.
        val_source: ``test`` (official test split, as the paper) or ``split`` (hold out ``val_size``).
        val_size: held-out images when ``val_source="split"``.
        pin_memory: pin host memory for faster GPU transfer.
        drop_last: drop the last incomplete training batch (one static shape for compile / CUDA graphs).
        device_resident: keep the uint8 dataset on the trainer's device and augment there per batch
            (``data/device_loader.py``; same augmentation distribution, no workers, no host copies).
    """

    name: str  # narrows LightningDataModule's ``str | None``: always a key of ``_DATASETS`` here

    def __init__(
        self,
        name: Literal["cifar10", "cifar100"] = "cifar10",
        data_dir: str = "data",
        batch_size: int = 64,
        eval_batch_size: int = 256,
        num_workers: int = 2,
        download: bool = True,
        verify_checksums: bool = True,
        subset: int | None = None,
        subset_seed: int = 0,
        val_source: Literal["test", "split"] = "test",
        val_size: int = 5000,
        pin_memory: bool = False,
        drop_last: bool = False,
        device_resident: bool = False,
    ) -> None:
        super().__init__()
        if name not in _DATASETS:
            raise PruningError(f"unknown CIFAR dataset {name!r}; choose cifar10 or cifar100")
        self.save_hyperparameters()
        self.name = name
        self.data_dir = Path(data_dir)
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    @property
    def num_classes(self) -> int:
        return _DATASETS[self.name][1]

    def _cls(self) -> type[datasets.CIFAR10]:
        cls = _DATASETS[self.name][0]
        return cls if self.hparams["verify_checksums"] else _without_checksums(cls)

    def _check_present(self) -> None:
        folder = self.data_dir / _DATASETS[self.name][2]
        if not self.hparams["download"] and not folder.is_dir():
            raise PruningError(
                f"{self.name} not found: {folder} does not exist and download is off; "
                "set data_dir to the folder holding it or pass --data.init_args.download true"
            )

    def prepare_data(self) -> None:
        self._check_present()
        if not self.hparams["download"]:
            return
        created = next((p for p in [*reversed(self.data_dir.parents), self.data_dir] if not p.exists()), None)
        before = set(self.data_dir.iterdir()) if self.data_dir.is_dir() else set()
        try:
            for train in (True, False):
                self._cls()(str(self.data_dir), train=train, download=True)
        except (OSError, RuntimeError) as e:  # URLError is an OSError; a bad archive's MD5 a RuntimeError
            if created is not None:
                shutil.rmtree(created, ignore_errors=True)
            else:  # leave no partial archive or half-extracted folder behind
                for p in set(self.data_dir.iterdir()) - before:
                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            reason = str(getattr(e, "reason", "") or e).splitlines()[0][:120]
            raise PruningError(
                f"downloading {self.name} into {self.data_dir} failed ({type(e).__name__}: {reason}); without network, "
                f"put a copy of {_DATASETS[self.name][2]}/ in a folder and pass --data.init_args.data_dir FOLDER "
                "--data.init_args.download false"
            ) from None

    def _load(self, train: bool, transform: object) -> datasets.CIFAR10:
        self._check_present()
        try:
            return self._cls()(str(self.data_dir), train=train, transform=transform, download=False)
        except RuntimeError as e:  # torchvision: "Dataset not found or corrupted"
            raise PruningError(
                f"{self.name} in {self.data_dir} is missing or fails its checksum ({e}); for a re-packed "
                "copy pass --data.init_args.verify_checksums false"
            ) from e

    def setup(self, stage: str | None = None) -> None:
        train_full = self._load(True, cifar_train_transform(self.name))
        targets = list(train_full.targets)
        indices = list(range(len(targets)))
        if self.hparams["subset"] is not None:
            indices = balanced_indices(targets, self.hparams["subset"], self.num_classes, self.hparams["subset_seed"])
        if self.hparams["val_source"] == "split":
            g = torch.Generator().manual_seed(self.hparams["subset_seed"])
            perm = torch.randperm(len(indices), generator=g).tolist()
            n_val = self.hparams["val_size"]
            if not 0 < n_val < len(indices):
                raise PruningError(f"val_size={n_val} must be between 1 and {len(indices) - 1}")
            val_idx = sorted(indices[i] for i in perm[:n_val])
            indices = sorted(indices[i] for i in perm[n_val:])
            self.val_set = Subset(self._load(True, cifar_eval_transform(self.name)), val_idx)
        self.train_set = Subset(train_full, indices) if len(indices) != len(targets) else train_full
        self.test_set = self._load(False, cifar_eval_transform(self.name))
        if self.hparams["val_source"] == "test":
            self.val_set = self.test_set

    def _loader(self, ds: Dataset | None, train: bool) -> DataLoader | DeviceCIFARLoader:
        assert ds is not None, "setup() has not run"
        if self.hparams["device_resident"]:
            t = self.trainer
            loader = DeviceCIFARLoader(
                *uint8_images(ds),
                batch_size=per_device_batch(
                    self.hparams["batch_size"] if train else self.hparams["eval_batch_size"],
                    t.world_size if t is not None else 1,
                ),
                mean=MEAN_STD[self.name][0],
                std=MEAN_STD[self.name][1],
                train=train,
                drop_last=train and self.hparams["drop_last"],
                device=t.strategy.root_device if t is not None else "cpu",
                rank=t.global_rank if t is not None else 0,
                world_size=t.world_size if t is not None else 1,
            )
            loader.sampler.set_epoch(starting_epoch(t))
            return loader
        return datamodule_loader(self, ds, train)

    def train_dataloader(self) -> DataLoader | DeviceCIFARLoader:
        return self._loader(self.train_set, True)

    def val_dataloader(self) -> DataLoader | DeviceCIFARLoader:
        return self._loader(self.val_set, False)

    def test_dataloader(self) -> DataLoader | DeviceCIFARLoader:
        return self._loader(self.test_set, False)
