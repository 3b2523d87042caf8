"""What a pruning method decides: the :class:`KeepPlan` that ``select`` returns and the surgery applies."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from pruning_lightning.models.spec import ArchSpec


@dataclass
class KeepPlan:
    """What to keep.

    Attributes:
        channels: channel-unit name -> sorted indices of kept channels (structured methods).
        masks: parameter name -> bool mask of kept weights (unstructured methods).
        notes: human-readable remarks (e.g. when the min-channel guard fired).
        weight_updates: state-dict key -> replacement tensor of the *unpruned* shape, written into a
            copy of the model before cutting (ThiNet / regression reconstruct the next layer).
        arch: block-level methods (SSS): the new architecture; weights are then copied by name.
    """

    channels: dict[str, torch.Tensor] = field(default_factory=dict)
    masks: dict[str, torch.Tensor] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    weight_updates: dict[str, torch.Tensor] = field(default_factory=dict)
    arch: ArchSpec | None = None
