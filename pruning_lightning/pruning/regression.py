"""Regression-based feature reconstruction (He, Zhang, Sun, "Channel Pruning for Accelerating Very
Deep Neural Networks", ICCV 2017, arXiv 1707.06168), arXiv 1810.05270 Table 3.

Criterion: prune layer i through the input channels of layer i+1. On sampled patches, the unpruned
network's output Y of layer i+1 is the target; the working (already pruned) network's per-channel
contributions ``Z_c = X_c W_cᵀ`` (each filter slice ``W_c`` scaled to unit Frobenius norm, the
paper's ``||W_i||_F = 1``) are the features. Step 1: LASSO over a channel mask beta,
``min ½||Y - sum_c beta_c Z_c||² + alpha ||beta||_1`` (scikit-learn ``Lasso``), raising alpha until
at most c' channels are non-zero. Step 2: least squares (``torch.linalg.lstsq``) for layer i+1's
weights on the kept channels, again against the *unpruned* outputs, so errors do not accumulate.

Deviations from the reference code (the official repo only trains the released architectures;
these are relative to He et al.):
    * One pass of (LASSO, least squares) per layer instead of alternating to convergence.
    * The LASSO runs on an equivalent C x C problem built from the contributions' Gram matrix
      (``||Y - Z beta||² = ||b - R beta||² + const`` with ``RᵀR = ZᵀZ``, ``Rᵀb = ZᵀY``), so all
      output channels of every sampled location are used without forming Z.
    * Exactly c' channels are kept: alpha is bisected (log scale) between a value leaving more than
      c' channels and one leaving at most c'; a shortfall is filled by |beta| at the smaller alpha.
    * No "feature map sampling" of the ResNet block input (arXiv 1810.05270 Table 3): only inner layers are pruned.

As He et al.: ``locations_per_image`` random output positions per image (default 10, the paper's
"10 samples per image"; the class default ``num_images`` is 512 instead of their 5000, for CPU cost, and
``configs/prune/regression_vgg16_50_original.yaml`` sets their 10 x 5000; ``regression_vgg16_50.yaml``
keeps the 16 x 512 that the predefined-architecture study ran with), and on
ResNets the branch's last layer is refit against the shortcut-aware target ``Y1 + Y2 - Y1'``
(``shortcut_target: true``, see ``residual_target``); ``false`` uses the plain branch output ``Y2``.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso
from torch import nn
from torch.utils.data import DataLoader

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.plan import KeepPlan
from pruning_lightning.pruning.reconstruct import (
    ReconstructionPruner,
    contribution_cross,
    contribution_gram,
    keep_count,
    least_squares,
)
from pruning_lightning.pruning.residual_target import branch_gain, sample_shortcuts, shortcut_target
from pruning_lightning.pruning.sampling import layer_weight, sample_inputs, sample_outputs, set_layer_weight
from pruning_lightning.pruning.surgery import BranchEnd, Capability, ChannelUnit


def lasso_channels(
    gram: torch.Tensor, cross: torch.Tensor, keep: int, steps: int = 30, max_iter: int = 5000
) -> torch.Tensor:
    """Sorted indices of the ``keep`` channels chosen by LASSO on the Gram form of the problem.

    Args:
        gram: ``ZᵀZ`` (C x C) of the (normalised) contributions.
        cross: ``ZᵀY`` (C).
        keep: channels to keep (c').
        steps: bisection steps on alpha.
        max_iter: coordinate-descent iterations per fit.
    """
    evals, evecs = torch.linalg.eigh(gram.double())
    ok = evals > evals.max().clamp_min(1e-300) * 1e-12
    r = (evals[ok].sqrt()[:, None] * evecs[:, ok].T).numpy()  # RᵀR = G on range(G)
    b = ((evecs[:, ok].T @ cross.double()) / evals[ok].sqrt()).numpy()  # Rᵀb = g (g lies in range(G))

    def fit(alpha: float) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return Lasso(alpha=alpha, fit_intercept=False, max_iter=max_iter, tol=1e-6).fit(r, b).coef_

    alpha_max = float(np.abs(r.T @ b).max()) / max(len(b), 1)  # sklearn: every coef is 0 at alpha >= this
    if alpha_max == 0.0:  # nothing contributes: any choice is as good, keep the first channels
        return torch.arange(keep)
    lo, hi = alpha_max * 1e-6, alpha_max
    beta_lo, beta_hi = fit(lo), np.zeros(gram.shape[0])
    if np.count_nonzero(beta_lo) <= keep:  # even a tiny penalty leaves <= c' channels
        beta_hi = beta_lo
    else:
        for _ in range(steps):  # raise alpha (bisected in log scale) until at most c' channels remain
            mid = float(np.sqrt(lo * hi))
            beta = fit(mid)
            if np.count_nonzero(beta) > keep:
                lo, beta_lo = mid, beta
            else:
                hi, beta_hi = mid, beta
                if np.count_nonzero(beta) == keep:
                    break
    chosen = [int(i) for i in np.flatnonzero(beta_hi)]
    for i in np.argsort(-np.abs(beta_lo), kind="stable"):  # fill a shortfall by |beta| at the smaller alpha
        if len(chosen) >= keep:
            break
        if int(i) not in chosen:
            chosen.append(int(i))
    return torch.tensor(sorted(chosen), dtype=torch.long)


class RegressionPruner(ReconstructionPruner):
    """LASSO channel selection + least-squares reconstruction (see module docstring).

    Args: ``ratio``, ``layer_ratios``, ``locations_per_image`` (here He et al.'s 10) and the other sampling
    options (``**kwargs``: ``num_images``, ``seed``, ``batch_size``) as in
    :class:`~pruning_lightning.pruning.reconstruct.ReconstructionPruner`, and
        shortcut_target: refit a ResNet branch's last layer against ``Y1 + Y2 - Y1'`` (He et al.).
    """

    name: ClassVar[str] = "regression"
    # Its consumer's input columns are the unit's channels (ThiNet groups a flattened map's taps instead).
    needs: ClassVar[frozenset[str]] = ReconstructionPruner.needs | {Capability.CHANNELWISE_CONSUMERS}

    def __init__(
        self,
        ratio: float = 0.5,
        layer_ratios: dict[str, float] | None = None,
        locations_per_image: int = 10,
        shortcut_target: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(ratio, layer_ratios, locations_per_image=locations_per_image, **kwargs)
        self.shortcut_target = shortcut_target

    @torch.no_grad()
    def select(self, model: nn.Module, arch: ArchSpec, data: DataLoader | None = None) -> KeepPlan:
        units, ratios, images, work = self.prepare(model, arch, data)
        plan, touched = KeepPlan(), []
        todo: list[tuple[int, ChannelUnit, str]] = []
        for i, unit in enumerate(units):
            nxt = unit.consumer if ratios[unit.name] > 0 else None
            if nxt is not None:
                todo.append((i, unit, nxt))
            elif ratios[unit.name] > 0:
                plan.notes.append(f"regression: {unit.name} feeds no single next layer; left intact")
        # Targets: the unpruned network's outputs, sampled once for every layer (same positions as below).
        m, bs = self.locations_per_image, self.batch_size
        targets = sample_outputs(model, {nxt: self.seed + i for i, _, nxt in todo}, images, m, bs)
        # Shortcut-aware targets (ResNet branch ends): the unpruned network's shortcut outputs Y1, likewise once.
        ends: dict[str, BranchEnd] = {
            nxt: u.branch_end for _, u, nxt in todo if self.shortcut_target and u.branch_end is not None
        }
        y1_seeds = {ends[nxt].block: self.seed + i for i, _, nxt in todo if nxt in ends}
        y1 = sample_shortcuts(model, y1_seeds, images, m, bs)
        for i, unit, nxt in todo:
            x = sample_inputs(work, nxt, images, m, self.seed + i, bs)
            if x.shape[1] != unit.size:
                raise PruningError(f"regression: {nxt} reads {x.shape[1]} channels but {unit.name} has {unit.size}")
            y = targets[nxt]
            if nxt in ends:  # Y1' from the working network as it is now (earlier layers already pruned)
                end = ends[nxt]
                y1_work = sample_shortcuts(work, {end.block: self.seed + i}, images, m, bs)[end.block]
                y = shortcut_target(y, y1[end.block], y1_work, branch_gain(work, end))
            w = layer_weight(work, nxt)
            norms = w.double().pow(2).sum((0, 2)).sqrt().cpu()
            inv = torch.where(norms > 0, 1 / norms, torch.zeros_like(norms))  # zero filter -> zero feature
            gram = contribution_gram(x, w) * inv[:, None] * inv[None, :]
            cross = contribution_cross(x, w, y) * inv
            keep = keep_count(unit.size, ratios[unit.name])
            kept = lasso_channels(gram, cross, keep)
            if len(x) < keep * x.shape[2]:
                plan.notes.append(
                    f"regression: {nxt} is refit from {len(x)} samples for {keep * x.shape[2]} weights per "
                    "output (under-determined, minimum-norm solution); raise num_images"
                )
            new_w = torch.zeros_like(w)
            new_w[:, kept] = least_squares(x[:, kept], y).to(w)
            set_layer_weight(work, nxt, new_w)
            plan.channels[unit.name] = kept
            touched.append(nxt)
        if not plan.channels:
            raise PruningError("regression: no layer was pruned; check ratio / layer_ratios")
        params = dict(work.named_parameters())
        plan.weight_updates = {f"{n}.weight": params[f"{n}.weight"].detach().clone() for n in touched}
        return plan
