"""Command line: ``pruning-lightning {fit,validate,test,prune,info,demo}``.

``fit``/``validate``/``test`` are LightningCLI subcommands (stages are configs, not scripts);
``prune``, ``info`` and ``demo`` are our own commands. Every user-facing error is one line on
stderr and exit status 2.
"""

from __future__ import annotations

import os
import sys
import warnings

from lightning.pytorch.cli import LightningCLI

from pruning_lightning.errors import PruningError

COMMANDS = ("prune", "info", "demo", "pipeline", "report")


class PruningCLI(LightningCLI):
    """LightningCLI with the data -> arch class-count link."""

    def add_arguments_to_parser(self, parser) -> None:  # noqa: ANN001
        from lightning.pytorch.callbacks import ModelCheckpoint

        parser.link_arguments("data.num_classes", "model.init_args.arch.num_classes", apply_on="instantiate")
        # Checkpointing has its own key so that trainer.callbacks stays free for sparsity callbacks.
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.save_last": True,
                "checkpoint.monitor": "val/acc1",
                "checkpoint.mode": "max",
                "checkpoint.filename": "best",
                "checkpoint.auto_insert_metric_name": False,
            }
        )

    def _configured_num_classes(self) -> tuple[int, str] | None:
        """``num_classes`` written in an arch config file (presets, prune artifacts), if any, and that file."""
        import yaml

        cfg = self.config.get(self.subcommand) if self.subcommand else self.config
        found = None
        for path in (cfg.get("config") or []) if cfg is not None else []:
            try:
                with open(str(path)) as f:
                    doc = yaml.safe_load(f) or {}
            except OSError:
                continue
            arch = ((doc.get("model") or {}).get("init_args") or {}).get("arch") if isinstance(doc, dict) else None
            if isinstance(arch, dict) and arch.get("num_classes") is not None:
                found = (int(arch["num_classes"]), str(path))
        return found

    def instantiate_classes(self) -> None:
        claimed = self._configured_num_classes()
        super().instantiate_classes()
        data_classes = getattr(self.datamodule, "num_classes", None)
        if claimed is not None and data_classes is not None and claimed[0] != data_classes:
            raise PruningError(
                f"{claimed[1]} describes a {claimed[0]}-class network but the data module has {data_classes} "
                "classes; use a preset or artifact made for this dataset (or remove num_classes from a copy)"
            )

    def before_instantiate_classes(self) -> None:
        # Checkpoints go to <default_root_dir>/checkpoints unless set: one predictable place per stage
        # (Lightning's default nests them under the logger's version folder).
        cfg = self.config.get(self.subcommand) if self.subcommand else self.config
        if cfg is not None and cfg.get("checkpoint") is not None and not cfg.checkpoint.get("dirpath"):
            root = cfg.trainer.get("default_root_dir") or "."
            cfg.checkpoint.dirpath = os.path.join(root, "checkpoints")


def _model_from_checkpoint(args: list[str]) -> list[str]:
    """With ``--ckpt_path X`` and no model given, take the model (and its pruned arch) from X's hparams.

    LightningCLI only reads checkpoint hparams after the command line parsed, which fails when the
    architecture is not repeated on the command line; we prepend them so explicit configs still win.
    """
    if "--ckpt_path" not in args or len(args) < 2:
        return args
    path = args[args.index("--ckpt_path") + 1] if args.index("--ckpt_path") + 1 < len(args) else ""
    if any(a.startswith("--model") for a in args) or path == "last":
        return args
    import json

    from pruning_lightning.checkpoint import read_torch_file

    ckpt = read_torch_file(path, "checkpoint")
    try:
        hp = dict(ckpt["hyper_parameters"])
    except (KeyError, TypeError) as e:
        raise PruningError(f"{path} is not a pruning-lightning checkpoint (no hyper_parameters)") from e
    hp.pop("_instantiator", None)
    if "_class_path" not in hp:  # not written through this CLI: leave it to Lightning's own handling
        return args
    model = {"class_path": hp.pop("_class_path"), "init_args": hp}
    return [args[0], "--model", json.dumps(model), *args[1:]]


def cli_main(args: list[str] | None = None, run: bool = True) -> PruningCLI:
    """Run the LightningCLI (in-process entry point used by tests and the pipeline)."""
    import lightning as L

    from pruning_lightning.modules import ClassificationModule

    warnings.filterwarnings("ignore", message=".*args parameter is intended.*")
    args = _model_from_checkpoint(list(sys.argv[1:] if args is None else args))

    return PruningCLI(
        ClassificationModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=args,
        run=run,
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
    )


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("WANDB_SILENT", "true")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    try:
        if argv and argv[0] in COMMANDS:
            from importlib import import_module

            import_module(f"pruning_lightning.commands.{argv[0]}").main(argv[1:])
        else:
            cli_main(argv)
    except Exception as e:
        # jsonargparse wraps errors raised while instantiating classes; show ours as one line.
        cause: BaseException | None = e
        while cause is not None and not isinstance(cause, PruningError):
            cause = cause.__cause__ or cause.__context__
        if cause is None:
            raise
        print(f"error: {cause}", file=sys.stderr)
        raise SystemExit(2) from None
