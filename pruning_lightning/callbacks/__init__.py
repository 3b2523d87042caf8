"""Callbacks: sparsity regularisers (training side), weight masks, and pruning between stages."""

from pruning_lightning.callbacks.block_sparsity import BlockScaleSparsity
from pruning_lightning.callbacks.masks import ApplyWeightMasks
from pruning_lightning.callbacks.prune import PruneAtEnd
from pruning_lightning.callbacks.soft_filter import SoftFilterPruning
from pruning_lightning.callbacks.sparsity import BNL1Sparsity

__all__ = ["ApplyWeightMasks", "BNL1Sparsity", "BlockScaleSparsity", "PruneAtEnd", "SoftFilterPruning"]
