"""Shared layers and the paper's initialisation (docs/protocol.md §4)."""

from __future__ import annotations

import functools
import math
from typing import Any

import torch
from torch import nn


@torch.no_grad()
def init_he_fan_out(module: nn.Module, bn_gamma: float = 1.0, linear_std: float | None = None) -> None:
    """He (fan-out) init for convs, constant BN, optional N(0, std) Linear; biases zero.

    Args:
        module: network to initialise in place.
        bn_gamma: initial BN scale (0.5 for the slimming VGG / PreResNet / DenseNet).
        linear_std: if given, Linear weights ~ N(0, std) (VGG heads use 0.01); else PyTorch default.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            m.weight.normal_(0, math.sqrt(2.0 / n))
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            m.weight.fill_(bn_gamma)
            m.bias.zero_()
        elif isinstance(m, nn.Linear) and linear_std is not None:
            m.weight.normal_(0, linear_std)
            m.bias.zero_()


class ChannelSelection(nn.Module):
    """Pass on only the channels whose ``indexes`` entry is set (Network Slimming, arXiv 1810.05270 Table 4).

    It sits right after a BatchNorm that slimming must not shrink (it feeds a residual sum or a
    dense concatenation); pruning that BN means clearing entries of ``indexes`` instead. ``indexes``
    is a bool **buffer**, not a parameter: it is never trained or counted as a parameter, and it
    travels in the state dict (the artifact's ``structure``).

    Args:
        num_channels: width of the incoming tensor (the BN's width).
        num_selected: how many leading channels a freshly built layer selects (default: all). A
            net built from a pruned cfg therefore runs at once; loading the pruned ``structure``
            then picks the actual channels.
    """

    indexes: torch.Tensor  # registered with register_buffer in __init__

    def __init__(self, num_channels: int, num_selected: int | None = None) -> None:
        super().__init__()
        _keep_selected_out_of_compile()
        k = num_channels if num_selected is None else num_selected
        mask = torch.zeros(num_channels, dtype=torch.bool)
        mask[:k] = True
        self.register_buffer("indexes", mask)
        self._cache: tuple[tuple[int, int], torch.Tensor] | None = None

    def __setstate__(self, state: dict[str, Any]) -> None:  # unpickled and deep-copied layers skip __init__
        _keep_selected_out_of_compile()
        super().__setstate__(state)

    def selected(self) -> torch.Tensor:  # under torch.compiler.disable, see _keep_selected_out_of_compile
        """Positions of the selected channels (cached; recomputed after ``indexes`` changes)."""
        # ``_version`` grows on every in-place write (load_state_dict, copy_) and ``data_ptr``
        # changes on device moves, so the cache never goes stale and the forward needs no
        # host sync for ``nonzero`` on every call.
        key = (self.indexes._version, self.indexes.data_ptr())
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, torch.nonzero(self.indexes).flatten())
        return self._cache[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.index_select(x, 1, self.selected())

    def extra_repr(self) -> str:
        return f"{int(self.indexes.sum())}/{self.indexes.numel()}"


@functools.cache
def _keep_selected_out_of_compile() -> None:
    """Wrap ``ChannelSelection.selected`` in ``torch.compiler.disable``, once, when the first layer is made.

    ``selected`` is data-dependent: a compiled net breaks the graph there instead of recompiling. The
    wrap waits for the first instance because ``torch.compiler.disable`` imports ``torch._dynamo``
    (about 2 s), which ``import pruning_lightning.models`` would otherwise pay.
    """
    ChannelSelection.selected = torch.compiler.disable(ChannelSelection.selected)  # type: ignore[method-assign]
