"""Pruning methods behind one signature, one surgery, one ``prune()``."""

from pruning_lightning.pruning.base import KeepPlan, Pruner, prune
from pruning_lightning.pruning.slimming import SlimmingPruner

PRUNERS: dict[str, type[Pruner]] = {cls.name: cls for cls in (SlimmingPruner,)}

__all__ = ["PRUNERS", "KeepPlan", "Pruner", "SlimmingPruner", "prune"]
