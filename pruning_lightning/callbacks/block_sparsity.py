"""Sparse Structure Selection's training side (Huang & Wang, ECCV 2018, arXiv 1707.01213; arXiv 1810.05270 Table 5).

Every residual branch has a learnable scale (``arch.options.block_scale: true``). This callback adds
``gamma * ||scale||_1`` to the objective and optimises the scales itself with a proximal momentum
step, so that a scale reaches *exactly* zero and ``SSSPruner`` can remove its block:

    buf    <- mu * buf + g                   (g: the data loss's gradient of the scale)
    s_new  <- soft_threshold(s - lr * buf, lr * gamma)
    buf    <- (s - s_new) / lr               (the step taken, threshold included, as in SSS's APG
                                              reformulation, where momentum carries the proximal step)

``lr`` and ``mu`` are read from the optimizer's param group at every step and ``buf`` is kept in
gradient units, as torch's SGD keeps its momentum buffer, so an LR drop shortens the next step at once.
The scales' gradients are cleared before the optimizer step, so the optimizer (and its weight
decay) never moves them.

Deviations from the reference code (TuSimple's MXNet APG-NAG optimizer, which the Rethinking repo
does not include):
    * The gradient is taken at the current scale, not at the Nesterov look-ahead point (a plain
      proximal heavy-ball step). The stored scale is therefore the sparse proximal iterate, exactly
      zero for removed blocks, rather than a look-ahead value that only decays towards zero.
    * No weight decay on the scales (the L1 term is their only regulariser).
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch

from pruning_lightning.errors import PruningError


def soft_threshold(x: torch.Tensor, t: float) -> torch.Tensor:
    """``sign(x) * max(|x| - t, 0)``: the proximal operator of ``t * |x|``."""
    return torch.sign(x) * torch.clamp(x.abs() - t, min=0)


class BlockScaleSparsity(L.Callback):
    """L1 on residual-branch scales with a proximal (soft-threshold) momentum update.

    Args:
        strength: the L1 weight gamma (larger removes more blocks; SSS sweeps it to get ResNet-41/32/26).
        suffix: parameters whose last name component equals this are the block scales.
    """

    def __init__(self, strength: float = 1e-2, suffix: str = "scale") -> None:
        if strength < 0:
            raise PruningError(f"block-scale sparsity strength must be >= 0, got {strength}")
        self.strength, self.suffix = strength, suffix
        self.momentum: dict[str, torch.Tensor] = {}

    def scales(self, module: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
        """The block scales of ``module`` by parameter name."""
        return {n: p for n, p in module.named_parameters() if n.rsplit(".", 1)[-1] == self.suffix}

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.scales(pl_module):
            raise PruningError(
                f"BlockScaleSparsity found no '{self.suffix}' parameters; set arch.options.block_scale: true"
            )

    @torch.no_grad()
    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Any) -> None:
        groups = {id(p): g for g in optimizer.param_groups for p in g["params"]}
        for name, p in self.scales(pl_module).items():
            if p.grad is None or id(p) not in groups:
                continue
            grad, p.grad = p.grad, None  # the optimizer skips parameters without a gradient
            if not bool(torch.isfinite(grad).all()):  # AMP overflow: the scaler skips this step too
                continue
            lr, mu = float(groups[id(p)]["lr"]), float(groups[id(p)].get("momentum", 0.0))
            if lr <= 0:
                continue
            buf = self.momentum.get(name)
            buf = grad.clone() if buf is None else mu * buf.to(p) + grad
            new = soft_threshold(p - lr * buf, lr * self.strength)
            self.momentum[name] = ((p - new) / lr).detach().clone()
            p.copy_(new)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        values = [p.detach() for p in self.scales(pl_module).values()]
        if values:
            zero = sum(int((v == 0).all()) for v in values)
            pl_module.log("sparsity/zero_block_scales", float(zero), on_epoch=True)
            pl_module.log("sparsity/block_scale_l1", math.fsum(float(v.abs().sum()) for v in values), on_epoch=True)

    def state_dict(self) -> dict[str, Any]:
        return {"momentum": {k: v.cpu() for k, v in self.momentum.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.momentum = dict(state_dict.get("momentum", {}))
