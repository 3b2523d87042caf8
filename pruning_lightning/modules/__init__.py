"""LightningModules: one base holding the architecture, one subclass per regime."""

from pruning_lightning.modules.base import ClassificationModule
from pruning_lightning.modules.distill import DistillFineTuneModule, DistillScratchModule
from pruning_lightning.modules.regimes import FineTuneModule, LargeModule, ScratchModule

__all__ = ["ClassificationModule", "FineTuneModule", "LargeModule", "ScratchModule"]
__all__ += ["DistillFineTuneModule", "DistillScratchModule"]
