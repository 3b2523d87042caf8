"""One LightningModule per regime of the paper (large, fine-tune, scratch).

* ``LargeModule`` trains the unpruned network; sparsity (slimming, SSS) comes from callbacks.
* ``FineTuneModule`` inherits a pruned artifact's architecture, structure and weights; constant
  LR 0.001 (arXiv 1810.05270 Sec. 3).
* ``ScratchModule`` takes the artifact's architecture and structure only, with a fresh init.
  ``budget="E"`` keeps the large run's epochs; ``budget="B"`` requires ``trainer.max_epochs`` to be
  the Scratch-B count that the prune stage computed from the measured FLOPs ratio and wrote to
  ``scratch_b.yaml`` (it is checked, never typed by hand).

Unstructured masks (``"mask:<param>"`` structure entries) are held as ``weight_masks`` buffers and
enforced by :class:`~pruning_lightning.callbacks.masks.ApplyWeightMasks`, which these modules attach
themselves; Scratch re-initialises masked convs with the density-corrected He init (docs/protocol.md §4).
"""

from __future__ import annotations

from typing import Any, Literal

import lightning as L
import torch

from pruning_lightning.callbacks.masks import (
    ApplyWeightMasks,
    apply_masks,
    attach_masks,
    density_he_init,
    masks_of,
    prepare_mask_buffers,
    split_masks,
)
from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.artifact import PrunedArtifact, load_artifact
from pruning_lightning.models import resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.modules.base import ClassificationModule
from pruning_lightning.modules.fresh_init import fresh_init


class LargeModule(ClassificationModule):
    """The unpruned (large) network. Same arguments as :class:`ClassificationModule`."""

    @property
    def job_type(self) -> str:
        return "large"


class _FromArtifact(ClassificationModule):
    """Shared loading: verify the artifact's arch against the configured one, load its structure."""

    artifact_path: str

    def _load_checked(self) -> PrunedArtifact:
        art = load_artifact(self.artifact_path)
        if resolve(art.arch) != self.arch:
            raise PruningError(
                f"artifact {self.artifact_path} holds architecture {art.arch.to_dict()} but the config says "
                f"{self.arch.to_dict()}; pass the artifact's arch.yaml with --config"
            )
        if art.num_classes != self.num_classes:
            raise PruningError(
                f"artifact {self.artifact_path} is a {art.num_classes}-class network but the data module has "
                f"{self.num_classes} classes; use an artifact pruned from a model of this dataset"
            )
        return art

    def _load_tensors(self, tensors: dict[str, torch.Tensor], what: str) -> None:
        # Unstructured masks ("mask:<param>") are not state-dict keys: they become buffers of
        # ``weight_masks`` (checkpointed, restored on resume) that ApplyWeightMasks enforces.
        masks, tensors = split_masks(tensors)
        if masks:
            attach_masks(self, self.net, masks, source=f"{what} of {self.artifact_path}")
        own = self.net.state_dict()
        bad = [k for k, v in tensors.items() if k not in own or own[k].shape != v.shape]
        if bad:
            raise PruningError(f"{what} of {self.artifact_path} does not fit the model (first mismatch: {bad[0]})")
        with torch.no_grad():
            for k, v in tensors.items():
                own[k].copy_(v)

    def setup(self, stage: str) -> None:
        # setup() runs before Lightning restores a checkpoint, so on resume (fit --ckpt_path) the artifact
        # is read and checked again, then the checkpoint's state overwrites what it loaded.
        if stage != "fit" or getattr(self, "_artifact_loaded", False):
            return
        self._artifact_loaded = True
        self.on_artifact(self._load_checked())

    def on_artifact(self, art: PrunedArtifact) -> None:
        raise NotImplementedError

    def configure_callbacks(self) -> list[L.Callback]:
        # Masks must hold in every regime that loads them; a no-op when the artifact has none.
        return [*super().configure_callbacks(), ApplyWeightMasks()]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        prepare_mask_buffers(self, checkpoint.get("state_dict", {}))


class FineTuneModule(_FromArtifact):
    """Fine-tune a pruned network from its inherited weights.

    Args:
        arch: must equal the artifact's architecture (pass its ``arch.yaml``).
        weights_from: ``pruned.pt`` or its directory (its weights and structure are inherited).
        lr: constant fine-tune LR (paper: 0.001, the large schedule's lowest).
        lr_milestones: none by default (no decay while fine-tuning).
    """

    def __init__(
        self,
        arch: ArchSpec,
        weights_from: str,
        lr: float = 0.001,
        lr_milestones: tuple[float, ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(arch, lr=lr, lr_milestones=lr_milestones, **kwargs)
        self.artifact_path = weights_from

    @property
    def job_type(self) -> str:
        return "finetune"

    def on_artifact(self, art: PrunedArtifact) -> None:
        self._load_tensors(art.structure, "structure")
        self._load_tensors(art.weights, "weights")
        apply_masks(self.net, masks_of(self))


class ScratchModule(_FromArtifact):
    """Train a pruned architecture from a fresh random init (Scratch-E or Scratch-B).

    Args:
        arch: must equal the artifact's architecture.
        structure_from: ``pruned.pt`` or its directory (only arch + structure are used).
        budget: ``E`` (same epochs as large) or ``B`` (same compute; add ``scratch_b.yaml``).
    """

    def __init__(
        self,
        arch: ArchSpec,
        structure_from: str,
        budget: Literal["E", "B"] = "E",
        **kwargs: Any,
    ) -> None:
        super().__init__(arch, **kwargs)
        self.artifact_path = structure_from
        self.budget = budget

    @property
    def job_type(self) -> str:
        """``scratch_e`` or ``scratch_b``: the W&B job_type when none is configured."""
        return f"scratch_{self.budget.lower()}"

    def on_artifact(self, art: PrunedArtifact) -> None:
        fresh_init(self.net, self.arch, "scratch")  # never the large run's init, which shares the stage's seed
        self._load_tensors(art.structure, "structure")
        density_he_init(self.net, masks_of(self))  # masked convs: density-corrected He init (docs/protocol.md §4)
        ratio = float(art.stats["flops_ratio"])
        if self.budget == "B":
            expected = int(art.stats["scratch_b_epochs"])
            if self.trainer.max_epochs != expected:
                folder = self.artifact_path.rsplit("/pruned.pt", 1)[0]
                raise PruningError(
                    f"Scratch-B needs max_epochs={expected} (FLOPs ratio {ratio:.3f}) but the trainer has "
                    f"{self.trainer.max_epochs}; add --config {folder}/scratch_b.yaml"
                )
        for logger in self.loggers:
            logger.log_hyperparams(
                {"scratch/budget": self.budget, "scratch/flops_ratio": ratio, "scratch/epochs": self.trainer.max_epochs}
            )
