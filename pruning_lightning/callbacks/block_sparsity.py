"""Sparse Structure Selection's training side (Huang & Wang, ECCV 2018, arXiv 1707.01213; arXiv 1810.05270 Table 5).

Every residual branch has a learnable scale (``arch.options.block_scale: true``). This callback adds
``gamma * ||scale||_1`` to the objective and optimises the scales itself, so that a scale reaches
*exactly* zero and ``SSSPruner`` can remove its block. The scales' gradients are cleared before the
optimizer step, so the optimizer (and its weight decay) never moves them.

``update="apg_nag"`` (default): SSS's Accelerated Proximal Gradient written as a Nesterov momentum
update (arXiv 1707.01213, Eqs. 10-12, with a constant momentum ``mu``). With ``lam`` the
sparse proximal iterate and ``v`` the step between iterates (parameter units):

    w     = max(0, z + mu * v)             (look-ahead point, clamped; the batch's forward/backward runs here)
    z'    = soft_threshold(w - lr * g, lr * gamma)        (g: the data loss's gradient at w; Eq. 10)
    v'    = mu * v + z' - w                 (Eq. 11; == z' - z while the clamp is inactive)
    lam   = max(0, z')                      (the scale seen outside a batch)

The reference optimizer stores the clamped look-ahead ``w`` as the weight ("no-negative": a scale is a
gate, so one pushed below 0 is held at exactly 0 and its block is pruned). Here the scale holds ``w`` only
inside a training batch (``on_train_batch_start`` .. ``on_train_batch_end``) and the non-negative proximal
iterate ``lam`` everywhere else, so validation, checkpoints and ``SSSPruner`` see exact zeros; the sequence
of look-ahead points is the reference's (``ahead`` keeps the next ``w`` across batches and checkpoints).
``update="heavy_ball"`` keeps the earlier proximal heavy-ball step (gradient at ``lam``,
``buf <- mu * buf + g``, ``lam <- soft_threshold(lam - lr * buf, lr * gamma)``, ``buf`` reset to the step
taken in gradient units; no clamp: a project variant). ``lr`` and ``mu`` are read from the optimizer's
param group at every step.

gamma: the default 1e-2 is a project choice, not a published value. The gammas of SSS's ImageNet
ResNet-50 runs are not stated in the papers this project follows (the Rethinking paper says only
that different gammas give ResNet-41/32/26), and it trains those published architectures from scratch
(configs/arch/imagenet/sss_resnet*.yaml), so it never needs one. 1e-2 is small next to the data gradient at
LR 0.1 (threshold 1e-3 per step) and removes blocks only over a long run; sweep it to reach a target depth.

As in the reference (TuSimple's MXNet APG-NAG optimizer, not part of the Rethinking repo): no weight decay
on the scales (the L1 term is their only regulariser), ``mu`` is the optimizer's momentum, scales >= 0.
Deviation: validation, checkpoints and the pruner see ``lam`` (the proximal iterate), the reference's weight
is the look-ahead ``w``; a block whose ``z'`` is <= 0 is therefore pruned even while ``w`` is still > 0.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn

from pruning_lightning.core.errors import PruningError

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
        self.ahead: dict[str, torch.Tensor] = {}  # apg_nag: the next look-ahead point w (clamped at 0)
        self._prox: dict[str, torch.Tensor] = {}  # apg_nag: lam while the scale holds w (inside a batch)

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
        """apg_nag: move every scale from ``lam`` to the look-ahead ``w`` (once per batch)."""
        if self.update != "apg_nag" or self._prox:
            return
        groups = _groups(optimizers)
        for name, p in self.scales(module).items():
            self._prox[name] = p.detach().clone()
            if name in self.ahead:
                p.copy_(self.ahead[name].to(p))
            elif name in self.momentum and id(p) in groups:  # a checkpoint without ``ahead``: rebuild it
                p.add_(float(groups[id(p)].get("momentum", 0.0)) * self.momentum[name].to(p)).clamp_(min=0)

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
                z = soft_threshold(p - lr * grad, lr * self.strength)  # the scale holds the look-ahead w
                v = z - p if name not in self.momentum else mu * self.momentum[name].to(p) + z - p
                self.momentum[name] = v.detach().clone()
                self.ahead[name] = torch.clamp(z + mu * v, min=0).detach().clone()
                new = torch.clamp(z, min=0)  # no-negative: a scale pushed below 0 is exactly 0
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
        state: dict[str, Any] = {"update": self.update, "momentum": {k: v.cpu() for k, v in self.momentum.items()}}
        state["ahead"] = {k: v.cpu() for k, v in self.ahead.items()}
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved = state_dict.get("update", "heavy_ball")  # checkpoints from before the option: heavy ball
        if saved != self.update:  # the buffers' units differ (gradient vs parameter): restart the momentum
            rank_zero_warn(
                f"BlockScaleSparsity: checkpoint used update={saved!r}, this run {self.update!r}; "
                "momentum buffers reset"
            )
            self.momentum, self.ahead = {}, {}
            return
        self.momentum = dict(state_dict.get("momentum", {}))
        self.ahead = dict(state_dict.get("ahead", {}))
