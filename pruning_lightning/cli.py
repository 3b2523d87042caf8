"""The LightningCLI of the ``fit``/``validate``/``test`` stages (stages are configs, not scripts).

:class:`PruningCLI` adds what this project's stages need to Lightning's CLI: the data -> arch class-count
link, outputs in the stage folder, a checked configuration, and the checkpoint rules (explicit beats
implicit). :func:`cli_main` is its in-process entry point; the console command and the pipeline reach
it through :func:`pruning_lightning.stages.run_stage`.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import lightning as L
from jsonargparse import Namespace
from lightning.pytorch.cli import LightningCLI

from pruning_lightning.callbacks.checkpoint import StageCheckpoint
from pruning_lightning.callbacks.console import use_console_defaults
from pruning_lightning.checkpoint import read_torch_file
from pruning_lightning.cli_guard import check_config, watch_outputs
from pruning_lightning.config import check_claim, claimed_num_classes, written_arch
from pruning_lightning.errors import PruningError
from pruning_lightning.models import resolve
from pruning_lightning.modules import ClassificationModule
from pruning_lightning.stage_config import StageConfig, default_wandb_dir, label_wandb


class PruningCLI(LightningCLI):
    """LightningCLI with the data -> arch class-count link, stage-folder outputs and checkpoint checks.

    ``predict`` is removed (this project has no predict step), and the parsed configuration is checked
    (:func:`~pruning_lightning.cli_guard.check_config`) before any class is built; ``check_hardware=False``
    skips the accelerator check (a Slurm submission is checked on a login node).

    ``--ckpt_path`` never silently overrides the configuration: the checkpoint's model configuration is
    the base (prepended by :func:`_model_from_checkpoint`), and anything configured explicitly must agree
    with it (the architecture always; every hyperparameter when resuming a fit, because Lightning
    restores the optimiser and scheduler state of the checkpoint's run).
    """

    check_hardware = True

    def __init__(self, *args: Any, ckpt_hparams: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.ckpt_hparams = ckpt_hparams
        super().__init__(*args, **kwargs)

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {k: v for k, v in LightningCLI.subcommands().items() if k != "predict"}

    def add_arguments_to_parser(self, parser) -> None:  # noqa: ANN001
        parser.link_arguments("data.num_classes", "model.init_args.arch.num_classes", apply_on="instantiate")
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
        """``num_classes`` written in a ``-c`` arch config (presets, prune artifacts): checked against the data."""
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
        label_wandb(self.trainer, self.model, self.datamodule)
        use_console_defaults(self.trainer)

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
            parent = Path(str(ckpt)).resolve().parent
            root = str(parent.parent if parent.name == "checkpoints" else parent)
            cfg.trainer.default_root_dir = root
        root = root or "."
        # Checkpoints go to <default_root_dir>/checkpoints unless set: one predictable place per stage.
        if cfg.get("checkpoint") is not None and not cfg.checkpoint.get("dirpath"):
            cfg.checkpoint.dirpath = os.path.join(root, "checkpoints")
        # Metrics (and config.yaml beside them) in the stage folder; a resumed fit continues metrics.csv.
        logger = cfg.trainer.get("logger")
        if logger is None or logger is True:
            cfg.trainer.logger = Namespace(class_path=STAGE_LOGGER, init_args=Namespace(save_dir=root))
        elif (
            isinstance(logger, Namespace)
            and logger.get("class_path") == STAGE_LOGGER
            and not logger.init_args.get("save_dir")
        ):
            logger.init_args.save_dir = root
        elif isinstance(logger, Namespace):
            default_wandb_dir(logger, root)
        check_config(cfg, self.check_hardware)
        watch_outputs(cfg)


STAGE_LOGGER = "pruning_lightning.loggers.StageCSVLogger"


def _plain(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def check_against_checkpoint(model: Any, ckpt_hparams: dict[str, Any], path: str, resuming: bool) -> None:
    """Explicit beats implicit: what the configuration says must agree with the checkpoint it loads.

    Raises:
        PruningError: the architecture (or module class) differs; or, when ``resuming`` a fit, any
            hyperparameter differs (Lightning would restore the checkpoint's optimiser/LR state anyway).
    """
    hp = dict(ckpt_hparams)
    ckpt_class = hp.pop("_class_path", None)
    ours = f"{type(model).__module__}.{type(model).__qualname__}"
    if ckpt_class and ckpt_class.rsplit(".", 1)[-1] != type(model).__qualname__:
        raise PruningError(
            f"{path} was written by {ckpt_class} but the configuration builds {ours}; drop the model/regime "
            "config to use the checkpoint's, or pass a checkpoint of this regime"
        )
    if "arch" in hp and resolve(hp["arch"]) != model.arch:
        raise PruningError(
            f"{path} holds architecture {resolve(hp['arch']).to_dict()} but the configuration describes "
            f"{model.arch.to_dict()}; drop the arch config to use the checkpoint's, or pass a checkpoint of this "
            "architecture"
        )
    if not resuming:
        return
    own = dict(model.hparams)
    for key, value in hp.items():
        if key in ("arch", "_instantiator") or key not in own:
            continue
        if _plain(own[key]) != _plain(value):
            raise PruningError(
                f"resuming from {path}: model.init_args.{key} is {own[key]!r} in the configuration but "
                f"{value!r} in the checkpoint; a resumed fit continues the checkpoint's run (its optimiser and "
                "LR state), so drop the override, or start a new stage to change it"
            )


def _args_give_arch(args: list[str]) -> bool:
    """Whether the command line or one of its ``-c`` files sets ``model.init_args.arch``."""
    if any(a.startswith(("--model.init_args.arch", "--model.arch")) for a in args):
        return True
    paths = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-c", "--config")]
    try:
        return written_arch(paths) is not None
    except PruningError:  # a file that does not parse: the CLI reports it
        return False


def _model_from_checkpoint(args: list[str]) -> tuple[list[str], dict[str, Any] | None]:
    """With ``--ckpt_path X``, prepend X's model configuration (its pruned arch included) as the base.

    Explicit configuration still parses after it; :func:`check_against_checkpoint` then refuses what
    disagrees with the checkpoint. Returns the arguments and the checkpoint's hparams (``None`` when
    no checkpoint of ours is given).
    """
    if "--ckpt_path" not in args or len(args) < 2:
        return args, None
    path = args[args.index("--ckpt_path") + 1] if args.index("--ckpt_path") + 1 < len(args) else ""
    if path in ("last", "best", "hpc", "registry"):
        return args, None
    ckpt = read_torch_file(path, "checkpoint")
    try:
        hp = dict(ckpt["hyper_parameters"])
    except (KeyError, TypeError) as e:
        raise PruningError(f"{path} is not a pruning-lightning checkpoint (no hyper_parameters)") from e
    hp.pop("_instantiator", None)
    if "_class_path" not in hp:  # not written through this CLI: leave it to Lightning's own handling
        return args, None
    # An architecture given explicitly replaces the checkpoint's whole (a merge of two archs would be neither);
    # check_against_checkpoint then reports the disagreement.
    skip = {"_class_path", "arch"} if _args_give_arch(args) else {"_class_path"}
    init = {k: v for k, v in hp.items() if k not in skip}
    model = {"class_path": hp["_class_path"], "init_args": init}
    return [args[0], "--model", json.dumps(model, default=list), *args[1:]], hp


def cli_main(args: list[str] | None = None, run: bool = True, exit_on_error: bool = True) -> PruningCLI:
    """Run the LightningCLI (in-process entry point used by tests and the pipeline).

    ``exit_on_error=False``: a parse error raises ``ArgumentError`` instead of printing usage and exiting.
    """
    warnings.filterwarnings("ignore", message=".*args parameter is intended.*")
    args, ckpt_hparams = _model_from_checkpoint(list(sys.argv[1:] if args is None else args))

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
        parser_kwargs={"exit_on_error": exit_on_error},
    )
