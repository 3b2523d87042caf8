"""Shared base for small in-memory datasets (digits, synthetic): tensors in, loaders out."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from pruning_lightning.data.sampling import make_loader


class AugmentedTensors(Dataset):
    """(image, label) pairs from tensors, with optional pad-and-random-crop augmentation."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, pad: int = 0) -> None:
        self.images, self.labels, self.pad = images, labels, pad

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[i]
        if self.pad:
            h, w = x.shape[1:]
            x = torch.nn.functional.pad(x, [self.pad] * 4)
            dy, dx = torch.randint(0, 2 * self.pad + 1, (2,)).tolist()
            x = x[:, dy : dy + h, dx : dx + w]
        return x, self.labels[i]


class TensorDataModule(L.LightningDataModule):
    """Train / test tensors held in memory; validation uses the test split (as CIFAR does)."""

    num_classes: int = 10

    def __init__(self, batch_size: int, eval_batch_size: int, num_workers: int = 0) -> None:
        super().__init__()
        self.batch_size, self.eval_batch_size, self.num_workers = batch_size, eval_batch_size, num_workers
        self.train_set: Dataset | None = None
        self.test_set: Dataset | None = None

    def _loader(self, ds: Dataset | None, train: bool) -> DataLoader:
        assert ds is not None, "setup() has not run"
        return make_loader(
            ds, self.batch_size if train else self.eval_batch_size, train, self.trainer, num_workers=self.num_workers
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, False)
