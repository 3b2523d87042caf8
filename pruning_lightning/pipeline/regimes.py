"""Downstream regimes as data: a regime = config files + how it references the prune artifact.

Placeholders in ``configs`` and ``args`` values are filled per stage:

* ``{artifact}``: the method's prune-stage directory (``pruned.pt``, ``arch.yaml``, ``scratch_b.yaml``);
* ``{large}``: the seed's large-stage directory (e.g. a distillation teacher, ``{large}/checkpoints/last.ckpt``).

The stage depends on exactly the stages its placeholders name, so a new regime (``finetune_kd``,
``scratch_guided``, ...) is one entry in an experiment's ``regimes`` mapping, not code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pruning_lightning.cli.config import read
from pruning_lightning.core.errors import PruningError
from pruning_lightning.pipeline.checks import check_epochs, paths_tuple, strict
from pruning_lightning.pipeline.paths import resolve_path


@dataclass(frozen=True)
class RegimeSpec:
    """One downstream training regime.

    Attributes:
        configs: fit config files, after the experiment's data and arch configs.
        args: extra dotted overrides (``model.init_args.weights_from: "{artifact}/pruned.pt"``).
        epochs: ``trainer.max_epochs``; ``"base"`` = the experiment's ``base_epochs`` (Scratch-E,
            arXiv 1810.05270 Sec. 3); ``"scaled"`` = ``base_epochs`` times the paper's fine-tune:train
            ratio, read from the configs (the fine-tune config's epochs over the large config's: 40:160 on
            CIFAR, so ``base_epochs // 4``; 20:90 on ImageNet), at least 1, and the configs' own epochs when
            ``base_epochs`` is unset; ``None`` = whatever the configs say (Scratch-B reads ``scratch_b.yaml``).
        needs_weights: inherits trained weights, so a preset/guided method (no weights) cannot feed it.
    """

    configs: tuple[str, ...] = ()
    args: dict[str, Any] = field(default_factory=dict)
    epochs: int | str | None = None
    needs_weights: bool = False


DEFAULT_REGIMES: dict[str, RegimeSpec] = {
    # Inherited weights at constant LR 0.001; 40 epochs per 160 of training on CIFAR, 20 per 90 on ImageNet
    # (arXiv 1810.05270 Sec. 3): a reduced base_epochs shortens fine-tuning in proportion.
    "finetune": RegimeSpec(
        configs=("configs/regime/finetune.yaml", "{artifact}/arch.yaml"),
        args={"model.init_args.weights_from": "{artifact}/pruned.pt"},
        epochs="scaled",
        needs_weights=True,
    ),
    # arXiv 1810.05270 Sec. 3 (Scratch-E): fresh init, the large model's epochs.
    "scratch_e": RegimeSpec(
        configs=("configs/regime/scratch_e.yaml", "{artifact}/arch.yaml"),
        args={"model.init_args.structure_from": "{artifact}/pruned.pt"},
        epochs="base",
    ),
    # arXiv 1810.05270 Sec. 3 (Scratch-B): epochs from the measured FLOPs ratio, written by the prune stage.
    "scratch_b": RegimeSpec(
        configs=("configs/regime/scratch_b.yaml", "{artifact}/arch.yaml", "{artifact}/scratch_b.yaml"),
        args={"model.init_args.structure_from": "{artifact}/pruned.pt"},
    ),
}


def parse_regimes(value: Any) -> dict[str, RegimeSpec]:
    """An experiment's ``regimes``: a list of built-in names, or a mapping name -> spec (overrides of a built-in)."""
    if value is None:
        return {}
    if isinstance(value, list):
        value = {name: {} for name in value}
    if not isinstance(value, dict):
        raise PruningError(f"regimes must be a list of names or a mapping name -> spec, got {value!r}")
    out: dict[str, RegimeSpec] = {}
    for name, spec in value.items():
        base = dataclasses.asdict(DEFAULT_REGIMES[name]) if name in DEFAULT_REGIMES else {}
        if not base and not spec:
            raise PruningError(
                f"regime {name!r} is not built in ({sorted(DEFAULT_REGIMES)}); give its configs and args"
            )
        if spec is not None and not isinstance(spec, dict):
            raise PruningError(f"regimes.{name} must be a mapping (configs, args, epochs, needs_weights), got {spec!r}")
        spec = dict(spec or {})
        if base and "args" in spec:  # overrides add to a built-in regime's args (artifact links stay)
            spec["args"] = {**base["args"], **(spec["args"] or {})}
        d = strict(RegimeSpec, {**base, **spec}, f"regimes.{name}")
        d.setdefault("args", {})  # a custom regime may set no overrides
        if not isinstance(d["args"], dict):
            raise PruningError(f"regimes.{name}.args must be a mapping of dotted flags to values")
        check_epochs(d.get("epochs"), f"regimes.{name}.epochs", ("base", "scaled"))
        d["configs"] = paths_tuple(d.get("configs"), f"regimes.{name}.configs")
        out[name] = RegimeSpec(**d)
    return out


def config_epochs(paths: list[str] | tuple[str, ...]) -> int | None:
    """``trainer.max_epochs`` of the last of ``paths`` that sets it (None: none does, or a file is missing).

    The files are read in order as a fit reads its ``-c`` files (:func:`pruning_lightning.cli.config.read`), so a
    fragment that sets only ``init_args`` (``configs/fast/cpu.yaml``) must follow the config naming its class.
    Placeholder paths (``{artifact}/...``) and missing files are skipped.
    """
    present = [resolve_path(p) for p in paths if "{" not in p and Path(resolve_path(p)).is_file()]
    found = None
    # ``trainer`` is read as a whole mapping (typed Any): a later file's replaces an earlier one's, so
    # walk the files and keep the last max_epochs written, as a file without one does not reset it.
    for _, ns in read(present):
        epochs = (ns.get("trainer") or {}).get("max_epochs")
        if isinstance(epochs, int):
            found = epochs
    return found


def scaled_epochs(regime_configs: list[str], large_configs: list[str], base: int | None) -> int | None:
    """Fine-tune epochs at the paper's ratio to ``base`` (the regime config's over the large config's epochs)."""
    own, large = config_epochs(regime_configs), config_epochs(large_configs)
    if base is None or own is None or not large:
        return own
    return max(1, base * own // large)
