"""Stage planning: experiment -> ordered stages with their exact command lines.

Where each stage writes is the run folder's layout, :class:`~pruning_lightning.formats.run_dir.RunDir` (per seed
``s``: ``seed{s}/large/``, ``seed{s}/<method>/large/``, ``seed{s}/<method>/prune/``, ``seed{s}/<method>/<regime>/``);
``result.json`` is the only "finished" marker (:class:`~pruning_lightning.formats.run_dir.StageDir`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.run_dir import RunDir
from pruning_lightning.pipeline.overrides import flatten, overrides
from pruning_lightning.pipeline.paths import resolve_path
from pruning_lightning.pipeline.regimes import scaled_epochs
from pruning_lightning.pipeline.schema import Experiment, MethodSpec, StageSpec
from pruning_lightning.pipeline.stage import Stage
from pruning_lightning.pipeline.wandb_args import method_ratio, stage_logger


def _fill(text: str, where: dict[str, str]) -> str:
    for k, v in where.items():
        text = text.replace("{" + k + "}", v)
    return text


def fit_args(exp: Experiment, stage: Stage, configs: list[str], args: dict[str, Any], epochs: int | None) -> list[str]:
    """``fit`` arguments of a stage (``--ckpt_path`` is added at run time when resuming)."""
    if "logger" in exp.trainer:
        raise PruningError("experiment trainer.logger is set by the pipeline; use the `wandb:` key instead")
    out = ["fit", "--seed_everything", str(stage.seed)]
    for c in [*exp.data, *exp.arch, *configs]:
        out += ["--config", resolve_path(c)]
    out += overrides(exp.trainer, "trainer") + overrides(exp.args) + overrides(args)
    if epochs is not None:
        out += ["--trainer.max_epochs", str(epochs)]
    out += [
        "--trainer.default_root_dir",
        str(stage.dir),
        "--checkpoint.dirpath",
        str(stage.folder.checkpoints),
        "--trainer.logger",
        json.dumps(stage_logger(exp, stage)),
    ]
    return out


def test_args(exp: Experiment, stage: Stage, ckpt: Path) -> list[str]:
    """``test`` of one checkpoint of the stage (``last.ckpt`` or ``best.ckpt``) on ONE device.

    DistributedSampler pads the test set to a multiple of the world size (duplicating samples), so
    a multi-device test would not be comparable across runs or with the paper.
    """
    # No logger: the numbers go to result.json (and, with W&B, to the fit's run summary through the lineage),
    # so the test never reopens the stage's W&B run at step 0; no table either (one line is printed).
    # An imported (zoo) large model has no fit config.yaml: the data configs and the checkpoint's model.
    configs = [str(stage.folder.config)] if stage.kind != "zoo" else [resolve_path(c) for c in exp.data]
    return [
        "test",
        *[a for c in configs for a in ("--config", c)],
        *(overrides(exp.trainer, "trainer") + overrides(exp.args) if stage.kind == "zoo" else []),
        "--ckpt_path",
        str(ckpt),
        "--trainer.devices",
        "1",
        "--trainer.num_nodes",
        "1",
        "--trainer.strategy",
        "auto",
        "--trainer.default_root_dir",  # the stage folder where it is now (config.yaml names it where it was fit)
        str(stage.dir),
        "--trainer.logger",
        "false",
        "--verbose",
        "false",
    ]


def _large(
    exp: Experiment, key: str, seed: int, method: str | None, folder: Path, spec: StageSpec | None, base: int | None
) -> Stage:
    """A large stage: a ``fit``, or with ``zoo`` set an import of model-zoo weights (then tested like a fit)."""
    if spec is not None and spec.zoo:
        st = Stage(key, "zoo", seed, method, "large", folder)
        if len(exp.arch) != 1:
            raise PruningError(f"large.zoo imports one arch config; the experiment gives {list(exp.arch)}")
        st.args = ["zoo", "--arch", resolve_path(exp.arch[0]), "--out", str(st.ckpt), "--overwrite"]
        st.args += ["--weights", spec.zoo] if spec.zoo != "torchvision" else []
        return st
    st = Stage(key, "fit", seed, method, "large", folder, devices=_devices(exp))
    if spec is not None:
        st.args = fit_args(exp, st, list(spec.configs), spec.args, spec.epochs or base)
    return st


def _arch_args(exp: Experiment, m: MethodSpec, out: Path, base: int | None) -> list[str]:
    """The ``arch`` stage of a preset or guided method (``pruning_lightning.stages.architecture``)."""
    if base is None:
        raise PruningError(f"method {m.name}: a preset/guided architecture needs base_epochs (for Scratch-B)")
    args = ["arch", "--reference", *[resolve_path(p) for p in (*exp.data, *exp.arch)]]
    if m.preset:
        args += ["--preset", resolve_path(m.preset)]
    else:  # every seed's architecture of the method it is guided from, in seed order
        run = RunDir(exp.root)
        args += ["--guided_from", *[str(run.stage(s, m.guided_from, "prune").path) for s in exp.seeds]]
        args += ["--guided_depth", str(m.guided_depth)] if m.guided_depth else []
    args += ["--num_classes", str(exp.num_classes)] if exp.num_classes is not None else []
    args += ["--base_epochs", str(base)]
    args += ["--max_ratio", str(exp.max_ratio_for(m))] if exp.max_ratio_for(m) is not None else []
    return [*args, "--out", str(out), "--overwrite", "true"]


def _devices(exp: Experiment) -> int:
    d = exp.trainer.get("devices", 1)
    n = int(exp.trainer.get("num_nodes", 1))
    return (int(d) if isinstance(d, int) or (isinstance(d, str) and d.isdigit()) else 1) * n


def plan(exp: Experiment) -> list[Stage]:
    """All stages in dependency order (per seed: large -> prune -> regimes); checks every dependency."""
    run = RunDir(exp.root)
    stages: list[Stage] = []
    if exp.large is None and any(m.kind == "prune" and m.large is None for m in exp.methods):
        raise PruningError("methods with a prune config need the large stage; set `large:` (or use preset methods)")
    base = exp.base_epochs if exp.base_epochs is not None else (exp.large.epochs if exp.large else None)
    for seed in exp.seeds:
        folder = run.stage(seed, None, "large").path
        large = _large(exp, f"seed{seed}/large", seed, None, folder, exp.large, base)
        if exp.large is not None:
            stages.append(large)
        shared_large = large
        own: list[tuple[StageSpec, Stage]] = []  # methods' own large models; an identical spec trains once
        for m in exp.methods:
            large = shared_large
            if m.large is not None:  # the method's own large model, in its folder (the first method's if shared)
                same = [st for spec, st in own if spec == m.large]
                if same:
                    large = same[0]
                else:
                    folder = run.stage(seed, m.name, "large").path
                    large = _large(exp, f"seed{seed}/{m.name}/large", seed, m.name, folder, m.large, base)
                    own.append((m.large, large))
                    stages.append(large)
            pdir = run.stage(seed, m.name, "prune").path
            prune = Stage(
                f"seed{seed}/{m.name}/prune", m.kind, seed, m.name, "prune", pdir, info={"ratio": method_ratio(m)}
            )
            if m.kind == "prune":
                prune.deps = (large.key,)
                # The experiment's data configs come first: ThiNet and regression sample training images from
                # them (a method that needs no data never builds the data module).
                prune.args = ["prune", *[a for c in exp.data for a in ("--config", resolve_path(c))]]
                prune.args += overrides({k: v for k, v in flatten("", exp.args).items() if k.startswith("data.")})
                prune.args += [
                    "--config",
                    resolve_path(m.prune),  # type: ignore[arg-type]
                    "--ckpt",
                    str(large.ckpt),
                    "--out",
                    str(pdir),
                    "--overwrite",
                    "true",
                ]
                if base is not None:
                    prune.args += ["--base_epochs", str(base)]
                if exp.max_ratio_for(m) is not None:
                    prune.args += ["--max_ratio", str(exp.max_ratio_for(m))]
                prune.args += overrides(m.args)
            else:
                prune.args = _arch_args(exp, m, pdir, base)
            if m.kind == "guided":
                src = exp.method(m.guided_from)  # type: ignore[arg-type]
                if src.kind == "guided":
                    raise PruningError(f"method {m.name}: guided_from must name a pruned method, not {src.name}")
                prune.deps = tuple(f"seed{s}/{src.name}/prune" for s in exp.seeds)
            stages.append(prune)
            for rname in m.regimes if m.regimes is not None else tuple(exp.regimes):
                if rname not in exp.regimes:
                    raise PruningError(f"method {m.name} lists regime {rname!r}, not in regimes {sorted(exp.regimes)}")
                r = exp.regimes[rname]
                if r.needs_weights and m.kind != "prune":
                    raise PruningError(
                        f"regime {rname} inherits trained weights but method {m.name} is a {m.kind} architecture "
                        "without weights; drop that regime for it (methods[].regimes)"
                    )
                where = {"artifact": str(pdir), "large": str(large.dir)}
                text = json.dumps([r.configs, r.args])
                deps = [prune.key] if "{artifact}" in text else []
                if "{large}" in text:
                    if exp.large is None and m.large is None:
                        raise PruningError(f"regime {rname} uses {{large}} but the experiment has no large stage")
                    deps.append(large.key)
                st = Stage(
                    f"seed{seed}/{m.name}/{rname}",
                    "fit",
                    seed,
                    m.name,
                    rname,
                    run.stage(seed, m.name, rname).path,
                    deps=tuple(deps),
                    devices=_devices(exp),
                )
                epochs = base if r.epochs == "base" else r.epochs
                if r.epochs == "scaled":  # fine-tune: base_epochs at the paper's 40:160 (20:90) ratio
                    spec = getattr(m, "large", None) or exp.large
                    first = [*exp.data, *exp.arch]  # read as the fit reads them: after the data and arch configs
                    epochs = scaled_epochs([*first, *r.configs], [*first, *(spec.configs if spec else ())], base)
                if r.epochs == "base" and base is None:
                    raise PruningError(f"regime {rname} trains for base_epochs; set base_epochs or large.epochs")
                st.args = fit_args(
                    exp,
                    st,
                    [_fill(c, where) for c in r.configs],
                    {k: _fill(v, where) if isinstance(v, str) else v for k, v in r.args.items()},
                    epochs if isinstance(epochs, int) else None,
                )
                stages.append(st)
    return _topological(stages)


def _topological(stages: list[Stage]) -> list[Stage]:
    """Stable order with every dependency first (a guided method waits for all seeds' prunes)."""
    ordered: list[Stage] = []
    done: set[str] = set()
    pending = list(stages)
    while pending:
        nxt = next((s for s in pending if all(d in done for d in s.deps)), None)
        if nxt is None:
            raise PruningError(f"stage dependencies form a cycle or name no stage: {[s.key for s in pending]}")
        ordered.append(nxt)
        done.add(nxt.key)
        pending.remove(nxt)
    return ordered
