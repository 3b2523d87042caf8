"""Lottery-ticket regime (Frankle & Carbin, "The Lottery Ticket Hypothesis", ICLR 2019, arXiv
1803.03635), as compared in the Rethinking paper (arXiv 1810.05270 Sec. 6).

Question: with the same mask and the same training, does re-initialising the surviving weights to
their **original initial values** (the "winning ticket") beat a **fresh random init**?

Pipeline (every step is an ordinary stage):
    1. ``large`` + :class:`SaveInitialWeights` (``configs/regime/lottery_large*.yaml``): the large
       run writes its initial weights to ``init.pt`` before the first step.
    2. ``prune`` with a mask-producing pruner: ``MagnitudePruner`` (one-shot, or one iterative round
       with ``of_remaining: true``, which prunes ``ratio`` of the remaining weights), or
       ``L1NormPruner`` with ``as_masks: true`` (structured; see below).
    3. :class:`LotteryModule` (``configs/regime/lottery_{winning,random}*.yaml``), LR 0.1 or 0.01:
       ``ticket="winning"`` loads ``init.pt`` and applies the mask (W0 ⊙ M); ``ticket="random"``
       applies the mask to a fresh init (see ``random_init``). Masks are kept during training by
       ``ApplyWeightMasks``.
    4. Iterative rounds: prune the trained ticket's checkpoint again (``of_remaining: true``) and go
       to 3 with the same ``init.pt``.

Structured (L1) tickets use the **mask implementation**, as the reference does: the network keeps
its full shape and the pruned filters' conv weights are zeroed; their BN gamma/beta stay trainable, so
a pruned channel emits a constant ReLU(beta) (arXiv 1810.05270 Sec. 6 caveat). ``L1NormPruner(mask_bn=True)`` masks
the BN too, so the masked net computes exactly the small net.

Random control init (``random_init``): ``dense`` draws the network's own He fan-out init computed
with the dense fan-out, then masks it (the reference's structured script); ``density`` redraws masked
convs with the fan-out reduced by the density (docs/protocol.md §4, the reference's unstructured scripts);
``auto`` (default) picks ``dense`` when every conv mask removes whole filters, else ``density``.

The random control is drawn from its own random stream (``modules/fresh_init.py``, seeded from the stage's
seed and the tag ``lottery-random``). A network built under the stage's seed alone is the large run's initial
network whenever both stages share the seed, as a pipeline's seed folders do: the "random" ticket would
then *be* the winning ticket. With ``init_from`` given, a random ticket also checks that no masked weight
starts at its original initial value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch

from pruning_lightning.callbacks.masks import apply_masks, density_he_init, masks_of
from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.artifact import PrunedArtifact
from pruning_lightning.formats.checkpoint import read_torch_file
from pruning_lightning.models import resolve
from pruning_lightning.models.spec import ArchSpec, split_classes
from pruning_lightning.modules.base import ClassificationModule
from pruning_lightning.modules.fresh_init import fresh_init
from pruning_lightning.modules.regimes import ScratchModule
from pruning_lightning.utils.finite import check_finite

INIT_FORMAT = "pruning-lightning/init-v1"


class SaveInitialWeights(L.Callback):
    """Write the network's initial weights to ``init.pt`` when a (non-resumed) fit starts.

    Args:
        path: file to write; default ``<trainer.default_root_dir>/init.pt``.
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path

    def target(self, trainer: L.Trainer) -> Path:
        return Path(self.path) if self.path else Path(trainer.default_root_dir) / "init.pt"

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # On resume the weights are no longer the initial ones: keep the file of the first start.
        if trainer.ckpt_path or not trainer.is_global_zero:
            return
        if not isinstance(pl_module, ClassificationModule):
            raise PruningError(f"SaveInitialWeights needs a ClassificationModule, got {type(pl_module).__name__}")
        out = self.target(trainer)
        out.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().clone() for k, v in pl_module.net.state_dict().items()}
        arch, classes = pl_module.arch.to_dict(), pl_module.num_classes
        payload = {"format": INIT_FORMAT, "arch": arch, "num_classes": classes, "state_dict": state}
        tmp = out.with_suffix(".tmp")
        torch.save(payload, tmp)
        os.replace(tmp, out)


