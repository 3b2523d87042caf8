"""ClassificationModule: the network of an ArchSpec and the data's class count; loss, metrics, SGD + step LR."""

from __future__ import annotations

from typing import Any, cast

import lightning as L
import torch
from torch import nn
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy

from pruning_lightning.callbacks.rng import RestoreRNG
from pruning_lightning.core.errors import PruningError
from pruning_lightning.core.units import ACC_UNIT, percent_checkpoint
from pruning_lightning.models import build_arch, input_size, resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.training.loggers import StageCSVLogger
from pruning_lightning.utils.finite import check_finite, first_nonfinite
from pruning_lightning.utils.flops import count_complexity
from pruning_lightning.utils.schedule import lr_milestones


class PercentAccuracy(MulticlassAccuracy):
    """Top-k accuracy in percent (0-100), the paper's unit: every logged ``*/acc1``, ``*/acc5`` is a percent."""

    def compute(self) -> torch.Tensor:
        return super().compute() * 100.0


class ClassificationModule(L.LightningModule):
    """Image classification on a network described by ``arch``.

    Args:
        arch: the architecture (saved in hparams, so checkpoints rebuild pruned nets).
        num_classes: the class count, the data's: the CLI links ``data.num_classes`` here (saved in hparams
            beside ``arch``).
        lr: initial learning rate (paper: 0.1).
        momentum: SGD momentum (paper code: 0.9, no Nesterov).
        weight_decay: on all parameters (paper: 1e-4).
        lr_milestones: LR steps as fractions of ``trainer.max_epochs`` (CIFAR: 0.5, 0.75).
        lr_gamma: LR factor at each milestone.
        lr_step_every: instead of ``lr_milestones``, step every ``int(f·max_epochs)`` epochs (``"1/3"``:
            the reference ImageNet ``lr·0.1^(epoch // int(E/3))``; see ``utils.schedule.step_every_epochs``).
        channels_last: use NHWC memory format for the network and inputs (GPU fast path).
        compile: ``torch.compile`` the network (off by default: long first step, CPU gains nil).
        fused_optimizer: use PyTorch's fused SGD kernel (CUDA only; same numerics up to rounding).
    """

    # Set in __init__ with object.__setattr__ (not a registered submodule): ``net`` or its compiled wrapper.
    _forward_net: nn.Module

    @property
    def job_type(self) -> str:
        """The W&B job_type when none is configured; each regime module names itself."""
        return "train"

    def __init__(
        self,
        arch: ArchSpec,
        num_classes: int,
        lr: float = 0.1,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        lr_milestones: tuple[float, ...] = (0.5, 0.75),
        lr_gamma: float = 0.1,
        lr_step_every: float | str | None = None,
        channels_last: bool = False,
        compile: bool = False,
        fused_optimizer: bool = False,
    ) -> None:
        super().__init__()
        self.arch = resolve(arch)
        self.save_hyperparameters()
        self.hparams["arch"] = self.arch.to_dict()  # plain data: checkpoints load with weights_only=True
        self.num_classes = num_classes
        self.net = build_arch(self.arch, num_classes)
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        # Not registered as a submodule: a compiled wrapper would duplicate every weight in checkpoints.
        object.__setattr__(self, "_forward_net", torch.compile(self.net) if compile else self.net)
        self.criterion = nn.CrossEntropyLoss()
        k5 = min(5, num_classes)
        # Top-1 while training (cheap: the per-step cost matters on small CPU steps), top-1/top-5 on eval.
        # validate_args=False: inputs are our own logits, and the checks cost a host sync per update.
        self.metrics = nn.ModuleDict(
            {
                f"{stage}_acc{k}": PercentAccuracy(num_classes, top_k=k, average="micro", validate_args=False)
                for stage in ("train", "val", "test")
                for k in sorted({1, k5})
                if stage != "train" or k == 1
            }
        )
        self.best_val_acc1 = 0.0
        self.best_val_epoch: int | None = None  # 1-based epoch of best_val_acc1 (for the end-of-fit summary)
        self._train_sums: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.hparams["channels_last"]:
            x = x.contiguous(memory_format=torch.channels_last)
        return self._forward_net(x)

    def compute_loss(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Training objective (cross-entropy; distillation regimes override)."""
        return self.criterion(logits, y)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> None:
        x, y = batch
        logits = self(x)
        self.log(f"{stage}/loss", self.criterion(logits, y), on_epoch=True, prog_bar=True, sync_dist=True)
        for name, metric in self.metrics.items():
            if name.startswith(stage + "_"):
                metric(logits, y)
                key = f"{stage}/{name.split('_', 1)[1]}"
                self.log(key, cast(Metric, metric), on_step=False, on_epoch=True, prog_bar=key.endswith("acc1"))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        if self._trainer is not None and self.trainer.optimizers:  # the LR this step uses, for a divergence message
            self._step_lr = self.trainer.optimizers[0].param_groups[0]["lr"]
        logits = self(x)
        loss = self.compute_loss(logits, x, y)
        if not bool(torch.isfinite(loss)):  # divergence stops the run at once (no NaN checkpoint follows)
            self._diverged(f"non-finite training loss ({float(loss)})")
        # Each self.log call costs ~1 ms of bookkeeping, several % of a small CPU step: accumulate the
        # epoch statistics here and log them once per epoch; the step loss every log_every_n_steps.
        with torch.no_grad():
            cast(Metric, self.metrics["train_acc1"]).update(logits, y)
            sums = torch.stack([loss.detach().float() * len(y), loss.new_tensor(float(len(y)))])
            self._train_sums = sums if self._train_sums is None else self._train_sums + sums
        if batch_idx % self.trainer.log_every_n_steps == 0:  # type: ignore[attr-defined]  # set at runtime by Lightning's logger connector
            self.log("train/loss_step", loss.detach(), on_step=True, on_epoch=False, prog_bar=True)
        return loss

    def on_train_epoch_end(self) -> None:
        if self._train_sums is not None:
            self.log("train/loss_epoch", self._train_sums[0] / self._train_sums[1], sync_dist=True)
            self._train_sums = None
        acc = cast(Metric, self.metrics["train_acc1"])
        if acc.update_count:
            self.log("train/acc1", acc.compute(), prog_bar=True)  # torchmetrics syncs across ranks itself
        acc.reset()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "test")

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        acc = self.trainer.callback_metrics.get("val/acc1")
        if acc is not None:
            if self.best_val_epoch is None or float(acc) > self.best_val_acc1:
                self.best_val_epoch = self.current_epoch + 1
            self.best_val_acc1 = max(self.best_val_acc1, float(acc))
            self.log("val/acc1_best", self.best_val_acc1, sync_dist=True)

    def on_train_start(self) -> None:
        # After the checkpoint restore: a resumed fit continues metrics.csv from the epoch it reruns.
        for logger in self.loggers:
            if isinstance(logger, StageCSVLogger):
                # Lightning annotates ``current`` as the base tracker; the epoch progress holds a _ProcessedTracker.
                logger.continue_at(self.trainer.fit_loop.epoch_progress.current.processed)  # type: ignore[attr-defined]

    def on_fit_start(self) -> None:
        stats = count_complexity(self.net, input_size(self.arch))
        for logger in self.loggers:
            logger.log_hyperparams({"model/params": stats.params, "model/flops": stats.flops, "model/macs": stats.macs})

    def _diverged(self, what: str) -> None:
        t = self.trainer
        # The LR of the last training step: at a checkpoint the epoch's scheduler step may already have lowered it.
        lr = getattr(self, "_step_lr", None)
        if lr is None:
            lr = t.optimizers[0].param_groups[0]["lr"] if t.optimizers else self.hparams["lr"]
        raise PruningError(
            f"{type(self).__name__} diverged: {what} at epoch {t.current_epoch + 1}, step {t.global_step}, lr {lr:g} "
            f"(stage {t.default_root_dir}); no checkpoint holds this state; lower the learning rate and rerun"
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        bad = first_nonfinite(checkpoint["state_dict"])
        if bad is not None:  # never write NaN/Inf as last or best
            self._diverged(f"non-finite parameter {bad}")
        checkpoint["best_val_acc1"] = self.best_val_acc1
        checkpoint["acc_unit"] = ACC_UNIT
        checkpoint["best_val_epoch"] = self.best_val_epoch

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        path = getattr(self._trainer, "ckpt_path", None) if self._trainer is not None else None
        check_finite(checkpoint.get("state_dict", {}), f"checkpoint {path or ''}".rstrip())
        percent_checkpoint(checkpoint)  # a checkpoint from before accuracies were percent: converted in place
        self.best_val_acc1 = float(checkpoint.get("best_val_acc1", 0.0))
        self.best_val_epoch = checkpoint.get("best_val_epoch")

    def configure_callbacks(self) -> list[L.Callback]:
        # Exact resume: model-side RNG (dropout) continues where the checkpoint left it.
        return [RestoreRNG()]

    def configure_optimizers(self) -> Any:
        opt = torch.optim.SGD(
            self.parameters(),
            lr=self.hparams["lr"],
            momentum=self.hparams["momentum"],
            weight_decay=self.hparams["weight_decay"],
            fused=True if self.hparams["fused_optimizer"] else None,
        )
        every = self.hparams.get("lr_step_every")
        if not self.hparams["lr_milestones"] and every is None:
            return opt
        max_epochs = self.trainer.max_epochs
        if max_epochs is None:  # Lightning resolves it before configure_optimizers in fit
            raise PruningError("the LR milestones are fractions of trainer.max_epochs, which is not set")
        milestones = lr_milestones(self.hparams["lr_milestones"], every, max_epochs)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=self.hparams["lr_gamma"])
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
