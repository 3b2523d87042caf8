"""The experiment file: one YAML describing a whole study (a row of arXiv 1810.05270 Tables 1-6, all regimes, seeds).

Example (``configs/experiments/tiny_slimming.yaml``)::

    name: tiny-slimming                    # W&B group; run_dir defaults to runs/<name>
    data: configs/data/synthetic.yaml      # one path or a list of config fragments
    arch: configs/arch/cifar/vgg19.yaml
    seeds: [0, 1]
    base_epochs: 160                       # large and Scratch-E budget; Scratch-B base (arXiv 1810.05270 Sec. 3)
    max_ratio: 2.0                         # optional Scratch-B cap on the FLOPs ratio (a method may override)
    trainer: {accelerator: cpu}            # every fit/test stage
    large: {configs: [configs/regime/large.yaml, configs/sparsity/slimming.yaml]}
    methods:
      - {name: slimming_70, prune: configs/prune/slimming_70.yaml}
    regimes: [finetune, scratch_e, scratch_b]
    wandb: {project: pruning-lightning}    # optional: a W&B run per stage (see WandbSpec)

Every key is checked: an unknown key is a :class:`PruningError` naming the known ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pruning_lightning.core.config_files import read_config
from pruning_lightning.core.errors import PruningError
from pruning_lightning.pipeline.checks import (
    check_cap,
    check_epochs,
    check_scalars,
    check_type,
    paths_tuple,
    seeds_tuple,
    strict,
)
from pruning_lightning.pipeline.claims import ComparisonSpec, parse_comparisons
from pruning_lightning.pipeline.regimes import RegimeSpec, parse_regimes


@dataclass(frozen=True)
class StageSpec:
    """The large (unpruned, possibly sparsity-trained) stage.

    ``zoo`` imports the large model instead of training it, as the reference code does for the
    L1-norm ResNet-34 and weight-level ResNet-50 / VGG-16-BN rows: ``torchvision`` (IMAGENET1K_V1
    weights, downloaded) or the path of a torchvision-format state dict (``pruning-lightning zoo``).
    """

    configs: tuple[str, ...] = ("configs/regime/large.yaml",)
    args: dict[str, Any] = field(default_factory=dict)
    epochs: int | None = None
    zoo: str | None = None


@dataclass(frozen=True)
class MethodSpec:
    """One pruned model: a prune config (automatic or predefined method), a preset arch, or a guided arch.

    Exactly one of ``prune`` (a ``configs/prune/*.yaml``), ``preset`` (an arch config of a
    literature architecture, arXiv 1810.05270 Table 2/3.3/3.5: trained without pruning) or ``guided_from``
    (the name of another method whose pruned architectures are averaged per stage, arXiv 1810.05270 Sec. 5).
    ``max_ratio`` overrides the experiment's Scratch-B cap for this method (None: the experiment's).
    ``large`` gives the method its own large model (e.g. trained without sparsity for L1-norm, while the
    experiment's shared ``large`` is sparsity-trained for Network Slimming); None: the shared one.
    """

    name: str
    prune: str | None = None
    preset: str | None = None
    guided_from: str | None = None
    guided_depth: int | None = None
    args: dict[str, Any] = field(default_factory=dict)
    regimes: tuple[str, ...] | None = None
    max_ratio: float | None = None
    large: StageSpec | None = None

    @property
    def kind(self) -> str:
        return "prune" if self.prune else "preset" if self.preset else "guided"


@dataclass(frozen=True)
class WandbSpec:
    """The experiment's ``wandb:`` key: a WandbLogger in every stage (none when absent; docs/studies.md#wb).

    ``mode``: W&B's own ``WANDB_MODE`` wins, then this key, else online. ``options`` go to every WandbLogger.
    ``pipeline EXP -c configs/logger/wandb.yaml`` sets this key from a logger config.
    """

    project: str = "pruning-lightning"
    mode: str | None = None
    entity: str | None = None
    tags: tuple[str, ...] = ()
    log_checkpoints: bool = True
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    """A whole study; see the module docstring for the YAML form."""

    name: str
    data: tuple[str, ...]
    arch: tuple[str, ...]
    methods: tuple[MethodSpec, ...]
    seeds: tuple[int, ...] = (0,)
    description: str = ""
    run_dir: str | None = None
    num_classes: int | None = None
    base_epochs: int | None = None
    max_ratio: float | None = None
    trainer: dict[str, Any] = field(default_factory=dict)
    args: dict[str, Any] = field(default_factory=dict)
    large: StageSpec | None = field(default_factory=StageSpec)
    regimes: dict[str, RegimeSpec] = field(default_factory=dict)
    wandb: WandbSpec | None = None
    slurm: dict[str, Any] = field(default_factory=dict)
    paper: dict[str, Any] = field(default_factory=dict)
    comparisons: tuple[ComparisonSpec, ...] = ()
    scale: str = ""
    source: str = ""

    @property
    def root(self) -> Path:
        return Path(self.run_dir or f"runs/{self.name}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("source")
        return d

    def digest(self, run_dir: str | None = None) -> str:
        """Hash of everything that decides what is trained (recorded in the run directory).

        Where the run folder lives is no part of it (a moved folder is the same experiment); ``run_dir``
        gives the digest that records written before that rule hold (the path was hashed then).
        """
        d = self.to_dict()
        d.pop("run_dir") if run_dir is None else d.update(run_dir=run_dir)
        for k in ("description", "slurm", "paper", "wandb", "comparisons", "scale"):  # report-only keys
            d.pop(k)
        for m in d["methods"]:  # added later: an unset key keeps the digest of existing run directories
            for key in ("max_ratio", "large"):
                if m.get(key) is None:
                    m.pop(key, None)
        for spec in [d.get("large"), *(m.get("large") for m in d["methods"])]:
            if isinstance(spec, dict) and spec.get("zoo") is None:
                spec.pop("zoo", None)
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def same_as(self, record: Any) -> bool:
        """Whether an ``experiment.json`` record is this experiment (today's digest, or an older record's)."""
        if not isinstance(record, dict):
            return False
        old = (record.get("experiment") or {}).get("run_dir") if isinstance(record.get("experiment"), dict) else None
        return record.get("digest") in (self.digest(), *([self.digest(str(old))] if old is not None else []))

    def max_ratio_for(self, method: MethodSpec) -> float | None:
        """The Scratch-B cap of ``method``: its own ``max_ratio``, else the experiment's (None = uncapped)."""
        return method.max_ratio if method.max_ratio is not None else self.max_ratio

    def method(self, name: str) -> MethodSpec:
        for m in self.methods:
            if m.name == name:
                return m
        raise PruningError(
            f"experiment {self.name!r} has no method {name!r}; methods: {[m.name for m in self.methods]}"
        )


def _method(d: Any, i: int) -> MethodSpec:
    d = strict(MethodSpec, d, f"methods[{i}]")
    if not isinstance(d.get("name"), str) or not d["name"].strip() or "/" in d["name"]:
        raise PruningError(f"methods[{i}].name must be a non-empty string without '/', got {d.get('name')!r}")
    for key in ("prune", "preset", "guided_from"):
        check_type(d.get(key), (str,), f"methods[{i}].{key}", "a string")
    if not isinstance(d.get("args", {}), dict):
        raise PruningError(f"methods[{i}].args must be a mapping of dotted flags to values")
    regimes = d.get("regimes")
    if regimes is not None and (not isinstance(regimes, list) or not all(isinstance(r, str) for r in regimes)):
        raise PruningError(f"methods[{i}].regimes must be a list of regime names, got {regimes!r}")
    if d.get("large") is not None:
        d["large"] = _stage(d["large"], f"methods[{i}].large")
    m = MethodSpec(**{**d, "regimes": tuple(d["regimes"]) if d.get("regimes") is not None else None})
    if sum(x is not None for x in (m.prune, m.preset, m.guided_from)) != 1:
        raise PruningError(f"methods[{i}] ({m.name}) needs exactly one of prune, preset, guided_from")
    check_cap(m.max_ratio, f"methods[{i}].max_ratio")
    return m


def _stage(value: Any, where: str) -> StageSpec:
    lg = strict(StageSpec, value, where)
    check_epochs(lg.get("epochs"), f"{where}.epochs")
    check_type(lg.get("zoo"), (str,), f"{where}.zoo", "'torchvision' or a state-dict path")
    if not isinstance(lg.get("args", {}), dict):
        raise PruningError(f"{where}.args must be a mapping of dotted flags to values")
    return StageSpec(**{**lg, "configs": paths_tuple(lg.get("configs", StageSpec.configs), f"{where}.configs")})


def parse_experiment(data: Any, source: str = "") -> Experiment:
    """Validate a loaded experiment document (see module docstring)."""
    where = f"experiment {source}" if source else "experiment"
    if isinstance(data, dict) and "source" in data:  # set by the loader (the file's path), not a key of the file
        raise PruningError(f"unknown key(s) ['source'] in {where}; the experiment's own path is not a key")
    d = strict(Experiment, data, where)
    d["data"], d["arch"] = paths_tuple(d["data"], "data"), paths_tuple(d["arch"], "arch")
    d["seeds"] = seeds_tuple(d.get("seeds", [0]))
    check_cap(d.get("max_ratio"), "max_ratio")
    check_scalars(d)
    if d.get("large", {}) is not None:
        d["large"] = _stage(d.get("large") or {}, "large")
    if not isinstance(d["methods"], list) or not d["methods"]:
        raise PruningError("methods must be a non-empty list of {name, prune|preset|guided_from}")
    d["methods"] = tuple(_method(m, i) for i, m in enumerate(d["methods"]))
    names = [m.name for m in d["methods"]]
    if len(set(names)) != len(names) or "large" in names:
        raise PruningError(f"method names must be unique and not 'large', got {names}")
    d["regimes"] = parse_regimes(d.get("regimes", ["finetune", "scratch_e", "scratch_b"]))
    if d.get("wandb") is not None:
        w = strict(WandbSpec, d["wandb"], "wandb")
        d["wandb"] = WandbSpec(**{**w, "tags": tuple(w.get("tags", ()))})
    d["comparisons"] = parse_comparisons(d.get("comparisons", []), [m.name for m in d["methods"]], list(d["regimes"]))
    check_type(d.get("scale"), (str,), "scale", "a string")
    for key in ("trainer", "args", "slurm", "paper"):
        if not isinstance(d.get(key, {}), dict):
            raise PruningError(f"{key} must be a mapping")
    return Experiment(**d, source=source)


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment YAML."""
    p = Path(path)
    if not p.is_file():
        raise PruningError(f"experiment file not found: {p}")
    data = read_config(p, name=f"experiment file {p}")
    try:
        return parse_experiment(data, str(p))
    except PruningError as e:  # name the file in every message
        raise PruningError(str(e) if str(p) in str(e) else f"experiment file {p}: {e}") from None
