"""Downstream regimes as data: a regime = config files + how it references the prune artifact.

Placeholders in ``configs`` and ``args`` values are filled per stage:

* ``{artifact}``: the method's prune-stage directory (``pruned.pt``, ``arch.yaml``, ``scratch_b.yaml``);
* ``{large}``: the seed's large-stage directory (e.g. a distillation teacher, ``{large}/checkpoints/last.ckpt``).

The stage depends on exactly the stages its placeholders name, so a new regime (``finetune_kd``,
``scratch_guided``, ...) is one entry in an experiment's ``regimes`` mapping, not code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RegimeSpec:
    """One downstream training regime.

    Attributes:
        configs: fit config files, after the experiment's data and arch configs.
        args: extra dotted overrides (``model.init_args.init_from: "{artifact}/pruned.pt"``).
        epochs: ``trainer.max_epochs``; ``"base"`` = the experiment's ``base_epochs`` (Scratch-E,
            PAPER §2.2); ``None`` = whatever the configs say (Scratch-B reads ``scratch_b.yaml``).
        needs_weights: inherits trained weights, so a preset/guided method (no weights) cannot feed it.
    """

    configs: tuple[str, ...] = ()
    args: dict[str, Any] = field(default_factory=dict)
    epochs: int | str | None = None
    needs_weights: bool = False


DEFAULT_REGIMES: dict[str, RegimeSpec] = {
    # PAPER §1.3: inherited weights, 40 epochs (CIFAR) at constant LR 0.001.
    "finetune": RegimeSpec(
        configs=("configs/regime/finetune.yaml", "{artifact}/arch.yaml"),
        args={"model.init_args.init_from": "{artifact}/pruned.pt"},
        needs_weights=True,
    ),
    # PAPER §2.2: fresh init, the large model's epochs.
    "scratch_e": RegimeSpec(
        configs=("configs/regime/scratch_e.yaml", "{artifact}/arch.yaml"),
        args={"model.init_args.structure_from": "{artifact}/pruned.pt"},
        epochs="base",
    ),
    # PAPER §2.3: epochs from the measured FLOPs ratio, written by the prune stage.
    "scratch_b": RegimeSpec(
        configs=("configs/regime/scratch_b.yaml", "{artifact}/arch.yaml", "{artifact}/scratch_b.yaml"),
        args={"model.init_args.structure_from": "{artifact}/pruned.pt"},
    ),
}
