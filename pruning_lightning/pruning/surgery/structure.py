"""How a family describes its prunable structure, once, for every criterion and for its own surgery.

Each family module in this package builds a :class:`FamilySurgery`: its *channel units* (the groups of
channels a structured method keeps or removes together, with what produces, scales and consumes
them), its stage count and residual blocks, and ``cut``, which slices a network to a keep-set with
the shared helpers of :mod:`~pruning_lightning.pruning.surgery.slicing`. Criteria read only these
descriptions, so they never branch on the family.

A family also declares the :class:`Capability` values its description *provides*; a method declares
the ones it *needs*, and applies to a family iff ``needs <= provides``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import torch
from torch import nn

from pruning_lightning.models.spec import ArchSpec


class Capability(StrEnum):
    """What a family's structure provides and a pruning method needs (``needs <= provides``)."""

    WEIGHTS = "weights"
    """Conv weights that can be masked one by one (unstructured methods); every family."""
    CHANNEL_UNITS = "channel_units"
    """Prunable channel units (``FamilySurgery.units``) and a surgery that cuts them."""
    NUMBERED_UNITS = "numbered_units"
    """Units carry Li et al.'s ``layer_id`` and ``stage`` (``num_stages``): L1-norm's numbering."""
    UNIT_CONSUMERS = "unit_consumers"
    """Every unit is cut out of the layer producing it (no ChannelSelection), and every conv-produced
    unit names its ``consumer``, the next layer to sample and reconstruct (ThiNet, regression)."""
    CHANNELWISE_CONSUMERS = "channelwise_consumers"
    """Every consumer reads one input per unit channel (a conv, or a Linear after global pooling), in
    every variant; not a flattened spatial map (regression reads its inputs as the unit's channels)."""
    CONV_FILTERS = "conv_filters"
    """Every unit, in every variant, is a conv's output filters (``ChannelUnit.conv`` is set): SFP."""
    BN_COVERS_NETWORK = "bn_covers_network"
    """Every BatchNorm2d of the network scales a prunable unit, so one global BN-scale threshold ranks
    the whole convolutional body (slimming); not the ResNets, whose residual-stream BNs are fixed."""
    STAGE_WIDTHS = "stage_widths"
    """In every variant the cfg lists exactly the units' widths in network order, stages separated by
    ``"M"``: guided pruning averages and rescales them stage by stage."""
    RESIDUAL_BLOCKS = "residual_blocks"
    """Residual blocks with branch scales (``FamilySurgery.residual_blocks``): block-level methods (SSS)."""


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
        provides: the :class:`Capability` values this description provides (declared, and checked
            against the description by ``tests/test_capabilities.py``).
        units: ``(model, arch) -> units`` in network order.
        cut: ``(model, arch, keep) -> SurgeryResult``; ``keep`` maps unit names to sorted kept indices.
        num_stages: ``arch -> number of stages`` (None: the family has no stages).
        residual_blocks: ``arch -> blocks`` in network order (None: not a residual family).
        check_numbered: raises when ``arch`` has no Li et al. layer numbering (L1-norm).
    """

    provides: frozenset[Capability]
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
