"""Sparse Structure Selection (Huang & Wang, "Data-Driven Sparse Structure Selection for Deep Neural
Networks", ECCV 2018, arXiv 1707.01213), arXiv 1810.05270 Table 5.

Criterion: a residual block whose learned branch scale is zero (``|scale| <= threshold``, default
exactly 0, which ``BlockScaleSparsity`` produces) loses its residual branch. The block becomes its
shortcut: an identity, or for a downsampling block its projection (ImageNet ResNet) / the
parameter-free pool-and-pad shortcut (CIFAR ResNet).

The result is the architecture's ordinary cfg (the same spec as the SSS presets): a removed block has
width 0 (``resnet_cifar``) or an all-zero group (``resnet_imagenet``, e.g. ResNet-41 =
``configs/arch/imagenet/sss_resnet41.yaml``). Surviving scales are folded into the branch's last
BatchNorm (``gamma * s``, ``beta * s``) and ``block_scale`` is dropped, so the pruned net is the
plain architecture and computes exactly what the scaled net computed (eval mode).

Deviations from the reference code: none in the selection (the Rethinking repo has no SSS code and
trains the published architectures; see ``BlockScaleSparsity`` for the optimiser).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from torch.utils.data import DataLoader

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.base import Pruner
from pruning_lightning.pruning.plan import KeepPlan
from pruning_lightning.pruning.surgery import Capability, residual_blocks


class SSSPruner(Pruner):
    """Remove residual branches whose scale is zero (see module docstring).

    Args:
        threshold: a branch is removed when ``|scale| <= threshold`` (0: only exact zeros).
    """

    name: ClassVar[str] = "sss"
    needs: ClassVar[frozenset[str]] = frozenset({Capability.RESIDUAL_BLOCKS})

    def __init__(self, threshold: float = 0.0) -> None:
        if threshold < 0:
            raise PruningError(f"sss threshold must be >= 0, got {threshold}")
        self.threshold = threshold

    @torch.no_grad()
    def select(self, model: nn.Module, arch: ArchSpec, data: DataLoader | None = None) -> KeepPlan:
        if not arch.options.get("block_scale", False):
            raise PruningError(
                "sss: the network has no block scales; train it with arch.options.block_scale: true "
                "and configs/sparsity/sss.yaml"
            )
        params = dict(model.named_parameters())
        modules = dict(model.named_modules())
        plan = KeepPlan()
        cfg: list[int] = []
        removed: list[str] = []
        for block in residual_blocks(arch):
            name, group, last_bn = block.name, block.group, block.last_bn
            if last_bn is None:  # already without a branch
                cfg += group
                continue
            scale = params[f"{name}.scale"].detach()
            if float(scale.abs().max()) <= self.threshold:
                cfg += [0] * len(group)
                removed.append(name)
                continue
            cfg += group
            bn = modules[last_bn]
            # bn(x) * s == BN with gamma * s and beta * s (eval mode): fold the scale away.
            plan.weight_updates[f"{last_bn}.weight"] = bn.weight.detach() * scale
            plan.weight_updates[f"{last_bn}.bias"] = bn.bias.detach() * scale
        options = {k: v for k, v in arch.options.items() if k != "block_scale"}
        plan.arch = arch.replace(cfg=cfg, options=options)
        plan.notes.append(f"sss: removed {len(removed)} residual branch(es): {', '.join(removed) or 'none'}")
        return plan
