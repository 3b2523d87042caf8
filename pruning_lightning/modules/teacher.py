"""The distillation loss and the teacher: Hinton et al.'s KD terms and loading the large model as a teacher.

Used by the distillation regimes (:mod:`pruning_lightning.modules.distill`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.artifact import FORMAT as ARTIFACT_FORMAT
from pruning_lightning.formats.artifact import OLD_FORMATS as OLD_ARTIFACT_FORMATS
from pruning_lightning.formats.checkpoint import checkpoint_classes, network_from, read_torch_file
from pruning_lightning.models import input_size
from pruning_lightning.models.spec import ArchSpec


def check_kd_args(temperature: float, alpha: float) -> None:
    """Raise ``PruningError`` unless ``temperature > 0`` and ``0 <= alpha <= 1``."""
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise PruningError(f"distillation temperature must be > 0, got {temperature}; set model.init_args.temperature")
    if not (isinstance(alpha, (int, float)) and 0.0 <= alpha <= 1.0):
        raise PruningError(f"distillation alpha must be in [0, 1], got {alpha}; set model.init_args.alpha")


def kd_terms(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, target: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(KL(p_teacher^T || p_student^T) averaged over the batch, cross-entropy), in float32."""
    s, t = student_logits.float(), teacher_logits.float()
    log_ps, log_pt = F.log_softmax(s / temperature, 1), F.log_softmax(t / temperature, 1)
    kl = F.kl_div(log_ps, log_pt, reduction="batchmean", log_target=True)
    return kl, F.cross_entropy(s, target)


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    target: torch.Tensor,
    temperature: float = 4.0,
    alpha: float = 0.9,
) -> torch.Tensor:
    """``alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, y)``."""
    check_kd_args(temperature, alpha)
    kl, ce = kd_terms(student_logits, teacher_logits, target, temperature)
    return alpha * temperature**2 * kl + (1 - alpha) * ce


_ARTIFACT_MSG = (
    "teacher {path} is a pruned artifact; distil from the large model's Lightning checkpoint "
    "(e.g. <large run>/checkpoints/last.ckpt) via model.init_args.teacher"
)


def load_teacher(path: str, student: ArchSpec, num_classes: int, datamodule: Any = None) -> tuple[ArchSpec, nn.Module]:
    """Load and check a teacher from a Lightning checkpoint of the large model (eval mode, frozen).

    ``num_classes``: the student's class count (its data's); the teacher's is the one its checkpoint stores.

    Raises:
        PruningError: missing/unreadable file, a pruned artifact, another class count, input size
            or dataset than the student's.
    """
    p = Path(path)
    if (p / "pruned.pt").is_file():
        raise PruningError(_ARTIFACT_MSG.format(path=path))
    ckpt = read_torch_file(p, "teacher checkpoint", "; set model.init_args.teacher to the large model's .ckpt")
    if isinstance(ckpt, dict) and ckpt.get("format") in (ARTIFACT_FORMAT, *OLD_ARTIFACT_FORMATS):
        raise PruningError(_ARTIFACT_MSG.format(path=path))
    hp = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not isinstance(hp, dict) or "arch" not in hp:
        raise PruningError(f"teacher {path} is not a pruning-lightning checkpoint (no hyper_parameters.arch)")
    arch, classes = checkpoint_classes(hp, f"teacher {path}")
    if classes != num_classes:
        raise PruningError(
            f"teacher {path} predicts {classes} classes but the student has {num_classes}; "
            "use a teacher trained on the same dataset"
        )
    if input_size(arch) != input_size(student):
        raise PruningError(f"teacher {path} takes inputs {input_size(arch)}, the student {input_size(student)}")
    _check_dataset(path, ckpt.get("datamodule_hyper_parameters") or {}, datamodule)
    _, _, net = network_from(ckpt, p)  # the file is read once
    net.eval().requires_grad_(False)
    return arch, net


def _check_dataset(path: str, teacher_data: dict[str, Any], datamodule: Any) -> None:
    # Lightning stores a datamodule's saved hparams in the checkpoint (CIFAR saves its ``name``);
    # without that record only the class count and input size above can be compared.
    if datamodule is None or not teacher_data:
        return
    t_cls = str(teacher_data.get("_class_path", "")).rsplit(".", 1)[-1]
    s_cls = type(datamodule).__name__
    t_name, s_name = teacher_data.get("name"), getattr(datamodule, "name", None)
    if (t_cls and t_cls != s_cls) or (t_name is not None and s_name is not None and t_name != s_name):
        raise PruningError(
            f"teacher {path} was trained on {t_cls or '?'}({t_name or ''}) but the student trains on "
            f"{s_cls}({s_name or ''}); distil from a teacher of the same dataset"
        )


# The type checker sees the mixin as the ClassificationModule it is combined with; at run time it
# derives from object only, so the MRO of the regime classes below is unchanged.
