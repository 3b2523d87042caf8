"""Tiny synthetic image data for tests and smoke runs (no files, no downloads).

Each class has its own fixed random mean image plus noise, so a network can learn it.
"""

from __future__ import annotations

import torch

from pruning_lightning.data.tensor_data import AugmentedTensors, TensorDataModule


class RandomImageDataModule(TensorDataModule):
    """Class-conditional Gaussian images.

    Args:
        num_classes: classes.
        num_samples: training images (test set has half as many).
        image_size: side of the square image (channels are always 3).
        batch_size: training batch.
        eval_batch_size: evaluation batch.
        seed: data seed (independent of the training seed).
    """

    def __init__(
        self,
        num_classes: int = 10,
        num_samples: int = 64,
        image_size: int = 32,
        batch_size: int = 16,
        eval_batch_size: int = 32,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size, eval_batch_size)
        self.num_classes = num_classes
        self.num_samples, self.image_size, self.seed = num_samples, image_size, seed

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        g = torch.Generator().manual_seed(self.seed)
        means = torch.randn(self.num_classes, 3, self.image_size, self.image_size, generator=g)

        def make(n: int) -> AugmentedTensors:
            y = torch.arange(n) % self.num_classes
            x = means[y] + 0.5 * torch.randn(n, 3, self.image_size, self.image_size, generator=g)
            return AugmentedTensors(x, y)

        self.train_set = make(self.num_samples)
        self.test_set = make(max(self.num_samples // 2, self.num_classes))
