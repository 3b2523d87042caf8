"""The LightningCLI of the ``fit``/``validate``/``test`` stages (stages are configs, not scripts).

:class:`PruningCLI` adds what this project's stages need to Lightning's CLI: the data -> arch class-count
link, outputs in the stage folder, a checked configuration, and the checkpoint rules (explicit beats
implicit). :func:`cli_main` is its in-process entry point; the console command and the pipeline reach
it through :func:`pruning_lightning.stages.run_stage`.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import lightning as L
from jsonargparse import Namespace
from lightning.pytorch.cli import LightningCLI

from pruning_lightning.callbacks.checkpoint import StageCheckpoint
from pruning_lightning.callbacks.console import fit_summary, use_console_defaults
from pruning_lightning.cli.config import check_claim, claimed_num_classes
from pruning_lightning.cli.parser_mode import ConfigFile, parser_mode
from pruning_lightning.cli.resume import (
    Resolved,
    check_against_checkpoint,
    check_fresh_folder,
    check_schedule,
    model_from_checkpoint,
    resolve_alias,
    take_overwrite,
    with_ckpt_path,
)
from pruning_lightning.core import console_once
from pruning_lightning.formats.run_dir import StageDir
from pruning_lightning.modules import ClassificationModule
from pruning_lightning.training.cli_guard import OutputGuard, check_config
from pruning_lightning.training.stage_config import StageConfig, default_wandb_dir, label_wandb
from pruning_lightning.training.trainer import StageTrainer


class PruningCLI(LightningCLI):
    """LightningCLI with the data -> arch class-count link, stage-folder outputs and checkpoint checks.

    ``predict`` is removed (this project has no predict step), and the parsed configuration is checked
    (:func:`~pruning_lightning.training.cli_guard.check_config`) before any class is built; ``check_hardware=False``
    skips the accelerator check (a Slurm submission is checked on a login node).

    ``--ckpt_path`` never silently overrides the configuration: the checkpoint's model configuration is
    the base (prepended by :func:`_model_from_checkpoint`), and anything configured explicitly must agree
    with it (the architecture always; every hyperparameter when resuming a fit, because Lightning
    restores the optimiser and scheduler state of the checkpoint's run).
    """

    check_hardware = True
    check_outputs = True  # resolve ckpt_path aliases, refuse a fit over another run (off: parse-only preflight)

    def __init__(
        self,
        *args: Any,
        ckpt_hparams: dict[str, Any] | None = None,
        milestones: list[int] | None = None,
        overwrite: bool = False,
        resolved: bool = False,
        guard: OutputGuard | None = None,
        **kwargs: Any,
    ) -> None:
        self.ckpt_hparams, self.milestones = ckpt_hparams, milestones
        self.overwrite, self.resolved, self.guard = overwrite, resolved, guard
        self.replaced: list[Path] = []
        kwargs.setdefault("trainer_class", StageTrainer)  # limit_*_batches: 1 is one batch, not 100 %
        super().__init__(*args, **kwargs)

    def init_parser(self, **kwargs: Any) -> Any:
        """Lightning's parser, its ``-c`` files read by the one reader (:mod:`pruning_lightning.cli.parser_mode`)."""
        kwargs.setdefault("dump_header", [f"lightning.pytorch=={L.pytorch.__version__}"])  # as Lightning's
        parser = self.parser_class(**{**kwargs, "parser_mode": parser_mode(lightning=True)})
        parser.add_argument(
            "-c", "--config", action=ConfigFile, help="Path to a configuration file in json or yaml format."
        )
        return parser

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {k: v for k, v in LightningCLI.subcommands().items() if k != "predict"}

    def add_arguments_to_parser(self, parser) -> None:  # noqa: ANN001
        parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")
        # Checkpointing has its own key so that trainer.callbacks stays free for sparsity callbacks.
        parser.add_lightning_class_args(StageCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.save_last": True,
                "checkpoint.monitor": "val/acc1",
                "checkpoint.mode": "max",
                "checkpoint.filename": "best",
                "checkpoint.auto_insert_metric_name": False,
            }
        )

    def _parse_ckpt_path(self) -> None:
        # Lightning's version parses the checkpoint's hparams *over* the command line, so a checkpoint
        # silently beat explicit settings. Ours: the checkpoint is the base, conflicts are errors.
        return

    def _claimed_num_classes(self) -> tuple[int, str] | None:
        """``model.init_args.num_classes`` of a ``-c`` arch config (presets, artifacts): checked against the data."""
        cfg = self.config.get(self.subcommand) if self.subcommand else self.config
        if cfg is None:
            return None
        classes = {k: cfg.get(f"{k}.class_path") for k in ("model", "data")}  # maybe from the command line
        return claimed_num_classes([str(p) for p in cfg.get("config") or [] if p is not None], classes)  # None: inline

    def instantiate_classes(self) -> None:
        claimed = self._claimed_num_classes()
        super().instantiate_classes()
        data_classes = getattr(self.datamodule, "num_classes", None)
        if data_classes is not None:
            check_claim(claimed, data_classes)
        if self.ckpt_hparams is not None:
            check_against_checkpoint(self.model, self.ckpt_hparams, self._ckpt_path(), self.subcommand == "fit")
            if self.subcommand == "fit":
                check_schedule(self.model, self.trainer.max_epochs, self.milestones, self._ckpt_path())
        for old in self.replaced:  # --overwrite: every check passed, the previous run's checkpoints go
            old.unlink(missing_ok=True)
        if self.replaced:
            print(f"[fit] --overwrite: removed {len(self.replaced)} checkpoint(s) of the previous run")
        label_wandb(self.trainer, self.model, self.datamodule)
        use_console_defaults(self.trainer)

    def after_fit(self) -> None:
        if self.trainer.is_global_zero:  # validation is the test split unless the data config holds one out
            print(fit_summary(self.trainer, self.model))

    def _ckpt_path(self) -> str:
        cfg = self.config.get(self.subcommand) if self.subcommand else self.config
        return str(cfg.get("ckpt_path")) if cfg is not None else "?"

    def before_instantiate_classes(self) -> None:
        cfg = self.config.get(self.subcommand) if self.subcommand else self.config
        if cfg is None:
            return
        root = cfg.trainer.get("default_root_dir")
        ckpt = cfg.get("ckpt_path")
        if not root and ckpt and self.subcommand in ("test", "validate"):
            # Evaluating a stage's checkpoint: outputs go to that stage's folder, not the working directory.
            root = str(StageDir.of_checkpoint(ckpt).path)
            cfg.trainer.default_root_dir = root
        root = root or "."
        stage = StageDir(Path(root))  # where this run writes (formats/run_dir.py owns the layout)
        # Checkpoints go to <default_root_dir>/checkpoints unless set: one predictable place per stage.
        if cfg.get("checkpoint") is not None and not cfg.checkpoint.get("dirpath"):
            cfg.checkpoint.dirpath = str(stage.checkpoints)
        dirpath = str((cfg.get("checkpoint") or {}).get("dirpath") or stage.checkpoints)
        if self.check_outputs and ckpt is not None and self.ckpt_hparams is None and not self.resolved:
            resolve_alias(ckpt, dirpath, self.subcommand == "fit")  # raises Resolved: parsed again with the file
        if self.check_outputs and self.subcommand == "fit":
            self.replaced = check_fresh_folder(root, dirpath, ckpt, self.overwrite)
        # Metrics (and config.yaml beside them) in the stage folder; a resumed fit continues metrics.csv.
        logger = current_logger_paths(cfg.trainer.get("logger"))
        if logger is None or logger is True:
            cfg.trainer.logger = Namespace(class_path=STAGE_LOGGER, init_args=Namespace(save_dir=root))
        elif (
            isinstance(logger, Namespace)
            and logger.get("class_path") == STAGE_LOGGER
            and not logger.init_args.get("save_dir")
        ):
            logger.init_args.save_dir = root
        else:
            cfg.trainer.logger = with_stage_csv(logger, root)
        check_config(cfg, self.check_hardware)
        if self.guard is not None:  # the console's or the pipeline's guard: a failed run undoes what it wrote
            self.guard.watch_config(cfg)


