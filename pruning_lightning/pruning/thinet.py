"""ThiNet (Luo, Wu, Lin, "ThiNet: A Filter Level Pruning Method for Deep Neural Network
Compression", ICCV 2017, arXiv 1707.06342), arXiv 1810.05270 Table 2.

Criterion: prune layer i by the statistics of layer i+1. On sampled images and output locations of
layer i+1, write its (bias-free) output as a sum of per-input-channel contributions ``z_c``; greedily
build the removal set T, each step adding the channel that least increases ``sum ||sum_{c in T} z_c||²``
(ThiNet's Eq. 5/6); then solve least squares for a per-kept-channel scale that best reconstructs the
original output (Eq. 7) and fold it into layer i+1's filters. Layers are processed in network order on
a working copy, so later layers are sampled from the already pruned and rescaled network.

Applies to VGG convs, CIFAR and ImageNet (the last one feeds the head's first Linear; ImageNet VGG's
reads a flattened ``c x 7 x 7`` map, whose 49 values per channel act as kernel taps; the ``slimming``
variant's hidden FC units are left intact), and to the inner convs of ResNet blocks (CIFAR basic-block
first convs; ImageNet bottleneck conv1/conv2); residual-stream channels are not pruned, as in ThiNet's
ResNet-50 models.

Between layers (``finetune_steps`` SGD steps, or when it is None ``finetune_epochs`` passes over the
training loader; ``finetune_lr`` 1e-3, the paper's small learning rate [recalled]) the working copy takes
SGD steps on the loader (:mod:`~pruning_lightning.pruning.layer_finetune`), and the artifact inherits every
fine-tuned tensor. ``finetune_steps: 0`` gives the one-shot variant. The steps run on the model's device
(the prune command's is the CPU): at ImageNet scale, size ``finetune_steps`` to it.

ThiNet's own code (its recipe; the Rethinking repo, arXiv 1810.05270 Table 2, does not run ThiNet) samples
10 images per class, fine-tunes about a quarter of an epoch after each layer with weight decay 5e-4:
``configs/prune/thinet_vgg16_50_original.yaml``. The class defaults (one epoch, weight decay 1e-4, the
first 512 images) are the project's earlier choice, kept by ``configs/prune/thinet_vgg16_50.yaml``, the
settings the predefined-architecture study ran with.

Deviations from the reference code (the official repo does not run ThiNet; these are relative to
the ThiNet paper):
    * The between-layer fine-tune uses SGD momentum 0.9 and the prune command's training loader; the
      final long fine-tune is the Lightning fine-tune regime.
    * Each sampled location contributes all output channels of layer i+1, not one random channel;
      the objective is the same sum, estimated with less noise, and costs no extra memory because
      only the contributions' Gram matrix is formed.
    * ``ratio`` is the fraction of channels removed per layer (``layer_ratios`` overrides it by unit;
      0 leaves a layer intact); ThiNet-50 removes half of each pruned layer, i.e. ``ratio: 0.5``. The
      kept count is ``floor(C * (1 - ratio))`` (at least 1), which reproduces ThiNet's published widths
      (ThiNet-30 = ``ratio: 0.7``: 19/38/76/153; ThiNet-70 = ``ratio: 0.3``: 44/89/179/358).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data import DataLoader

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.layer_finetune import Mask, finetune
from pruning_lightning.pruning.plan import KeepPlan
from pruning_lightning.pruning.reconstruct import ReconstructionPruner, contribution_gram, keep_count
from pruning_lightning.pruning.sampling import layer_weight, sample_inputs, set_layer_weight


def group_channels(x: torch.Tensor, w: torch.Tensor, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A Linear reading a flattened ``C x K`` map: patches (N, C*K, 1) -> (N, C, K), weight -> (O, C, K).

    Channel ``j`` is inputs ``K*j .. K*j + K-1`` (ImageNet VGG's fc1); anything else passes unchanged.
    """
    if x.shape[1] != channels and x.shape[-1] == 1 and x.shape[1] % channels == 0:
        return x.reshape(len(x), channels, -1), w.reshape(w.shape[0], channels, -1)
    return x, w


def greedy_removal(gram: torch.Tensor, n_remove: int) -> list[int]:
    """ThiNet's greedy set T: each step adds the channel minimising ``1_Tᵀ G 1_T`` (ties: lowest index)."""
    diag = torch.diagonal(gram)
    cross = torch.zeros_like(diag)  # sum over t in T of G[:, t]
    current = torch.zeros((), dtype=gram.dtype)
    free = torch.ones_like(diag, dtype=torch.bool)
    removed: list[int] = []
    for _ in range(n_remove):
        cost = torch.where(free, current + 2 * cross + diag, torch.inf)
        c = int(torch.argmin(cost))
        current, cross = cost[c], cross + gram[:, c]
        free[c] = False
        removed.append(c)
    return removed


