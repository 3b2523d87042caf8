"""Training-data randomness as a pure function of (seed, epoch): the basis of exact resume.

A resumed fit must see the same batches, in the same order and with the same augmentation, as an
uninterrupted one. Global RNG state cannot give that: DataLoader workers keep their own RNGs (and
persistent workers keep them across epochs), and every new loader iterator draws from the global
generator. So the training sampler yields ``(index, item_seed)`` keys, where the order follows
:class:`~torch.utils.data.DistributedSampler` (``seed + epoch``) and ``item_seed`` is drawn from a
generator seeded by ``(seed, epoch)``; :class:`SeededItems` seeds torch's RNG with ``item_seed``
around the wrapped dataset's ``__getitem__`` (random crop, flip, ...). Which process or worker
loads an item no longer matters. Lightning calls ``set_epoch`` on the sampler, also when resuming.

The sampler is a ``DistributedSampler``, so Lightning does not replace it under DDP; it is built
with the trainer's rank and world size.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from pruning_lightning.core.errors import PruningError


def data_seed() -> int:
    """The run's seed as Lightning's ``seed_everything`` exported it (``PL_GLOBAL_SEED``), else 0."""
    return int(os.environ.get("PL_GLOBAL_SEED", 0))


class SeededItems(Dataset):
    """Wraps a map-style dataset; a key ``(index, item_seed)`` loads ``index`` under that RNG seed."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: int | tuple[int, int]) -> Any:
        if isinstance(key, tuple):
            index, item_seed = key
            with torch.random.fork_rng(devices=[]):
                # The CPU generator only: torch.manual_seed would also queue a seed for every CUDA/XPU/MTIA
                # device, formatting a Python stack trace each time (~0.5 ms per item, ~8 % of a CPU training
                # step), and, once CUDA is up, reseed the GPUs per item. The CPU stream is the same either way.
                torch.default_generator.manual_seed(item_seed)
                return self.dataset[index]
        return self.dataset[key]


class EpochSeededSampler(DistributedSampler):
    """``DistributedSampler`` order (``seed + epoch``), each index paired with its per-epoch item seed."""

    def __iter__(self) -> Iterator[tuple[int, int]]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        item_seeds = torch.randint(0, 2**62, (len(self.dataset),), generator=g).tolist()  # type: ignore[arg-type]
        return iter([(i, item_seeds[i]) for i in super().__iter__()])


def starting_epoch(trainer: Any) -> int:
    """The epoch a fit is about to run (0, or the resumed one): samplers must start there.

    Lightning creates the first loader iterator of a run (also of a resumed one) before it calls
    ``set_epoch``, and does not recreate it when resuming.
    """
    loop = getattr(trainer, "fit_loop", None)
    return int(loop.epoch_progress.current.processed) if loop is not None else 0


def per_device_batch(global_batch: int, world_size: int, what: str = "batch_size") -> int:
    """The per-process share of a global batch; a clear error when it does not divide."""
    if global_batch < 1:
        raise PruningError(f"{what}={global_batch} must be a positive integer (the global batch over all devices)")
    if global_batch % world_size:
        raise PruningError(
            f"{what}={global_batch} is the global batch and must divide evenly over {world_size} processes; "
            f"choose a multiple of {world_size}"
        )
    return global_batch // world_size


def make_loader(
    dataset: Dataset,
    global_batch: int,
    train: bool,
    trainer: Any,
    num_workers: int = 0,
    pin_memory: bool = False,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader whose training order and augmentation depend on (seed, epoch) only.

    ``global_batch`` is split over the trainer's processes (the paper's batch sizes are global).
    Eval loaders keep their natural order (Lightning shards them under DDP).
    """
    world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
    batch = per_device_batch(global_batch, world, "batch_size" if train else "eval_batch_size")
    seed = data_seed()
    sampler = None
    if train:
        sampler = EpochSeededSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed)
        sampler.set_epoch(starting_epoch(trainer))
    return DataLoader(
        SeededItems(dataset) if train else dataset,
        batch_size=batch,
        sampler=sampler,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
        drop_last=train and drop_last,
        # Loader iterators draw their worker base seed from this generator, not the global one.
        generator=torch.Generator().manual_seed(seed),
    )


def datamodule_loader(dm: Any, dataset: Dataset | None, train: bool) -> DataLoader:
    """:func:`make_loader` configured from a DataModule's hyper-parameters (``batch_size``,
    ``eval_batch_size``, ``num_workers``, ``pin_memory`` and, where it has one, ``drop_last``)."""
    if dataset is None:
        raise RuntimeError("the data module's setup() has not run")
    hp = dm.hparams
    return make_loader(
        dataset,
        hp.batch_size if train else hp.eval_batch_size,
        train,
        dm.trainer,
        num_workers=hp.num_workers,
        pin_memory=hp.pin_memory,
        drop_last=hp.get("drop_last", False),
    )
