"""Unstructured weight masks: where they live on a module, and the callback that keeps them.

A pruned artifact carries masks as ``structure`` entries ``"mask:<param>"`` (bool, the shape of the
parameter ``<param>`` of the network ``net``). A regime module keeps them as bool **buffers** of a
small container ``weight_masks`` (so they move with the module, travel in every checkpoint and come
back on resume), and :class:`ApplyWeightMasks` holds the pruned weights at exactly zero.

Why both hooks (arXiv 1810.05270 Table 6; the official weight-level code): the reference multiplies each
masked gradient by the mask after
``backward()``; with a zero weight and a zero gradient, SGD's weight decay and momentum add nothing,
so zeros stay zeros. Re-applying ``weight *= mask`` after every step additionally makes that exact
when a momentum buffer or an outside write could otherwise revive a pruned weight.
"""

from __future__ import annotations

import math

import lightning as L
import torch
from torch import nn

from pruning_lightning.core.errors import PruningError

MASK_PREFIX = "mask:"
CONTAINER = "weight_masks"


def split_masks(structure: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Split artifact ``structure`` into (masks keyed by parameter name, the other entries)."""
    masks = {k[len(MASK_PREFIX) :]: v for k, v in structure.items() if k.startswith(MASK_PREFIX)}
    rest = {k: v for k, v in structure.items() if not k.startswith(MASK_PREFIX)}
    return masks, rest


def _buffer_name(param: str) -> str:
    return param.replace(".", "/")  # buffer names may not contain dots


def attach_masks(owner: nn.Module, net: nn.Module, masks: dict[str, torch.Tensor], source: str = "artifact") -> None:
    """Validate ``masks`` against ``net``'s parameters and store them as buffers of ``owner.weight_masks``.

    Raises:
        PruningError: a mask names no parameter of ``net`` or has another shape.
    """
    params = dict(net.named_parameters())
    for name, mask in masks.items():
        if name not in params or params[name].shape != mask.shape:
            have = tuple(params[name].shape) if name in params else "no such parameter"
            raise PruningError(
                f"mask {name} {tuple(mask.shape)} of {source} does not fit the model ({have}); "
                "pass the artifact's arch.yaml with --config"
            )
    container = getattr(owner, CONTAINER, None)
    if container is None:
        container = nn.Module()
        owner.add_module(CONTAINER, container)
    for name, mask in masks.items():
        device = params[name].device
        container.register_buffer(_buffer_name(name), mask.detach().to(device=device, dtype=torch.bool).clone())


def masks_of(owner: nn.Module) -> dict[str, torch.Tensor]:
    """Parameter name -> bool mask held by ``owner`` (empty when it holds none)."""
    container = getattr(owner, CONTAINER, None)
    if container is None:
        return {}
    return {k.replace("/", "."): v for k, v in container.named_buffers()}


def prepare_mask_buffers(owner: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    """Before a checkpoint's state dict is loaded, create the mask buffers it holds (resume)."""
    prefix = CONTAINER + "."
    entries = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
    if not entries:
        return
    container = getattr(owner, CONTAINER, None)
    if container is None:
        container = nn.Module()
        owner.add_module(CONTAINER, container)
    for name, value in entries.items():
        if name not in dict(container.named_buffers()):
            container.register_buffer(name, torch.zeros_like(value, dtype=torch.bool, device="cpu"))


@torch.no_grad()
def apply_masks(net: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """``param *= mask`` for every masked parameter of ``net``."""
    for name, mask in masks.items():
        net.get_parameter(name).mul_(mask)


class ApplyWeightMasks(L.Callback):
    """Keep masked weights exactly zero while training (fine-tune, scratch, lottery tickets).

    Masks are read from the LightningModule's ``weight_masks`` buffers (see module docstring), which
    the regime modules fill from the artifact. Gradients are multiplied by the mask before each
    optimizer step (unscaled under AMP, once per accumulated step), and the weights are multiplied
    by the mask after each training batch. With no masks on the module it does nothing.
    """

    @staticmethod
    def _pairs(pl_module: L.LightningModule) -> list[tuple[nn.Parameter, torch.Tensor]]:
        net: nn.Module = pl_module.net  # type: ignore[assignment]
        return [(net.get_parameter(name), mask) for name, mask in masks_of(pl_module).items()]

    @torch.no_grad()
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for param, mask in self._pairs(pl_module):
            param.mul_(mask)

    @torch.no_grad()
    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: object) -> None:
        for param, mask in self._pairs(pl_module):
            if param.grad is not None:
                param.grad.mul_(mask)

    @torch.no_grad()
    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: object, batch: object, batch_idx: int
    ) -> None:
        for param, mask in self._pairs(pl_module):
            param.mul_(mask)


@torch.no_grad()
def density_he_init(net: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Sparsity-aware re-init of masked conv weights (docs/protocol.md §4), then ``W *= M`` for every mask.

    For a masked ``Conv2d`` weight: ``n = nnz(M) / C_in`` and ``W ~ N(0, sqrt(2 / n))``, i.e. He fan-out
    with the fan-out reduced by the density. Other masked parameters keep their init and are masked.
    """
    modules = dict(net.named_modules())
    for name, mask in masks.items():
        owner, _, leaf = name.rpartition(".")
        m = modules.get(owner)
        param = net.get_parameter(name)
        if isinstance(m, nn.Conv2d) and leaf == "weight":
            n = int(mask.sum()) / m.in_channels
            if n > 0:
                param.normal_(0, math.sqrt(2.0 / n))
        param.mul_(mask)
