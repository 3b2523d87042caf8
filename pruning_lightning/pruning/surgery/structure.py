"""How a family describes its prunable structure, once, for every criterion and for its own surgery.

Each family module in this package builds a :class:`FamilySurgery`: its *channel units* (the groups of
channels a structured method keeps or removes together, with what produces, scales and consumes
them), its stage count and residual blocks, and ``cut``, which slices a network to a keep-set with
the shared helpers of :mod:`~pruning_lightning.pruning.surgery.slicing`. Criteria read only these
descriptions, so they never branch on the family.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from pruning_lightning.models.spec import ArchSpec


@dataclass(frozen=True)
class BranchEnd:
    """The residual branch that a unit's consumer ends (its last conv).

    Attributes:
        block: the residual block; ``block.shortcut(x)`` computes its shortcut output from its input.
        bn: the BatchNorm right after the consumer (its eval-mode slope, times the block's ``scale`` if
            any, maps the consumer's output to the branch output).
    """

    block: str
    bn: str


@dataclass(frozen=True)
class ChannelUnit:
    """A group of channels that structured pruning keeps or removes together.

    Attributes:
        name: plan key.
        conv: module producing the channels (scored by L1-norm / ThiNet), if any.
        bn: BatchNorm scaling the channels (scored by slimming), if any.
        size: number of channels in the unpruned layer.
        stage: 1-based stage (Li et al.'s L1-norm numbering: VGG runs of convs between pools, ResNet
            ``layer{s}``), None where the family has no stages.
        layer_id: Li et al.'s reference layer id (L1-norm ``skip``), None where not numbered.
        consumer: the next layer (conv or Linear) reading these channels through per-channel ops only
            (BN, ReLU, pooling): what ThiNet / regression sample and reconstruct; None where the
            channels come from no conv or the family does not reconstruct them.
        branch_end: set when ``consumer`` is the last conv of a residual branch.
    """

    name: str
    conv: str | None
    bn: str | None
    size: int
    stage: int | None = None
    layer_id: int | None = None
    consumer: str | None = None
    branch_end: BranchEnd | None = None


@dataclass(frozen=True)
class ResidualBlock:
    """A residual block, for block-level methods (SSS).

    Attributes:
        name: module name; its branch scale (``block_scale`` option) is ``{name}.scale``.
        group: its cfg group (all zeros: the branch is removed).
        last_bn: the branch's last BatchNorm (None when the branch is removed).
    """

    name: str
    group: list[int]
    last_bn: str | None


@dataclass(frozen=True)
class SurgeryResult:
    """What a cut (and :func:`~pruning_lightning.pruning.surgery.apply_plan`) returns.

    Attributes:
        arch: the new architecture.
        weights: its state dict (inherited weights).
        structure: tensors Scratch-E/B need besides the architecture (selection indexes, masks).
        kept: per-unit ``"kept/total"`` summary (filled by ``apply_plan``; empty from a family cut).
    """

    arch: ArchSpec
    weights: dict[str, torch.Tensor]
    structure: dict[str, torch.Tensor]
    kept: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FamilySurgery:
    """What a family provides (see module docstring).

    Attributes:
        units: ``(model, arch) -> units`` in network order.
        cut: ``(model, arch, keep) -> SurgeryResult``; ``keep`` maps unit names to sorted kept indices.
        num_stages: ``arch -> number of stages`` (None: the family has no stages).
        residual_blocks: ``arch -> blocks`` in network order (None: not a residual family).
        check_numbered: raises when ``arch`` has no Li et al. layer numbering (L1-norm).
    """

    units: Callable[[nn.Module, ArchSpec], list[ChannelUnit]]
    cut: Callable[[nn.Module, ArchSpec, dict[str, torch.Tensor]], SurgeryResult]
    num_stages: Callable[[ArchSpec], int] | None = None
    residual_blocks: Callable[[ArchSpec], list[ResidualBlock]] | None = None
    check_numbered: Callable[[ArchSpec], None] | None = None


def block_conv_unit(block: str, i: int, width: int, layer_id: int | None, ends_branch: bool) -> ChannelUnit:
    """The unit of inner conv ``{block}.conv{i}`` of a torchvision-style residual block ``layer{s}.{b}``.

    Its BN is ``bn{i}`` and its consumer ``conv{i + 1}``; ``ends_branch``: that consumer is the branch's
    last conv (followed by ``bn{i + 1}``). The stage is ``s``.
    """
    return ChannelUnit(
        name=f"{block}.conv{i}",
        conv=f"{block}.conv{i}",
        bn=f"{block}.bn{i}",
        size=int(width),
        stage=int(block.split(".")[0].removeprefix("layer")),
        layer_id=layer_id,
        consumer=f"{block}.conv{i + 1}",
        branch_end=BranchEnd(block=block, bn=f"{block}.bn{i + 1}") if ends_branch else None,
    )
