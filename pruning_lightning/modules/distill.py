"""Knowledge distillation as a recovery regime: the large model teaches the pruned network.

Hinton et al. (2015) applied to the paper's regimes (arXiv 1810.05270 Sec. 3): the trained large model is
a frozen teacher and the pruned network the student, trained on

    loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, y)

``T^2`` keeps the soft term's gradient scale independent of ``T``. Both starting points of the
paper are covered: inherited weights (``DistillFineTuneModule``: fine-tune + KD) and a fresh init
(``DistillScratchModule``: Scratch-E + KD and Scratch-B + KD). Scratch-B's epoch budget still counts
the *student's* FLOPs only; the teacher's extra forward cost is logged separately as hparams
(``distill/teacher_flops``, ``distill/student_flops``, ``distill/teacher_student_flops_ratio``).

Where the teacher lives: a plain attribute outside ``nn.Module`` registration, so it is not in
``state_dict``/checkpoints, not in ``parameters()`` (optimizer, weight decay), not wrapped or
synchronised by DDP (every rank loads its own copy in ``setup``), and not converted by Lightning's
precision plugins. It is moved lazily to the student's device and parameter dtype at its first
forward; under mixed precision it runs inside the same autocast region as the student.

Deviations from the reference code: the paper has no distillation; this is an added regime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models import input_size
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.modules.base import ClassificationModule
from pruning_lightning.modules.regimes import FineTuneModule, ScratchModule
from pruning_lightning.modules.teacher import check_kd_args, kd_terms, load_teacher
from pruning_lightning.utils.flops import count_complexity

if TYPE_CHECKING:
    _DistillHost = ClassificationModule
else:
    _DistillHost = object


class _Distill(_DistillHost):
    """Mixin for a regime module: teacher loading, the KD objective, teacher-cost hparams."""

    teacher_path: str
    temperature: float
    alpha: float
    teacher_arch: ArchSpec | None
    teacher: nn.Module | None  # a plain attribute (object.__setattr__), never a registered submodule

    @property
    def job_type(self) -> str:
        """The regime's own job_type with ``_kd`` appended (``finetune_kd``, ``scratch_e_kd``, ...)."""
        return f"{super().job_type}_kd"

    def _init_distill(self, teacher: str, temperature: float, alpha: float) -> None:
        # Checked in attach_teacher (setup), not here: jsonargparse wraps errors raised while it
        # instantiates the model into a ValueError, which would hide the one-line PruningError.
        self.teacher_path, self.temperature, self.alpha = teacher, float(temperature), float(alpha)
        self.teacher_arch = None
        object.__setattr__(self, "teacher", None)  # plain attribute: never a registered submodule

    def attach_teacher(self, datamodule: Any = None) -> nn.Module:
        """Check T and alpha, load (once) and check the teacher; a plain attribute, on CPU until first use."""
        check_kd_args(self.temperature, self.alpha)
        if self.teacher is None:
            self.teacher_arch, net = load_teacher(self.teacher_path, self.arch, self.num_classes, datamodule)
            object.__setattr__(self, "teacher", net)
            return net
        return self.teacher

    def _no_teacher(self) -> PruningError:
        return PruningError(f"{type(self).__name__} has no teacher yet: attach_teacher() runs in setup('fit')")

    def setup(self, stage: str) -> None:
        # Also on resume (fit --ckpt_path): the teacher is never part of a checkpoint.
        if stage == "fit":
            trainer = self._trainer
            self.attach_teacher(getattr(trainer, "datamodule", None))
        super().setup(stage)

    def teacher_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher forward on the student's device/dtype, eval mode, no autograd graph."""
        param = next(self.net.parameters())
        t = self.teacher
        if t is None:
            raise self._no_teacher()
        fmt = torch.channels_last if self.hparams["channels_last"] else torch.preserve_format
        if getattr(self, "_teacher_on", None) != (param.device, param.dtype):
            # Module.to accepts memory_format with device/dtype at run time; torch's overloads do not list it.
            t.to(device=param.device, dtype=param.dtype, memory_format=fmt)  # type: ignore[call-overload]
            object.__setattr__(self, "_teacher_on", (param.device, param.dtype))
        t.eval()
        x = x.to(dtype=param.dtype, memory_format=fmt) if x.is_floating_point() else x
        with torch.no_grad():
            return t(x)

    def compute_loss(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.alpha == 0:  # plain cross-entropy: the teacher is not needed
            return self.criterion(logits, y)
        kl, ce = kd_terms(logits, self.teacher_logits(x), y, self.temperature)
        self.log("train/kd_kl", kl.detach(), on_step=False, on_epoch=True, sync_dist=True)
        self.log("train/ce", ce.detach(), on_step=False, on_epoch=True, sync_dist=True)
        return self.alpha * self.temperature**2 * kl + (1 - self.alpha) * ce

    def on_fit_start(self) -> None:
        super().on_fit_start()
        if self.teacher is None or self.teacher_arch is None:
            raise self._no_teacher()
        teacher = count_complexity(self.teacher, input_size(self.teacher_arch)).flops
        student = count_complexity(self.net, input_size(self.arch)).flops
        for logger in self.loggers:
            logger.log_hyperparams(
                {
                    "distill/teacher": self.teacher_path,
                    "distill/temperature": self.temperature,
                    "distill/alpha": self.alpha,
                    "distill/teacher_flops": teacher,
                    "distill/student_flops": student,
                    "distill/teacher_student_flops_ratio": teacher / student,
                }
            )


class DistillFineTuneModule(_Distill, FineTuneModule):
    """Fine-tune + KD: inherited weights, the large model as teacher.

    Args:
        arch: must equal the artifact's architecture (pass its ``arch.yaml``).
        weights_from: ``pruned.pt`` or its directory.
        teacher: the large model's Lightning checkpoint (``.ckpt``; not a ``pruned.pt``).
        temperature: softmax temperature ``T`` (> 0).
        alpha: weight of the distillation term in [0, 1]; 0 is plain cross-entropy.
        lr: constant fine-tune LR (paper: 0.001).
    """

    def __init__(
        self,
        arch: ArchSpec,
        weights_from: str,
        teacher: str,
        temperature: float = 4.0,
        alpha: float = 0.9,
        lr: float = 0.001,
        lr_milestones: tuple[float, ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(arch, weights_from, lr=lr, lr_milestones=lr_milestones, **kwargs)
        self._init_distill(teacher, temperature, alpha)


class DistillScratchModule(_Distill, ScratchModule):
    """Scratch-E + KD or Scratch-B + KD: fresh init of the pruned architecture, the large model as teacher.

    Args:
        arch: must equal the artifact's architecture.
        structure_from: ``pruned.pt`` or its directory (arch + structure only).
        teacher: the large model's Lightning checkpoint (``.ckpt``).
        budget: ``E`` or ``B`` (student FLOPs only; add ``scratch_b.yaml``).
        temperature: softmax temperature ``T`` (> 0).
        alpha: weight of the distillation term in [0, 1].
    """

    def __init__(
        self,
        arch: ArchSpec,
        structure_from: str,
        teacher: str,
        budget: Literal["E", "B"] = "E",
        temperature: float = 4.0,
        alpha: float = 0.9,
        **kwargs: Any,
    ) -> None:
        super().__init__(arch, structure_from, budget, **kwargs)
        self._init_distill(teacher, temperature, alpha)
