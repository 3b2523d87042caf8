"""Scratch-B arithmetic (PAPER §2.3) and LR milestones as fractions."""

from __future__ import annotations

import pytest

from pruning_lightning.errors import PruningError
from pruning_lightning.utils.schedule import milestone_epochs, scratch_b_epochs


@pytest.mark.parametrize(
    ("base", "ratio", "cap", "expected"),
    [
        (160, 1.519, None, 243),  # VGG-16-A
        (160, 1.1157, None, 178),  # ResNet-56-A
        (160, 1.3791, None, 220),  # ResNet-56-B
        (160, 1.6273, None, 260),  # ResNet-110-B
        (90, 1.569, 2.0, 141),  # ThiNet-70
        (90, 3.23, 2.0, 180),  # VGG-Conv, capped
        (90, 2.0, 2.0, 180),  # exactly at the cap
        (100, 1.796, None, 179),  # SSS ResNet-26
        (160, 1.0, None, 160),  # unpruned: Scratch-B == Scratch-E
    ],
)
def test_scratch_b_epochs(base: int, ratio: float, cap: float | None, expected: int) -> None:
    assert scratch_b_epochs(base, ratio, cap) == expected


def test_milestones_scale_with_epochs() -> None:
    assert milestone_epochs((0.5, 0.75), 160) == [80, 120]
    assert milestone_epochs((0.5, 0.75), 243) == [121, 182]  # PAPER §2.3 VGG-16-A LR steps
    assert milestone_epochs((0.5, 0.75), 1) == []  # never decay before the first step


def test_bad_schedule_inputs() -> None:
    with pytest.raises(PruningError):
        scratch_b_epochs(0, 1.5)
    with pytest.raises(PruningError):
        scratch_b_epochs(160, 0.0)
    with pytest.raises(PruningError):
        milestone_epochs((80,), 160)