def channel_scales(gram: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """ThiNet Eq. 7: scales w minimising ``sum ||y - sum_{c in kept} w_c z_c||²`` with y = sum_c z_c."""
    rhs = gram[kept].sum(1, keepdim=True)
    return torch.linalg.lstsq(gram[kept][:, kept], rhs).solution.flatten()


class ThiNetPruner(ReconstructionPruner):
    """Greedy next-layer reconstruction (see module docstring).

    Args: ``ratio``, ``layer_ratios`` and the sampling options (``**kwargs``: ``num_images``,
    ``locations_per_image``, ``seed``, ``batch_size``) as in
    :class:`~pruning_lightning.pruning.reconstruct.ReconstructionPruner`, and
        finetune_steps: SGD steps on the training loader after each pruned layer; None (default) =
            ``finetune_epochs`` passes over the loader; 0 = no fine-tune between layers.
        finetune_epochs: with ``finetune_steps: None``, ``max(1, int(len(loader) * finetune_epochs))``
            steps (default 1.0; ThiNet's code: about 0.25).
        finetune_lr: learning rate of those steps (ThiNet: 1e-3 [recalled]).
        finetune_weight_decay: their weight decay (default 1e-4; ThiNet's code: 5e-4).
    """

    name: ClassVar[str] = "thinet"

    def __init__(
        self,
        ratio: float = 0.5,
        layer_ratios: dict[str, float] | None = None,
        finetune_steps: int | None = None,
        finetune_lr: float = 1e-3,
        finetune_epochs: float = 1.0,
        finetune_weight_decay: float = 1e-4,
        **kwargs: Any,
    ) -> None:
        super().__init__(ratio, layer_ratios, **kwargs)
        bad_steps = finetune_steps is not None and finetune_steps < 0
        if bad_steps or not finetune_lr > 0 or not finetune_epochs > 0 or finetune_weight_decay < 0:
            bad = (
                f"finetune_steps={finetune_steps}, finetune_lr={finetune_lr}, finetune_epochs={finetune_epochs}, "
                f"finetune_weight_decay={finetune_weight_decay}"
            )
            raise PruningError(
                "thinet: finetune_steps must be >= 0 or None, finetune_lr and finetune_epochs > 0, "
                f"finetune_weight_decay >= 0; got {bad}"
            )
        self.finetune_steps, self.finetune_lr = finetune_steps, finetune_lr
        self.finetune_epochs, self.finetune_weight_decay = finetune_epochs, finetune_weight_decay

    def _steps(self, data: DataLoader) -> int:
        if self.finetune_steps is not None:
            return self.finetune_steps
        try:
            return max(1, int(len(data) * self.finetune_epochs + 1e-9))
        except TypeError:
            raise PruningError("thinet: the loader has no length; set finetune_steps explicitly") from None

    @torch.no_grad()
    def select(self, model: nn.Module, arch: ArchSpec, data: DataLoader | None = None) -> KeepPlan:
        units, ratios, images, work = self.prepare(model, arch, data)
        plan, touched = KeepPlan(), []
        masks: list[Mask] = []
        steps = self._steps(data) if data is not None else 0
        for i, unit in enumerate(units):
            if ratios[unit.name] == 0:
                continue
            nxt = unit.consumer
            if nxt is None:
                plan.notes.append(f"thinet: {unit.name} feeds no single next layer; left intact")
                continue
            x = sample_inputs(work, nxt, images, self.locations_per_image, self.seed + i, self.batch_size)
            x, w = group_channels(x, layer_weight(work, nxt), unit.size)
            if x.shape[1] != unit.size:
                raise PruningError(f"thinet: {nxt} reads {x.shape[1]} channels but {unit.name} has {unit.size}")
            gram = contribution_gram(x, w)
            removed = greedy_removal(gram, unit.size - keep_count(unit.size, ratios[unit.name], "floor"))
            is_kept = torch.ones(unit.size, dtype=torch.bool)
            is_kept[removed] = False
            kept = torch.nonzero(is_kept).flatten()
            new_w = torch.zeros_like(w)
            new_w[:, kept] = w[:, kept] * channel_scales(gram, kept).to(w)[None, :, None]
            set_layer_weight(work, nxt, new_w)
            plan.channels[unit.name] = kept
            touched.append(nxt)
            masks.append((dict(work.named_modules())[nxt].weight, unit.size, torch.tensor(removed, dtype=torch.long)))
            if steps and data is not None:  # steps > 0 only with data
                finetune(work, data, steps, self.finetune_lr, masks, self.seed + i, self.finetune_weight_decay)
        if not plan.channels:
            raise PruningError("thinet: no layer was pruned; check ratio / layer_ratios")
        if steps:  # every tensor moved during the fine-tunes
            plan.weight_updates = {k: v.detach().clone() for k, v in work.state_dict().items()}
        else:
            params = dict(work.named_parameters())
            plan.weight_updates = {f"{n}.weight": params[f"{n}.weight"].detach().clone() for n in touched}
        return plan
