"""Shared machinery of the data-driven methods (arXiv 1810.05270 Tables 2-3): sample the next layer.

Pruning the output channels of a layer removes *input* channels of the next layer (a conv or the
first Linear of the head). Both methods look at that next layer on sampled data: its input patches
``x`` (N samples, C input channels, K = kernel taps) at random output locations, its weight ``w``
(O, C, K), and the per-channel contributions ``z[n, o, c] = sum_k w[o, c, k] x[n, c, k]`` whose sum
over ``c`` is the layer's (bias-free) output.

Every sample contributes all O outputs, so the Gram matrix of the contributions is computed without
materialising ``z`` (N x O x C floats): ``G[c, d] = sum_{k, k'} (XᵀX)[(c,k), (d,k')] (WᵀW)[(c,k), (d,k')]``.
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from pruning_lightning.errors import PruningError
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.base import Pruner
from pruning_lightning.pruning.surgery import ChannelUnit, channel_units


class _Stop(Exception):
    """Raised by the capture hook: nothing after the sampled layer needs computing."""


def collect_images(data: DataLoader, num_images: int, seed: int = 0) -> torch.Tensor:
    """The first ``num_images`` images of ``data`` (fewer if the loader is shorter).

    The global RNG is forked and seeded while iterating, so a shuffling / augmenting training loader
    gives the same images for the same ``seed`` and the caller's RNG state is left untouched.
    """
    chunks: list[torch.Tensor] = []
    have = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for batch in data:
            x = batch[0] if isinstance(batch, list | tuple) else batch
            chunks.append(x)
            have += len(x)
            if have >= num_images:
                break
    if not chunks:
        raise PruningError("the training data loader is empty; data-driven pruning needs training images")
    return torch.cat(chunks)[:num_images]


def next_layer(model: nn.Module, arch: ArchSpec, unit: ChannelUnit) -> str | None:
    """Name of the module that consumes ``unit``'s channels through per-channel ops only, or None.

    ``...conv{k}`` feeds ``...conv{k+1}`` of the same block (VGG features; the inner convs of ResNet
    blocks, never the residual stream); the last conv of ``features`` feeds the first Linear of
    ``classifier`` (CIFAR and ImageNet VGG: only pools / BN / ReLU lie between them).
    """
    modules = dict(model.named_modules())
    if unit.conv is None:
        return None
    parent, _, leaf = unit.conv.rpartition(".")
    m = re.fullmatch(r"conv(\d+)", leaf)
    if m and parent:  # a ResNet stem ``conv1`` has no parent and feeds the residual stream
        cand = f"{parent}.conv{int(m.group(1)) + 1}"
        if isinstance(modules.get(cand), nn.Conv2d):
            return cand
    if m and parent == "features":
        head = (n for n, mod in modules.items() if n.split(".")[0] == "classifier" and isinstance(mod, nn.Linear))
        return next(head, None)
    return None


def _patch_fn(layer: str, module: nn.Module, locations: int, seed: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """``input batch -> (B * m, C, K)`` patches of ``layer``; positions drawn from its own seeded stream."""
    if isinstance(module, nn.Linear):
        return lambda x: x.flatten(1).unsqueeze(-1)
    if not isinstance(module, nn.Conv2d) or module.groups != 1 or module.padding_mode != "zeros":
        raise PruningError(f"cannot sample {layer}: only plain Conv2d (groups=1, zero padding) or Linear")
    if isinstance(module.padding, str):
        raise PruningError(f"cannot sample {layer}: string padding {module.padding!r} is not supported")
    gen = torch.Generator().manual_seed(seed)
    return lambda x: _patches(x, module, locations, gen)


def _run(
    model: nn.Module,
    hooks: dict[str, Callable[[torch.Tensor], None]],
    images: torch.Tensor,
    batch_size: int,
    stop_after: str | None,
) -> None:
    """Forward ``images`` in batches, calling ``hooks[layer](input)``; stop early at ``stop_after``."""
    modules = dict(model.named_modules())
    device = next(model.parameters()).device

    def make(name: str, fn: Callable[[torch.Tensor], None]) -> Callable[..., None]:
        def hook(mod: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            fn(args[0].detach())
            if name == stop_after:
                raise _Stop

        return hook

    handles = [modules[n].register_forward_pre_hook(make(n, fn)) for n, fn in hooks.items()]
    try:
        for batch in images.split(batch_size):
            with contextlib.suppress(_Stop):
                model(batch.to(device))
    finally:
        for h in handles:
            h.remove()


def sample_inputs(
    model: nn.Module, layer: str, images: torch.Tensor, locations: int, seed: int, batch_size: int = 64
) -> torch.Tensor:
    """Input patches (N, C, K) of ``layer`` at ``locations`` random output positions per image.

    The positions depend only on ``seed`` and the image count, so two networks sampled with the same
    seed (the working and the unpruned net, for regression) give patches at the same places.
    """
    patch = _patch_fn(layer, dict(model.named_modules())[layer], locations, seed)
    out: list[torch.Tensor] = []
    _run(model, {layer: lambda x: out.append(patch(x))}, images, batch_size, stop_after=layer)
    return torch.cat(out).float()


def sample_outputs(
    model: nn.Module, seeds: dict[str, int], images: torch.Tensor, locations: int, batch_size: int = 64
) -> dict[str, torch.Tensor]:
    """Bias-free outputs (N, O) of several layers in one pass, at the positions ``sample_inputs`` picks.

    ``seeds`` maps layer name -> the seed its ``sample_inputs`` call uses.
    """
    modules = dict(model.named_modules())
    out: dict[str, list[torch.Tensor]] = {n: [] for n in seeds}

    def collect(name: str) -> Callable[[torch.Tensor], None]:
        patch, w = _patch_fn(name, modules[name], locations, seeds[name]), layer_weight(model, name)
        return lambda x: out[name].append(outputs(patch(x).float(), w))

    _run(model, {n: collect(n) for n in seeds}, images, batch_size, stop_after=None)
    return {n: torch.cat(v) for n, v in out.items()}


def _patches(x: torch.Tensor, conv: nn.Conv2d, locations: int, gen: torch.Generator) -> torch.Tensor:
    """(B * m, C, K) input patches of ``conv`` at m random output positions per image (no full im2col)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    xp = F.pad(x, (pw, pw, ph, ph))
    out_h = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    out_w = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    n_loc, b = out_h * out_w, len(x)
    pos = torch.rand(b, n_loc, generator=gen).argsort(1)[:, : min(locations, n_loc)].to(x.device)  # (B, m)
    ar = torch.arange
    rows = ((pos // out_w) * sh)[:, :, None, None] + (ar(kh, device=x.device) * dh)[:, None]  # (B, m, kh, 1)
    cols = ((pos % out_w) * sw)[:, :, None, None] + (ar(kw, device=x.device) * dw)[None, :]  # (B, m, 1, kw)
    picked = xp[ar(b, device=x.device)[:, None, None, None], :, rows, cols]  # (B, m, kh, kw, C)
    return picked.permute(0, 1, 4, 2, 3).reshape(-1, x.shape[1], kh * kw)


def layer_weight(model: nn.Module, layer: str) -> torch.Tensor:
    """Weight of ``layer`` as (O, C, K)."""
    w = dict(model.named_modules())[layer].weight.detach()
    return w.reshape(w.shape[0], w.shape[1], -1)


def set_layer_weight(model: nn.Module, layer: str, w: torch.Tensor) -> None:
    """Write an (O, C, K) weight back into ``layer`` (in place)."""
    param = dict(model.named_modules())[layer].weight
    with torch.no_grad():
        param.copy_(w.reshape(param.shape).to(param.dtype))


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


def outputs(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Bias-free layer outputs (N, O) at the sampled patches."""
    return x.reshape(len(x), -1) @ w.reshape(w.shape[0], -1).to(x).T


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
        locations_per_image: random output locations of the next layer per image (capped at its size).
        seed: seed of the image order (a shuffling loader) and of the location sampling.
        batch_size: images per forward pass while sampling.
    """

    supports: ClassVar[frozenset[str]] = frozenset({"vgg", "resnet_cifar", "resnet_imagenet"})
    needs_data: ClassVar[bool] = True

    def __init__(
        self,
        ratio: float = 0.5,
        layer_ratios: dict[str, float] | None = None,
        num_images: int = 512,
        locations_per_image: int = 16,
        seed: int = 0,
        batch_size: int = 64,
    ) -> None:
        self.ratio = self.check_ratio(ratio)
        if num_images < 1 or locations_per_image < 1 or batch_size < 1:
            raise PruningError("num_images, locations_per_image and batch_size must all be >= 1")
        self.layer_ratios = dict(layer_ratios or {})
        self.num_images, self.locations_per_image = num_images, locations_per_image
        self.seed, self.batch_size = seed, batch_size

    def prepare(
        self, model: nn.Module, arch: ArchSpec, data: DataLoader | None
    ) -> tuple[list[ChannelUnit], dict[str, float], torch.Tensor, nn.Module]:
        """Units, per-unit ratios, the sampled images and a working copy of ``model`` to reconstruct in."""
        if data is None:
            raise PruningError(f"method {self.name!r} needs training data: configure --data")
        units = channel_units(model, arch)
        images = collect_images(data, self.num_images, self.seed)
        return units, layer_ratios(units, self.ratio, self.layer_ratios), images, copy.deepcopy(model).eval()
