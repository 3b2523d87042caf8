"""``pipeline EXP -c LOGGER.yaml``: a logger config given on the command line applies to every stage.

The file is read by jsonargparse like any ``-c`` file and may hold ``trainer.logger`` only (other settings
change what is trained and belong in the experiment file). A ``WandbLogger`` becomes the experiment's
``wandb:`` key, so every stage gets its labelled run (group = experiment, job_type = stage, lineage);
``CSVLogger`` / ``StageCSVLogger`` is what every stage writes anyway (``metrics.csv`` beside any logger).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jsonargparse import ArgumentParser

from pruning_lightning.cli.parser_mode import ConfigFile, parser_mode
from pruning_lightning.core.errors import PruningError, condense
from pruning_lightning.pipeline.schema import Experiment, WandbSpec

_SPEC_KEYS = {"project", "entity", "tags", "mode"}
_IGNORED = {"save_dir", "dir", "name", "group", "job_type", "id", "version", "log_model", "resume"}  # set per stage


def _read(path: str) -> Any:
    p = ArgumentParser(exit_on_error=False, parser_mode=parser_mode())
    p.add_argument("-c", "--config", action=ConfigFile)
    p.add_argument("--trainer.logger", type=Any, default=None)
    try:
        ns = p.parse_args(["--config", path], defaults=False)
    except Exception as e:  # ArgumentError: a missing file, or a key other than trainer.logger
        raise PruningError(
            f"pipeline -c {path}: {condense(str(e))}; -c takes logger configs (trainer.logger, e.g. "
            "configs/logger/wandb.yaml); put other settings in the experiment file"
        ) from None
    logger = ns.get("trainer.logger")
    return logger.as_dict() if hasattr(logger, "as_dict") else logger


def with_logger_configs(exp: Experiment, paths: list[str]) -> Experiment:
    """``exp`` with the loggers of ``paths`` applied to every stage (later files win)."""
    for path in paths:
        logger = _read(path)
        if not isinstance(logger, dict) or not logger.get("class_path"):
            raise PruningError(f"pipeline -c {path}: give trainer.logger a class_path (WandbLogger or CSVLogger)")
        cls = str(logger["class_path"]).rsplit(".", 1)[-1]
        args = dict(logger.get("init_args") or {})
        if cls in ("CSVLogger", "StageCSVLogger"):
            continue  # every stage writes metrics.csv in its folder already
        if cls != "WandbLogger":
            raise PruningError(f"pipeline -c {path}: {cls} is not supported for a whole study; use WandbLogger or CSV")
        base = exp.wandb or WandbSpec()
        spec = {k: args[k] for k in _SPEC_KEYS if k in args}
        spec["tags"] = tuple(spec.get("tags") or base.tags)
        options = {**base.options, **{k: v for k, v in args.items() if k not in _SPEC_KEYS | _IGNORED}}
        exp = dataclasses.replace(exp, wandb=dataclasses.replace(base, **spec, options=options))
    return exp
