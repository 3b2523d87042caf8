"""ImageNet (ILSVRC-2012) from an ImageFolder tree with the paper's recipe (docs/protocol.md §2).

Expected layout: ``data_dir/train/<class>/*.JPEG`` and ``data_dir/val/<class>/*.JPEG`` (validation
images sorted into class folders, as torchvision's ImageNet example expects). Training uses
RandomResizedCrop(224) + horizontal flip; evaluation resizes the shorter side to 256 and takes the
centre 224x224 crop. Validation doubles as the test split (the reference reports val top-1).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import lightning as L
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision import transforms as T

from pruning_lightning.core.errors import PruningError
from pruning_lightning.data.sampling import datamodule_loader
from pruning_lightning.data.transforms import MEAN_STD


def imagenet_train_transform(crop_size: int = 224) -> T.Compose:
    """RandomResizedCrop (torchvision defaults: scale 0.08-1, ratio 3/4-4/3), flip, normalise."""
    mean, std = MEAN_STD["imagenet"]
    return T.Compose([T.RandomResizedCrop(crop_size), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(mean, std)])


def imagenet_eval_transform(crop_size: int = 224, resize_size: int = 256) -> T.Compose:
    """Resize the shorter side, centre crop, normalise."""
    mean, std = MEAN_STD["imagenet"]
    return T.Compose([T.Resize(resize_size), T.CenterCrop(crop_size), T.ToTensor(), T.Normalize(mean, std)])


class ImageNetDataModule(L.LightningDataModule):
    """ImageNet (or any ImageFolder dataset with ``train/`` and ``val/``).

    Args:
        data_dir: folder holding ``train/`` and ``val/``.
        batch_size: global training batch over all devices (paper: 256); each of N processes gets 1/N.
        eval_batch_size: global validation batch (paper: 256).
        num_workers: DataLoader workers (reference: 25).
        crop_size: training crop and evaluation centre crop (paper: 224).
        resize_size: evaluation shorter-side resize before the centre crop (paper: 256).
        pin_memory: pin host memory for faster GPU transfer.
    """

    def __init__(
        self,
        data_dir: str = "data/imagenet",
        batch_size: int = 256,
        eval_batch_size: int = 256,
        num_workers: int = 8,
        crop_size: int = 224,
        resize_size: int = 256,
        pin_memory: bool = True,
    ) -> None:
        super().__init__()
        if crop_size < 1 or resize_size < crop_size:
            raise PruningError(f"need 1 <= crop_size <= resize_size, got crop {crop_size}, resize {resize_size}")
        self.save_hyperparameters()
        self.data_dir = Path(data_dir)
        self.train_set: datasets.ImageFolder | None = None
        self.val_set: datasets.ImageFolder | None = None

    def _split_dir(self, split: str) -> Path:
        folder = self.data_dir / split
        if not folder.is_dir():
            raise PruningError(
                f"ImageNet folder {folder} not found; set --data.init_args.data_dir to a folder holding "
                "train/ and val/ (one sub-folder per class)"
            )
        return folder

    def _classes(self, split: str) -> list[str]:
        folder = self._split_dir(split)
        classes = sorted(e.name for e in folder.iterdir() if e.is_dir())
        if not classes:
            raise PruningError(f"{folder} has no class sub-folders; expected {folder}/<class>/<image files>")
        return classes

    @cached_property
    def classes(self) -> list[str]:
        """Class names of the training folder (checked against the validation folder)."""
        train, val = self._classes("train"), self._classes("val")
        if train != val:
            only_train, only_val = sorted(set(train) - set(val)), sorted(set(val) - set(train))
            raise PruningError(
                f"train/ and val/ of {self.data_dir} have different classes (only in train: {only_train[:3]}, "
                f"only in val: {only_val[:3]}); both need the same class sub-folders"
            )
        return train

    @property
    def num_classes(self) -> int:
        """Number of classes, read from the folders (works before ``setup``, for the CLI link)."""
        return len(self.classes)

    def _load(self, split: str, transform: T.Compose) -> datasets.ImageFolder:
        self.classes  # noqa: B018 - checks the folders before torchvision's less specific errors
        try:
            ds = datasets.ImageFolder(str(self._split_dir(split)), transform=transform)
        except FileNotFoundError as e:  # torchvision: a class folder without valid image files
            raise PruningError(
                f"{self.data_dir / split} has a class without images ({e}); remove that folder or add images"
            ) from e
        if len(ds) == 0:
            raise PruningError(f"{self.data_dir / split} holds no images")
        return ds

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        if self.train_set is None and stage in (None, "fit"):
            self.train_set = self._load("train", imagenet_train_transform(hp["crop_size"]))
        if self.val_set is None:
            self.val_set = self._load("val", imagenet_eval_transform(hp["crop_size"], hp["resize_size"]))

    def _loader(self, ds: datasets.ImageFolder | None, train: bool) -> DataLoader:
        return datamodule_loader(self, ds, train)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, False)
