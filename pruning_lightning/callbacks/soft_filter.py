"""Soft Filter Pruning during training (He et al., IJCAI 2018; arXiv 1810.05270 appendix): a 'large' run becomes
an SFP run by config (``configs/sparsity/sfp.yaml``); the hard prune is ``SoftFilterPruner``."""

from __future__ import annotations

from typing import Any, Literal

import lightning as L
import torch
from torch import nn

from pruning_lightning.core.errors import PruningError
from pruning_lightning.pruning.sfp import filter_l2, lowest_filters
from pruning_lightning.pruning.surgery import channel_units


@torch.no_grad()
def soft_prune(
    net: nn.Module,
    arch: Any,
    ratio: float,
    layers: Literal["all", "units"] = "all",
    zero_bn: bool = False,
) -> dict[str, torch.Tensor]:
    """Zero the lowest-L2 filters of the chosen convs in place; returns conv name -> zeroed indices.

    ``layers="all"``: every Conv2d (the reference: ``--layer_begin 0 --layer_inter 3``); ``"units"``:
    only the convs whose filters the hard prune can remove (the family's channel units). ``zero_bn``
    also zeroes the units' BN gamma/beta of those channels, so the net computes the hard-pruned net.
    """
    modules = dict(net.named_modules())
    units = [u for u in channel_units(net, arch) if u.conv is not None]
    if layers == "all":
        names = [n for n, m in modules.items() if isinstance(m, nn.Conv2d)]
    elif layers == "units":
        names = [u.conv for u in units]
    else:
        raise PruningError(f"layers must be 'all' or 'units', got {layers!r}")
    zeroed: dict[str, torch.Tensor] = {}
    for name in names:
        conv: nn.Conv2d = modules[name]
        idx = lowest_filters(conv.weight, ratio).to(conv.weight.device)
        conv.weight[idx] = 0
        if conv.bias is not None:
            conv.bias[idx] = 0
        zeroed[name] = idx
    if zero_bn:
        for u in units:
            if u.bn is not None and u.conv in zeroed:
                bn = modules[u.bn]
                bn.weight[zeroed[u.conv]] = 0
                bn.bias[zeroed[u.conv]] = 0
    return zeroed


@torch.no_grad()
def filter_norms(net: nn.Module) -> dict[str, float]:
    """Over the convs, the largest median nonzero filter L2 norm (``median``) and the largest ratio of a
    conv's largest to its median filter norm (``spread``).

    A regrown filter's first gradient passes BatchNorm on an all-zero channel (variance 0, so it is scaled
    by ``1 / sqrt(eps)``, ~316x), and momentum carries it far: at LR 0.1 the regrown filters end tens of
    times larger than the others, and as every filter is zeroed at some epoch, the whole network's norms
    grow; a step then changes a filter by about ``lr * grad / norm``, so they learn little. He-initialised
    and normally trained convs here have medians of 1-3 and spreads below ~2.5; SFP logs both before each
    soft prune (``sfp/filter_norm_median``, ``sfp/filter_norm_spread``) so a runaway is visible.
    """
    median, spread = 0.0, 1.0
    for m in net.modules():
        if isinstance(m, nn.Conv2d) and m.out_channels > 1:
            norms = filter_l2(m.weight)
            norms = norms[norms > 0]
            if norms.numel() > 1:
                median = max(median, float(norms.median()))
                spread = max(spread, float(norms.max() / norms.median()))
    return {"median": median, "spread": spread}


class SoftFilterPruning(L.Callback):
    """Zero the ``int(C * ratio)`` lowest-L2 filters of each conv at the end of every training epoch.

    Zeroing happens after the epoch's last training batch, before validation and checkpointing, so
    (as the reference) the masked net is validated and saved. The zeroed filters are not frozen:
    gradients and the momentum buffer regrow them during the next epoch ("soft"). Before each soft
    prune the callback logs ``sfp/filter_norm_median`` and ``_spread`` (:func:`filter_norms`): on short
    schedules the regrowth can run away (docs/results/README.md, finding 6).

    Args:
        ratio: fraction of filters zeroed per layer (the reference's ``--rate 0.7`` = ``ratio: 0.3``).
        layers: ``all`` convs (reference) or only the channel ``units`` that the hard prune cuts.
        zero_bn: ``never`` (reference), ``last`` (also zero the units' BN gamma/beta of the pruned
            channels after the final epoch, so the final checkpoint equals the hard-pruned net), or
            ``always`` (every epoch; then only the momentum buffer can regrow those channels).
        every_n_epochs: soft-prune every n epochs (the reference's ``--epoch_prune 1``).
    """

    def __init__(
        self,
        ratio: float = 0.3,
        layers: Literal["all", "units"] = "all",
        zero_bn: Literal["never", "last", "always"] = "never",
        every_n_epochs: int = 1,
    ) -> None:
        if not 0 < ratio < 1:
            raise PruningError(f"soft filter pruning ratio must be in (0, 1), got {ratio}")
        if layers not in ("all", "units"):
            raise PruningError(f"layers must be 'all' or 'units', got {layers!r}")
        if zero_bn not in ("never", "last", "always"):
            raise PruningError(f"zero_bn must be 'never', 'last' or 'always', got {zero_bn!r}")
        if every_n_epochs < 1:
            raise PruningError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        self.ratio, self.layers, self.zero_bn, self.every_n_epochs = ratio, layers, zero_bn, every_n_epochs

    def apply(self, pl_module: L.LightningModule, last: bool = False) -> dict[str, torch.Tensor]:
        """Soft-prune ``pl_module.net`` now (also usable outside a Trainer)."""
        bn = self.zero_bn == "always" or (last and self.zero_bn == "last")
        return soft_prune(pl_module.net, pl_module.arch, self.ratio, self.layers, bn)  # type: ignore[arg-type]

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: object, batch: object, batch_idx: int
    ) -> None:
        if batch_idx + 1 != trainer.num_training_batches:  # only after the epoch's last batch
            return
        epoch = trainer.current_epoch + 1
        last = trainer.max_epochs is not None and epoch >= trainer.max_epochs
        if epoch % self.every_n_epochs == 0 or last:
            for key, value in filter_norms(pl_module.net).items():  # type: ignore[arg-type]
                pl_module.log(f"sfp/filter_norm_{key}", value, on_step=False, on_epoch=True)
            self.apply(pl_module, last=last)
