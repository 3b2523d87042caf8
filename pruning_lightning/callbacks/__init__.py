"""Callbacks: sparsity regularisers (training side) and pruning between stages."""

from pruning_lightning.callbacks.prune import PruneAtEnd
from pruning_lightning.callbacks.sparsity import BNL1Sparsity

__all__ = ["BNL1Sparsity", "PruneAtEnd"]
