"""What a stage records about itself, whatever the logger.

* :class:`StageConfig` writes the resolved ``config.yaml`` into the stage folder
  (``trainer.default_root_dir``), not into the logger's directory: with a ``WandbLogger`` that
  directory is its ``save_dir``, which several stages may share, so each stage silently replaced
  the previous stage's file. It also logs to every non-CSV logger (W&B, TensorBoard) the settings
  that change the result and are not model hyperparameters: the seed, the trainer's budget, the
  callbacks (sparsity strength ``s`` included), the data settings and the artifact the stage
  starts from.
* :func:`label_wandb` gives a ``WandbLogger`` without ``job_type``/``group`` the module's own
  ``job_type`` (``large``, ``finetune``, ``scratch_e``, ``scratch_b``, ``*_kd``, ``lottery``) and a
  group derived from the dataset and network (``WANDB_RUN_GROUP`` still wins).
"""

from __future__ import annotations

import os
from typing import Any

from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import CSVLogger, WandbLogger

TRAINER_KEYS = ("max_epochs", "max_steps", "precision", "accumulate_grad_batches", "gradient_clip_val", "devices",
                "num_nodes", "limit_train_batches")  # fmt: skip


def _short(class_path: str) -> str:
    return str(class_path).rsplit(".", 1)[-1]


def result_config(config: dict[str, Any], model: Any) -> dict[str, Any]:
    """The settings outside the model's hparams that change a run's result, flattened for a logger."""
    out: dict[str, Any] = {"seed": config.get("seed_everything")}
    trainer = config.get("trainer") or {}
    for k in TRAINER_KEYS:
        if trainer.get(k) is not None:
            out[f"trainer/{k}"] = trainer[k]
    for cb in trainer.get("callbacks") or []:
        if isinstance(cb, dict) and cb.get("class_path"):
            out[f"callbacks/{_short(cb['class_path'])}"] = dict(cb.get("init_args") or {})
    data = config.get("data") or {}
    if isinstance(data, dict) and data.get("class_path"):
        out["data/class"] = _short(data["class_path"])
        out.update({f"data/{k}": v for k, v in (data.get("init_args") or {}).items()})
    arch = getattr(model, "arch", None)
    if arch is not None:
        out["arch/widths"] = list(arch.cfg or [])
        out["arch/name"] = f"{arch.family}-{arch.depth}"
    artifact = getattr(model, "artifact_path", None)
    if artifact:
        out["artifact"] = str(artifact)
    return out


class StageConfig(SaveConfigCallback):
    """``config.yaml`` in ``trainer.default_root_dir`` (the stage folder) for every logger."""

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if self.already_saved:
            return
        root = trainer.strategy.broadcast(str(trainer.default_root_dir))
        if trainer.is_global_zero:
            os.makedirs(root, exist_ok=True)
            path = os.path.join(root, self.config_filename)
            self.parser.save(self.config, path, skip_none=False, overwrite=self.overwrite, multifile=self.multifile)
            self.save_config(trainer, pl_module, stage)
            self.already_saved = True
        self.already_saved = trainer.strategy.broadcast(self.already_saved)

    def save_config(self, trainer: Any, pl_module: Any, stage: str) -> None:
        loggers = [lg for lg in trainer.loggers if not isinstance(lg, CSVLogger)]
        if not loggers:
            return
        values = result_config(self.config.as_dict(), pl_module)
        for lg in loggers:
            lg.log_hyperparams(values)


def label_wandb(trainer: Any, model: Any, datamodule: Any) -> None:
    """Default ``job_type`` (the module's) and ``group`` (dataset-network) of a not yet started W&B run."""
    for lg in trainer.loggers:
        init = getattr(lg, "_wandb_init", None)
        if not isinstance(lg, WandbLogger) or lg._experiment is not None or init is None:
            continue
        if not init.get("job_type"):
            init["job_type"] = getattr(model, "job_type", "train")
        if not init.get("group") and not os.environ.get("WANDB_RUN_GROUP"):
            arch = getattr(model, "arch", None)
            data = getattr(datamodule, "name", None) or type(datamodule).__name__.removesuffix("DataModule").lower()
            init["group"] = f"{data}-{arch.family}{arch.depth}" if arch is not None else data


def default_wandb_dir(logger: Any, root: str) -> None:
    """A configured ``WandbLogger`` without ``save_dir`` writes its files into the stage folder ``root``."""
    if str(logger.get("class_path")).endswith("WandbLogger") and logger.init_args.get("save_dir") in (None, "."):
        logger.init_args.save_dir = root