def load_init(path: str | os.PathLike) -> tuple[ArchSpec, dict[str, torch.Tensor]]:
    """Read ``init.pt`` (``weights_only=True``): the large run's architecture and initial weights."""
    p = Path(path)
    payload = read_torch_file(p, "initial weights", " (train the large model with SaveInitialWeights)")
    if not isinstance(payload, dict) or payload.get("format") != INIT_FORMAT:
        raise PruningError(f"{p} is not an init.pt written by SaveInitialWeights (format {INIT_FORMAT!r})")
    check_finite(payload["state_dict"], f"initial weights {p}")
    arch, _ = split_classes(payload["arch"], payload.get("num_classes"), str(p))  # the head's shape holds it too
    return resolve(arch), payload["state_dict"]


def filter_masks_only(net: torch.nn.Module, masks: dict[str, torch.Tensor]) -> bool:
    """True when every masked conv weight keeps or removes whole output filters (a structured ticket)."""
    convs = {n for n, m in net.named_modules() if isinstance(m, torch.nn.Conv2d)}
    for name, mask in masks.items():
        owner, _, leaf = name.rpartition(".")
        if owner in convs and leaf == "weight":
            rows = mask.flatten(1)
            if not bool((rows.all(1) | ~rows.any(1)).all()):
                return False
    return True


class LotteryModule(ScratchModule):
    """Train a masked network from the original init (winning ticket) or a fresh one (control).

    Args:
        arch: must equal the artifact's architecture (masks keep the large model's shape).
        structure_from: the masked artifact (``pruned.pt`` or its directory).
        init_from: the large run's ``init.pt``; required for ``ticket="winning"``.
        ticket: ``winning`` (original init ⊙ mask) or ``random`` (fresh init ⊙ mask).
        random_init: the random ticket's init: ``auto``, ``dense`` or ``density`` (module docstring).
        lr: initial LR; the paper compares 0.1 and 0.01 with the same 160-epoch schedule.
    """

    def __init__(
        self,
        arch: ArchSpec,
        structure_from: str,
        init_from: str | None = None,
        ticket: Literal["winning", "random"] = "winning",
        random_init: Literal["auto", "dense", "density"] = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(arch, structure_from, "E", **kwargs)
        if ticket not in ("winning", "random"):
            raise PruningError(f"ticket must be 'winning' or 'random', got {ticket!r}")
        if ticket == "winning" and not init_from:
            raise PruningError("a winning ticket needs the large run's initial weights: set init_from to its init.pt")
        if random_init not in ("auto", "dense", "density"):
            raise PruningError(f"random_init must be 'auto', 'dense' or 'density', got {random_init!r}")
        self.init_from, self.ticket, self.random_init = init_from, ticket, random_init

    @property
    def job_type(self) -> str:
        return "lottery"

    def on_artifact(self, art: PrunedArtifact) -> None:
        self._load_tensors(art.structure, "structure")
        masks = masks_of(self)
        if not masks:
            raise PruningError(
                f"{self.artifact_path} holds no masks; lottery tickets need a masked artifact "
                "(magnitude, uniform_sparsity, or l1_norm with as_masks: true)"
            )
        if self.ticket == "random":
            kind = self.random_init
            if kind == "auto":
                kind = "dense" if filter_masks_only(self.net, masks) else "density"
            fresh_init(self.net, self.arch, RANDOM_TICKET_TAG)
            if kind == "density":
                density_he_init(self.net, masks)
            else:  # the network's own (dense fan-out) init, masked
                apply_masks(self.net, masks)
            if self.init_from:
                check_not_original(self.net, masks, self.init_from)
        else:
            assert self.init_from is not None
            init_arch, state = load_init(self.init_from)
            if init_arch != self.arch:
                raise PruningError(
                    f"{self.init_from} holds the initial weights of {init_arch.to_dict()}, not of {self.arch.to_dict()}"
                )
            try:
                self.net.load_state_dict(state)
            except RuntimeError as e:  # e.g. a head of another class count
                raise PruningError(f"{self.init_from} does not fit the network: {str(e).splitlines()[0]}") from None
            apply_masks(self.net, masks)
        for logger in self.loggers:
            logger.log_hyperparams({"lottery/ticket": self.ticket, "lottery/init_from": str(self.init_from)})


RANDOM_TICKET_TAG = "lottery-random"


def check_not_original(net: torch.nn.Module, masks: dict[str, torch.Tensor], init_from: str) -> None:
    """Refuse a random ticket whose kept weights equal the original init (it would be the winning ticket)."""
    _, original = load_init(init_from)
    for name, mask in masks.items():
        if name in original and mask.any() and torch.equal(net.get_parameter(name)[mask], original[name][mask]):
            raise PruningError(
                f"the random ticket's {name} starts at the large run's initial weights ({init_from}): it would be "
                "the winning ticket; the random control must be drawn from a fresh stream"
            )
