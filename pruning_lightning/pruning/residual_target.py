"""He et al.'s shortcut-aware reconstruction target for a residual branch's last layer (ICCV 2017, Sec. 3.3).

A block computes ``relu(Y2 + Y1)`` (``Y2``: the residual branch, ``Y1``: the shortcut). When the branch's
last layer is refit in the partly pruned network, its shortcut carries ``Y1'`` (the upstream error), so
the target of the refit is ``Y1 + Y2 - Y1'`` instead of the plain ``Y2``: the branch also absorbs the
error that arrives through the shortcut. The refit works on the bias-free conv output ``u`` before the
branch's last BN (eval mode: ``a * u + b``, times the block scale if any), so the target in ``u``'s
units is ``u + (Y1 - Y1') / a`` per output channel (no correction where ``a == 0``).

``Y1`` (unpruned network) and ``Y1'`` (working network) are sampled at the positions ``sample_inputs``
draws for the last conv: the same seed, images and batches give the same draws (the last conv keeps
the block's spatial size).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from pruning_lightning.pruning.sampling import run_hooked, sample_patches
from pruning_lightning.pruning.surgery import BranchEnd

_POINT = nn.Conv2d(1, 1, 1, bias=False)  # geometry only: sample single positions of a feature map


def sample_shortcuts(
    model: nn.Module, seeds: dict[str, int], images: torch.Tensor, locations: int, batch_size: int = 64
) -> dict[str, torch.Tensor]:
    """Shortcut outputs (N, O) of several blocks (``block.shortcut(x)``) in one pass; ``seeds``: block name -> its
    last conv's seed."""
    modules = dict(model.named_modules())
    out: dict[str, list[torch.Tensor]] = {n: [] for n in seeds}

    def collect(name: str) -> Callable[[torch.Tensor], None]:
        gen = torch.Generator().manual_seed(seeds[name])
        return lambda x: out[name].append(sample_patches(modules[name].shortcut(x), _POINT, locations, gen)[..., 0])

    stop = next(iter(seeds)) if len(seeds) == 1 else None  # one block: nothing after its input is needed
    run_hooked(model, {n: collect(n) for n in seeds}, images, batch_size, stop_after=stop)
    return {n: torch.cat(v).float() for n, v in out.items()}


def branch_gain(model: nn.Module, end: BranchEnd) -> torch.Tensor:
    """Per-output-channel slope ``a`` from the branch's last conv output to the branch output
    (eval-mode BN ``end.bn``, times the block's ``scale`` if any)."""
    modules = dict(model.named_modules())
    bn = modules[end.bn]
    a = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    scale = getattr(modules[end.block], "scale", None)
    return (a * scale.detach() if scale is not None else a).float()


def shortcut_target(plain: torch.Tensor, y1: torch.Tensor, y1_work: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """``Y1 + Y2 - Y1'`` in conv-output units: ``plain + (y1 - y1_work) / gain`` (unchanged where gain is 0)."""
    inv = torch.where(gain != 0, 1 / gain, torch.zeros_like(gain)).to(plain)
    return plain + (y1 - y1_work).to(plain) * inv
