"""Shared algebra and configuration of the data-driven methods (arXiv 1810.05270 Tables 2-3).

Pruning the output channels of a unit removes *input* channels of its consumer (``ChannelUnit.consumer``:
the next conv, or the first Linear of the head). Both methods look at that next layer on sampled data
(:mod:`~pruning_lightning.pruning.sampling`): its input patches ``x`` (N samples, C input channels,
K = kernel taps) at random output locations, its weight ``w`` (O, C, K), and the per-channel
contributions ``z[n, o, c] = sum_k w[o, c, k] x[n, c, k]`` whose sum over ``c`` is the layer's
(bias-free) output.

Every sample contributes all O outputs, so the Gram matrix of the contributions is computed without
materialising ``z`` (N x O x C floats): ``G[c, d] = sum_{k, k'} (XᵀX)[(c,k), (d,k')] (WᵀW)[(c,k), (d,k')]``.
"""

from __future__ import annotations

import copy
from typing import ClassVar

import torch
from torch import nn
from torch.utils.data import DataLoader

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models import classes_of
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.base import Pruner
from pruning_lightning.pruning.sampling import collect_images
from pruning_lightning.pruning.surgery import Capability, ChannelUnit, channel_units


def contribution_gram(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``G[c, d] = sum_{n, o} z[n, o, c] z[n, o, d]`` (float64, C x C) from patches x and weight w."""
    n, c, k = x.shape
    xf, wf = x.reshape(n, c * k), w.reshape(w.shape[0], c * k).to(x)
    s = xf.T @ xf
    s.mul_(wf.T @ wf)
    return s.view(c, k, c, k).sum((1, 3), dtype=torch.float64).cpu()  # small: the solvers run on the CPU


def contribution_cross(x: torch.Tensor, w: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``g[c] = sum_{n, o} z[n, o, c] y[n, o]`` (float64, C) for a target output y (N, O)."""
    n, c, k = x.shape
    p = y.to(x) @ w.reshape(w.shape[0], c * k).to(x)  # (N, C*K)
    return (x.reshape(n, c * k) * p).sum(0, dtype=torch.float64).view(c, k).sum(1).cpu()


def least_squares(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Weight (O, C, K) minimising ``||y - x W||²`` over samples (float64).

    Solved with ``torch.linalg.lstsq`` on the normal equations (``xᵀx W = xᵀy``: two GEMMs and a
    (C*K)-sized solve instead of a QR of the N x C*K sample matrix); rank-deficient or under-determined
    systems get the minimum-norm solution (LAPACK gelsy).
    """
    n, c, k = x.shape
    xf = x.reshape(n, c * k).double()
    a, b = (xf.T @ xf).cpu(), (xf.T @ y.to(xf)).cpu()  # gelsy is a CPU (LAPACK) driver
    sol = torch.linalg.lstsq(a, b, rcond=1e-12, driver="gelsy").solution  # (C*K, O)
    return sol.T.reshape(y.shape[1], c, k).float().to(x.device)


def keep_count(size: int, ratio: float, rounding: str = "round") -> int:
    """Channels kept when a fraction ``ratio`` of ``size`` is removed (at least one).

    ``rounding="floor"`` takes the integer part, as ThiNet's published widths do (ResNet-50 ThiNet-70
    keeps 44/89/179/358 of 64/128/256/512, ThiNet-30 19/38/76/153); a 1e-9 slack absorbs float error
    such as ``64 * (1 - 0.7)`` = 19.2000...03. ``"round"`` rounds to the nearest integer (regression).
    """
    if rounding == "floor":
        return max(1, int(size * (1.0 - ratio) + 1e-9))
    if rounding != "round":
        raise PruningError(f"rounding must be 'floor' or 'round', got {rounding!r}")
    return max(1, int(round(size * (1.0 - ratio))))


def layer_ratios(units: list[ChannelUnit], ratio: float, overrides: dict[str, float] | None) -> dict[str, float]:
    """Per-unit removal ratio: ``ratio`` everywhere, ``overrides`` by unit name (0 = leave intact)."""
    overrides = dict(overrides or {})
    names = {u.name for u in units}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise PruningError(f"layer_ratios names unknown channel units {unknown[:3]}; known: {sorted(names)[:5]}...")
    for name, r in overrides.items():
        if not 0 <= r < 1:
            raise PruningError(f"layer_ratios[{name}] must be in [0, 1), got {r}")
    return {u.name: overrides.get(u.name, ratio) for u in units}


class ReconstructionPruner(Pruner):
    """Shared configuration of the data-driven methods that reconstruct the next layer (ThiNet, regression).

    Args:
        ratio: fraction of channels removed in each pruned layer (0-1).
        layer_ratios: per-unit overrides of ``ratio`` (unit name -> fraction; 0 = keep the layer intact).
        num_images: training images sampled (the first ones of the loader).
        images_per_class: instead of ``num_images``, the first this many images of every class
            (``num_classes`` x this in all; ThiNet samples 10 per class).
        locations_per_image: random output locations of the next layer per image (capped at its size).
        seed: seed of the image order (a shuffling loader) and of the location sampling.
        batch_size: images per forward pass while sampling.
    """

    needs: ClassVar[frozenset[str]] = frozenset({Capability.CHANNEL_UNITS, Capability.UNIT_CONSUMERS})
    needs_data: ClassVar[bool] = True

    def __init__(
        self,
        ratio: float = 0.5,
        layer_ratios: dict[str, float] | None = None,
        num_images: int = 512,
        locations_per_image: int = 16,
        seed: int = 0,
        batch_size: int = 64,
        images_per_class: int | None = None,
    ) -> None:
        self.ratio = self.check_ratio(ratio)
        if num_images < 1 or locations_per_image < 1 or batch_size < 1 or (images_per_class or 1) < 1:
            raise PruningError("num_images, images_per_class, locations_per_image and batch_size must all be >= 1")
        self.layer_ratios = dict(layer_ratios or {})
        self.num_images, self.locations_per_image = num_images, locations_per_image
        self.seed, self.batch_size, self.images_per_class = seed, batch_size, images_per_class

    def prepare(
        self, model: nn.Module, arch: ArchSpec, data: DataLoader | None
    ) -> tuple[list[ChannelUnit], dict[str, float], torch.Tensor, nn.Module]:
        """Units, per-unit ratios, the sampled images and a working copy of ``model`` to reconstruct in."""
        if data is None:
            raise PruningError(f"method {self.name!r} needs training data: configure --data")
        units = channel_units(model, arch)
        per_class = self.images_per_class
        count = self.num_images if per_class is None else per_class * classes_of(model)
        images = collect_images(data, count, self.seed, per_class=per_class)
        return units, layer_ratios(units, self.ratio, self.layer_ratios), images, copy.deepcopy(model).eval()
