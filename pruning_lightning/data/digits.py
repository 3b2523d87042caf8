"""scikit-learn's bundled handwritten digits (1,797 real 8x8 images, no download) as 3x32x32.

Used by ``make demo`` and tests: real data, ten classes, small enough for 2 CPU cores. Images are
upsampled bilinearly to 32x32 and repeated over three channels so CIFAR networks apply unchanged.
Augmentation is pad-4 random crop (no flips: a flipped digit is another symbol).
"""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits

from pruning_lightning.data.tensor_data import AugmentedTensors, TensorDataModule


class DigitsDataModule(TensorDataModule):
    """Digits, split into a fixed stratified train/test partition.

    Args:
        batch_size: training batch.
        eval_batch_size: validation/test batch.
        test_fraction: fraction of each class held out for testing.
        split_seed: seed of the (fixed) split.
        augment: pad-4 random-crop augmentation on the training split.
        num_workers: DataLoader workers.
    """

    def __init__(
        self,
        batch_size: int = 64,
        eval_batch_size: int = 256,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        augment: bool = True,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, num_workers)
        self.test_fraction, self.split_seed, self.augment = test_fraction, split_seed, augment

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        digits = load_digits()
        x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
        x = torch.nn.functional.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
        x = ((x - x.mean()) / x.std()).repeat(1, 3, 1, 1)
        y = torch.tensor(digits.target, dtype=torch.long)
        g = torch.Generator().manual_seed(self.split_seed)
        test_idx: list[int] = []
        for c in range(self.num_classes):
            idx = torch.nonzero(y == c).flatten()
            idx = idx[torch.randperm(len(idx), generator=g)]
            test_idx += idx[: int(round(len(idx) * self.test_fraction))].tolist()
        is_test = torch.zeros(len(y), dtype=torch.bool)
        is_test[test_idx] = True
        self.train_set = AugmentedTensors(x[~is_test], y[~is_test], pad=4 if self.augment else 0)
        self.test_set = AugmentedTensors(x[is_test], y[is_test])
