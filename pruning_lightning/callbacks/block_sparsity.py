"""Sparse Structure Selection's training side (Huang & Wang, ECCV 2018, arXiv 1707.01213; arXiv 1810.05270 Table 5).

Every residual branch has a learnable scale (``arch.options.block_scale: true``). This callback adds
``gamma * ||scale||_1`` to the objective and optimises the scales itself, so that a scale reaches
*exactly* zero and ``SSSPruner`` can remove its block. The scales' gradients are cleared before the
optimizer step, so the optimizer (and its weight decay) never moves them.

``update="apg_nag"`` (default): SSS's Accelerated Proximal Gradient written as a Nesterov momentum
update (arXiv 1707.01213, Eqs. 10-12, with a constant momentum ``mu``). With ``lam`` the
sparse proximal iterate and ``v`` the step between iterates (parameter units):

    lam'  = lam + mu * v                    (look-ahead point; the batch's forward/backward runs here)
    z     = soft_threshold(lam' - lr * g, lr * gamma)      (g: the data loss's gradient at lam')
    v     = z - lam                         (== z - lam' + mu * v_old, Eq. 11)
    lam   = z

The reference optimizer stores the look-ahead ``lam'`` as the weight. Here the scale holds the look-ahead
only inside a training batch (``on_train_batch_start`` .. ``on_train_batch_end``) and the proximal iterate
``lam`` everywhere else, so validation, checkpoints and ``SSSPruner`` see exact zeros; the sequence of
iterates is the reference's. ``update="heavy_ball"`` keeps the earlier proximal heavy-ball step (gradient
at ``lam``, ``buf <- mu * buf + g``, ``lam <- soft_threshold(lam - lr * buf, lr * gamma)``, ``buf`` reset to
the step taken in gradient units). ``lr`` and ``mu`` are read from the optimizer's param group at every step.

gamma: the default 1e-2 is a project choice, not a published value. The gammas of SSS's ImageNet
ResNet-50 runs are not stated in the papers this project follows (the Rethinking paper says only
that different gammas give ResNet-41/32/26), and it trains those published architectures from scratch
(configs/arch/imagenet/sss_resnet*.yaml), so it never needs one. 1e-2 is small next to the data gradient at
LR 0.1 (threshold 1e-3 per step) and removes blocks only over a long run; sweep it to reach a target depth.

Deviations from the reference (TuSimple's MXNet APG-NAG optimizer, not part of the Rethinking repo):
no weight decay on the scales (the L1 term is their only regulariser); ``mu`` is the optimizer's momentum.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn

from pruning_lightning.errors import PruningError

UPDATES = ("apg_nag", "heavy_ball")


def soft_threshold(x: torch.Tensor, t: float) -> torch.Tensor:
    """``sign(x) * max(|x| - t, 0)``: the proximal operator of ``t * |x|``."""
    return torch.sign(x) * torch.clamp(x.abs() - t, min=0)


def _groups(optimizers: Any) -> dict[int, dict[str, Any]]:
    return {id(p): g for opt in optimizers for g in opt.param_groups for p in g["params"]}


class BlockScaleSparsity(L.Callback):
    """L1 on residual-branch scales with a proximal (soft-threshold) momentum update.

    Args:
        strength: the L1 weight gamma (larger removes more blocks; SSS sweeps it to get ResNet-41/32/26).
        suffix: parameters whose last name component equals this are the block scales.
        update: ``"apg_nag"`` (SSS's optimizer, default) or ``"heavy_ball"`` (see module docstring).
    """

    def __init__(self, strength: float = 1e-2, suffix: str = "scale", update: str = "apg_nag") -> None:
        if strength < 0:
            raise PruningError(f"block-scale sparsity strength must be >= 0, got {strength}")
        if update not in UPDATES:
            raise PruningError(f"block-scale update must be one of {UPDATES}, got {update!r}")
        self.strength, self.suffix, self.update = strength, suffix, update
        self.momentum: dict[str, torch.Tensor] = {}
        self._prox: dict[str, torch.Tensor] = {}  # apg_nag: lam while the scale holds lam' (inside a batch)

    def scales(self, module: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
        """The block scales of ``module`` by parameter name."""
        return {n: p for n, p in module.named_parameters() if n.rsplit(".", 1)[-1] == self.suffix}

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.scales(pl_module):
            raise PruningError(
                f"BlockScaleSparsity found no '{self.suffix}' parameters; set arch.options.block_scale: true"
            )

    @torch.no_grad()
    def look_ahead(self, module: torch.nn.Module, optimizers: Any) -> None:
        """apg_nag: move every scale from ``lam`` to ``lam + mu * v`` (once per batch)."""
        if self.update != "apg_nag" or self._prox:
            return
        groups = _groups(optimizers)
        for name, p in self.scales(module).items():
            self._prox[name] = p.detach().clone()
            if name in self.momentum and id(p) in groups:
                p.add_(float(groups[id(p)].get("momentum", 0.0)) * self.momentum[name].to(p))

    @torch.no_grad()
    def settle(self, module: torch.nn.Module) -> None:
        """apg_nag: put the proximal iterate ``lam`` back into the scales."""
        for name, p in self.scales(module).items():
            if name in self._prox:
                p.copy_(self._prox[name])
        self._prox = {}

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, idx: int) -> None:
        self.look_ahead(pl_module, trainer.optimizers)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        self.settle(pl_module)

    @torch.no_grad()
    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Any) -> None:
        groups = _groups([optimizer])
        for name, p in self.scales(pl_module).items():
            if p.grad is None or id(p) not in groups:
                continue
            grad, p.grad = p.grad, None  # the optimizer skips parameters without a gradient
            if not bool(torch.isfinite(grad).all()):  # AMP overflow: the scaler skips this step too
                continue
            lr, mu = float(groups[id(p)]["lr"]), float(groups[id(p)].get("momentum", 0.0))
            if lr <= 0:
                continue
            if self.update == "apg_nag":
                lam = self._prox.get(name, p.detach().clone())  # the scale holds lam' = lam + mu * v
                new = soft_threshold(p - lr * grad, lr * self.strength)
                self.momentum[name] = (new - lam).detach().clone()
                self._prox[name] = new.detach().clone()
            else:
                buf = self.momentum.get(name)
                buf = grad.clone() if buf is None else mu * buf.to(p) + grad
                new = soft_threshold(p - lr * buf, lr * self.strength)
                self.momentum[name] = ((p - new) / lr).detach().clone()
            p.copy_(new)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.settle(pl_module)
        values = [p.detach() for p in self.scales(pl_module).values()]
        if values:
            zero = sum(int((v == 0).all()) for v in values)
            pl_module.log("sparsity/zero_block_scales", float(zero), on_epoch=True)
            pl_module.log("sparsity/block_scale_l1", math.fsum(float(v.abs().sum()) for v in values), on_epoch=True)

    def state_dict(self) -> dict[str, Any]:
        return {"update": self.update, "momentum": {k: v.cpu() for k, v in self.momentum.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved = state_dict.get("update", "heavy_ball")  # checkpoints from before the option: heavy ball
        if saved != self.update:  # the buffers' units differ (gradient vs parameter): restart the momentum
            rank_zero_warn(
                f"BlockScaleSparsity: checkpoint used update={saved!r}, this run {self.update!r}; "
                "momentum buffers reset"
            )
            self.momentum = {}
            return
        self.momentum = dict(state_dict.get("momentum", {}))
