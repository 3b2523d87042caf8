"""LightningDataModules. Each exposes ``num_classes`` (linked into ``model.init_args.arch``)."""

from pruning_lightning.data.cifar import CIFARDataModule
from pruning_lightning.data.digits import DigitsDataModule
from pruning_lightning.data.synthetic import RandomImageDataModule

__all__ = ["CIFARDataModule", "DigitsDataModule", "RandomImageDataModule"]