STAGE_LOGGER = "pruning_lightning.training.loggers.StageCSVLogger"
CSV_LOGGERS = (STAGE_LOGGER, "lightning.pytorch.loggers.CSVLogger", "lightning.pytorch.loggers.csv_logs.CSVLogger")
# The path config.yaml files written before the package was grouped by layer give it (pruning_lightning/loggers.py).
OLD_STAGE_LOGGER = "pruning_lightning.loggers.StageCSVLogger"


def current_logger_paths(logger: Any) -> Any:
    """``logger`` with the stage logger named by its current path (an old saved config.yaml names the old one)."""
    for lg in logger if isinstance(logger, list) else [logger]:
        if isinstance(lg, Namespace) and lg.get("class_path") == OLD_STAGE_LOGGER:
            lg.class_path = STAGE_LOGGER
    return logger


def with_stage_csv(logger: Any, root: str) -> Any:
    """Any configured logger(s) plus the stage's ``metrics.csv`` (``report`` reads it); ``false`` stays off."""
    if not isinstance(logger, (Namespace, list)):
        return logger
    loggers = list(logger) if isinstance(logger, list) else [logger]
    for lg in loggers:
        if isinstance(lg, Namespace):
            default_wandb_dir(lg, root)
    if any(isinstance(lg, Namespace) and lg.get("class_path") in CSV_LOGGERS for lg in loggers):
        return logger
    return [*loggers, Namespace(class_path=STAGE_LOGGER, init_args=Namespace(save_dir=root))]


def cli_main(
    args: list[str] | None = None, run: bool = True, exit_on_error: bool = True, guard: OutputGuard | None = None
) -> PruningCLI:
    """Run the LightningCLI (in-process entry point used by tests and the pipeline).

    ``exit_on_error=False``: a parse error raises ``ArgumentError`` instead of printing usage and exiting.
    ``guard``: shown the folders the run writes (see :mod:`pruning_lightning.training.cli_guard`).
    """
    warnings.filterwarnings("ignore", message=".*args parameter is intended.*")
    console_once.install()
    args = list(sys.argv[1:] if args is None else args)
    args, overwrite = take_overwrite(args) if args[:1] == ["fit"] else (args, False)
    try:
        return _cli(args, run, exit_on_error, overwrite, resolved=False, guard=guard)
    except Resolved as r:  # ckpt_path was an alias or came from a file: parse again with the file it names
        return _cli(with_ckpt_path(args, r.path), run, exit_on_error, overwrite, resolved=True, guard=guard)


def _cli(
    args: list[str], run: bool, exit_on_error: bool, overwrite: bool, resolved: bool, guard: OutputGuard | None
) -> PruningCLI:
    args, ckpt_hparams, milestones = model_from_checkpoint(args)
    return PruningCLI(
        ClassificationModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=args,
        run=run,
        save_config_callback=StageConfig,
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
        ckpt_hparams=ckpt_hparams,
        milestones=milestones,
        overwrite=overwrite,
        resolved=resolved,
        guard=guard,
        # No prefix abbreviations: a misspelt --trainer.max_epoch is an error, not max_epochs.
        parser_kwargs={
            "exit_on_error": exit_on_error,
            "allow_abbrev": False,
            **{c: {"allow_abbrev": False} for c in ("fit", "validate", "test")},
        },
    )
