"""Pruning methods behind one signature, one surgery, one ``prune()``."""

from pruning_lightning.pruning.base import Pruner, prune
from pruning_lightning.pruning.l1_norm import L1NormPruner
from pruning_lightning.pruning.magnitude import MagnitudePruner
from pruning_lightning.pruning.plan import KeepPlan
from pruning_lightning.pruning.regression import RegressionPruner
from pruning_lightning.pruning.sfp import SoftFilterPruner
from pruning_lightning.pruning.slimming import SlimmingPruner
from pruning_lightning.pruning.sss import SSSPruner
from pruning_lightning.pruning.thinet import ThiNetPruner
from pruning_lightning.pruning.uniform import UniformChannelPruner, UniformSparsityPruner

# Every method, by its ``name``: a new method adds its import above and one entry here.
PRUNERS: dict[str, type[Pruner]] = {
    cls.name: cls
    for cls in (
        SlimmingPruner,
        L1NormPruner,
        MagnitudePruner,
        UniformChannelPruner,
        UniformSparsityPruner,
        ThiNetPruner,
        RegressionPruner,
        SSSPruner,
        SoftFilterPruner,
    )
}

__all__ = [
    "PRUNERS",
    "KeepPlan",
    "L1NormPruner",
    "MagnitudePruner",
    "Pruner",
    "RegressionPruner",
    "SSSPruner",
    "SlimmingPruner",
    "SoftFilterPruner",
    "ThiNetPruner",
    "UniformChannelPruner",
    "UniformSparsityPruner",
    "prune",
]
