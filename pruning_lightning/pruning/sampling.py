"""Sampling of one layer on training images, shared by the data-driven methods (arXiv 1810.05270 Tables 2-3).

A layer's input patches ``x`` (N samples, C input channels, K = kernel taps; a Linear has K = 1) are
taken at random output locations, drawn from a seeded stream of their own, so two networks sampled
with the same seed, images and batches give patches at the same places. Forward passes stop right
after the last sampled layer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from pruning_lightning.core.errors import PruningError


class _Stop(Exception):
    """Raised by the capture hook: nothing after the sampled layer needs computing."""


def collect_images(data: DataLoader, num_images: int, seed: int = 0, per_class: int | None = None) -> torch.Tensor:
    """The first ``num_images`` images of ``data`` (fewer if the loader is shorter); with ``per_class``,
    only the first ``per_class`` images of each label count (ThiNet's 10 images per class).

    The global RNG is forked and seeded while iterating, so a shuffling / augmenting training loader
    gives the same images for the same ``seed`` and the caller's RNG state is left untouched.
    """
    chunks: list[torch.Tensor] = []
    have, seen = 0, dict[int, int]()  # seen: images taken per label
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for batch in data:
            x = batch[0] if isinstance(batch, list | tuple) else batch
            if per_class is not None:
                if not isinstance(batch, list | tuple) or len(batch) < 2:
                    raise PruningError("images_per_class needs (image, label) batches from the training loader")
                keep = []
                for i, label in enumerate(batch[1].tolist()):
                    if seen.get(label, 0) < per_class:
                        seen[label] = seen.get(label, 0) + 1
                        keep.append(i)
                x = x[keep]
            chunks.append(x)
            have += len(x)
            if have >= num_images:
                break
    if not chunks:
        raise PruningError("the training data loader is empty; data-driven pruning needs training images")
    return torch.cat(chunks)[:num_images]


def _patch_fn(layer: str, module: nn.Module, locations: int, seed: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """``input batch -> (B * m, C, K)`` patches of ``layer``; positions drawn from its own seeded stream."""
    if isinstance(module, nn.Linear):
        return lambda x: x.flatten(1).unsqueeze(-1)
    if not isinstance(module, nn.Conv2d) or module.groups != 1 or module.padding_mode != "zeros":
        raise PruningError(f"cannot sample {layer}: only plain Conv2d (groups=1, zero padding) or Linear")
    if isinstance(module.padding, str):
        raise PruningError(f"cannot sample {layer}: string padding {module.padding!r} is not supported")
    gen = torch.Generator().manual_seed(seed)
    return lambda x: sample_patches(x, module, locations, gen)


def run_hooked(
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
    run_hooked(model, {layer: lambda x: out.append(patch(x))}, images, batch_size, stop_after=layer)
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

    run_hooked(model, {n: collect(n) for n in seeds}, images, batch_size, stop_after=None)
    return {n: torch.cat(v) for n, v in out.items()}


def sample_patches(x: torch.Tensor, conv: nn.Conv2d, locations: int, gen: torch.Generator) -> torch.Tensor:
    """(B * m, C, K) input patches of ``conv`` at m random output positions per image (no full im2col)."""
    assert not isinstance(conv.padding, str)  # rejected by the callers (string padding)
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


def outputs(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Bias-free layer outputs (N, O) at the sampled patches."""
    return x.reshape(len(x), -1) @ w.reshape(w.shape[0], -1).to(x).T
