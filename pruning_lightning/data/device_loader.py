"""Device-resident CIFAR loading: the whole uint8 dataset lives on the accelerator.

Why: on a fast GPU a 32x32 CIFAR step takes a few milliseconds, so PIL decoding, per-image
transforms and host-to-device copies in DataLoader workers become the bottleneck. Here the
dataset (50,000 x 3 x 32 x 32 uint8 = 150 MB) is copied to the device once and every batch is
gathered, augmented and normalised there with a handful of batched kernels.

Augmentation has the same distribution as ``cifar_train_transform`` (docs/protocol.md §1): zero-pad 4,
crop 32x32 at an offset drawn uniformly from {0..8}^2, flip horizontally with probability 1/2
(all independent), then ``ToTensor`` (``/255``) and ``Normalize`` with the same float ops, so a
given (crop, flip) gives bit-identical tensors to torchvision's pipeline.

Ordering and sharding follow ``torch.utils.data.DistributedSampler`` exactly (seed + epoch
permutation, padded to a multiple of the world size, rank ``r`` takes ``r::world``). Lightning
calls ``loader.sampler.set_epoch(epoch)`` at each epoch start, as for a DistributedSampler.

Deviations from the standard DataLoader path: the random stream differs (same distribution, other
draws); single-process runs shuffle with ``seed + epoch`` instead of the global RNG.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from pruning_lightning.core.errors import PruningError

PAD, SIZE = 4, 32


def uint8_images(ds: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3, H, W) uint8 images and (N,) int64 labels of a torchvision CIFAR dataset or a Subset of one."""
    indices = None
    if isinstance(ds, Subset):
        indices = list(ds.indices)
        ds = ds.dataset
    if not hasattr(ds, "data") or not hasattr(ds, "targets"):
        raise PruningError(f"device_resident needs a CIFAR-style dataset with .data/.targets, got {type(ds).__name__}")
    data, targets = np.asarray(ds.data), np.asarray(ds.targets)
    if indices is not None:
        data, targets = data[indices], targets[indices]
    images = torch.from_numpy(np.ascontiguousarray(data)).permute(0, 3, 1, 2).contiguous()  # HWC -> CHW
    return images, torch.from_numpy(targets).long()


def draw_augmentation(
    n: int, generator: torch.Generator, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-image crop offsets ``dy, dx`` in {0..2*PAD} and flip flags, i.i.d. uniform."""
    dy = torch.randint(0, 2 * PAD + 1, (n,), generator=generator, device=device)
    dx = torch.randint(0, 2 * PAD + 1, (n,), generator=generator, device=device)
    flip = torch.rand(n, generator=generator, device=device) < 0.5
    return dy, dx, flip


def crop_flip(images: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Zero-pad ``PAD`` and take each image's 32x32 crop at (dy, dx), mirrored where ``flip``: one gather."""
    b = images.shape[0]
    padded = torch.nn.functional.pad(images, [PAD] * 4)
    ar = torch.arange(SIZE, device=images.device)
    rows = dy[:, None] + ar  # (B, 32)
    cols = torch.where(flip[:, None], dx[:, None] + (SIZE - 1 - ar), dx[:, None] + ar)
    bi = torch.arange(b, device=images.device)[:, None, None, None]
    ci = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
    return padded[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]


def normalise(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 -> float in [0, 1] -> (x - mean) / std, the same ops as ToTensor + Normalize."""
    return images.float().div(255).sub(mean[:, None, None]).div(std[:, None, None])


class EpochShards:
    """Index order of one rank for one epoch, identical to ``DistributedSampler(drop_last=False)``.

    Args:
        n: dataset size.
        rank: this process's global rank.
        world_size: number of processes.
        shuffle: permute with ``seed + epoch`` (else natural order).
        seed: shared by all ranks, so their shards are disjoint.
    """

    def __init__(self, n: int, rank: int = 0, world_size: int = 1, shuffle: bool = True, seed: int = 0) -> None:
        if not 0 <= rank < world_size:
            raise PruningError(f"rank {rank} is outside world size {world_size}")
        self.n, self.rank, self.world_size, self.shuffle, self.seed = n, rank, world_size, shuffle, seed
        self.epoch = 0
        self.num_samples = -(-n // world_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> torch.Tensor:
        if self.shuffle:
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + self.epoch))
        else:
            order = torch.arange(self.n)
        total = self.num_samples * self.world_size
        if total > self.n:  # pad by repeating the head, so every rank has the same number of batches
            order = torch.cat([order, order.repeat(-(-total // self.n))[: total - self.n]])
        return order[self.rank : total : self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


class DeviceCIFARLoader:
    """Iterable of normalised ``(x, y)`` float batches gathered from device-resident uint8 images.

    Args:
        images: (N, 3, 32, 32) uint8.
        labels: (N,) int64.
        batch_size: images per batch.
        mean: per-channel mean (as in ``MEAN_STD``).
        std: per-channel std.
        train: augment (pad/crop/flip) and shuffle; eval batches are only normalised, in order.
        drop_last: drop the last incomplete batch (static shapes for compile / CUDA graphs).
        device: where the dataset and batches live.
        rank: global rank (data sharding like DistributedSampler).
        world_size: number of ranks.
        seed: base seed; ``None`` = ``PL_GLOBAL_SEED`` (what Lightning's DistributedSampler uses) or 0.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        mean: tuple[float, float, float],
        std: tuple[float, float, float],
        train: bool = True,
        drop_last: bool = False,
        device: torch.device | str = "cpu",
        rank: int = 0,
        world_size: int = 1,
        seed: int | None = None,
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4 or tuple(images.shape[1:]) != (3, SIZE, SIZE):
            raise PruningError(
                f"device loader expects (N, 3, 32, 32) uint8 images, got {tuple(images.shape)} {images.dtype}"
            )
        if batch_size < 1:
            raise PruningError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.images, self.labels = images.to(self.device), labels.to(self.device)
        self.mean = torch.tensor(mean, device=self.device)
        self.std = torch.tensor(std, device=self.device)
        self.batch_size, self.train, self.drop_last = batch_size, train, drop_last
        self.seed = int(os.environ.get("PL_GLOBAL_SEED", 0)) if seed is None else seed
        self.sampler = EpochShards(len(labels), rank, world_size, shuffle=train, seed=self.seed)
        self.batch_sampler = None  # DataLoader-compatible attributes that Lightning inspects

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        idx = self.sampler.indices().to(self.device)
        s = self.sampler
        # Augmentation draws differ per (seed, epoch, rank); the shard order itself is shared by all ranks.
        g = torch.Generator(device=self.device).manual_seed((self.seed * 1_000_003 + s.epoch) * 4_099 + s.rank + 1)
        for b in range(len(self)):
            sel = idx[b * self.batch_size : (b + 1) * self.batch_size]
            x = self.images[sel]
            if self.train:
                x = crop_flip(x, *draw_augmentation(len(sel), g, self.device))
            yield normalise(x, self.mean, self.std), self.labels[sel]
