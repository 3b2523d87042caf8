"""L1-norm presets of PAPER §3.1: the cfgs follow Li et al.'s rules, and params, MACs and Scratch-B
epochs (PAPER §2.3) come out of our counter as the paper's."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from pruning_lightning.cli.config import arch_from_yaml
from pruning_lightning.models import build_arch
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.utils.flops import Complexity, count_complexity
from pruning_lightning.utils.schedule import scratch_b_epochs

PRESETS = Path(__file__).resolve().parents[1] / "configs" / "arch" / "cifar" / "presets"

# preset -> (params, MACs, FLOPs ratio r, Scratch-B epochs); PAPER §3.1 and the §2.3 table.
PAPER = {
    "vgg16_a": (5.40e6, 206.3e6, 1.519, 243),
    "resnet56_a": (0.773e6, 112.4e6, 1.1157, 178),
    "resnet56_b": (0.736e6, 90.9e6, 1.3791, 220),
    "resnet110_a": (1.689e6, 212.8e6, 1.1883, 190),
    "resnet110_b": (1.168e6, 155.1e6, 1.6273, 260),
}
# Li et al.'s ResNet rules: conv ids 2, 4, ... are the blocks' first convs; skip list; ratio per stage.
L1_RULES = {
    "resnet56_a": (56, (16, 20, 38, 54), (0.1, 0.1, 0.1)),
    "resnet56_b": (56, (16, 18, 20, 34, 38, 54), (0.6, 0.3, 0.1)),
    "resnet110_a": (110, (36,), (0.5, 0.0, 0.0)),
    "resnet110_b": (110, (36, 38, 74), (0.5, 0.4, 0.3)),
}


@functools.cache
def _unpruned(family: str, depth: int, variant: str) -> Complexity:
    return count_complexity(build_arch(ArchSpec(family, depth, variant=variant), 10), (3, 32, 32))


def _load(name: str) -> ArchSpec:
    return arch_from_yaml((PRESETS / f"{name}.yaml").read_text())


def test_every_preset_is_listed() -> None:
    assert sorted(p.stem for p in PRESETS.glob("*.yaml")) == sorted(PAPER)


@pytest.mark.parametrize("name", sorted(L1_RULES))
def test_resnet_cfg_follows_li_rules(name: str) -> None:
    depth, skip, ratios = L1_RULES[name]
    n = (depth - 2) // 6
    expected = []
    for j in range(3 * n):
        width, layer_id = (16, 32, 64)[j // n], 2 + 2 * j
        expected.append(width if layer_id in skip else int(width * (1 - ratios[j // n])))
    spec = _load(name)
    assert (spec.family, spec.depth, spec.cfg) == ("resnet_cifar", depth, expected)


def test_vgg16_a_halves_conv1_and_conv8_to_13() -> None:
    spec = _load("vgg16_a")
    full = [64, 64, 128, 128, 256, 256, 256] + [512] * 6  # VGG-16 conv widths (PAPER §5.1)
    widths = [c for c in spec.cfg if c != "M"]
    assert (spec.family, spec.variant) == ("vgg", "l1")
    assert widths == [w // 2 if i in (0, 7, 8, 9, 10, 11, 12) else w for i, w in enumerate(full)]


@pytest.mark.parametrize("name", sorted(PAPER))
def test_counts_and_scratch_b(name: str) -> None:
    params, macs, paper_r, epochs = PAPER[name]
    spec = _load(name)
    pruned = count_complexity(build_arch(spec, 10), (3, 32, 32))
    unpruned = _unpruned(spec.family, spec.depth, spec.variant)
    assert abs(pruned.params / params - 1) < 0.005
    assert abs(pruned.macs / macs - 1) < 0.005
    r = unpruned.flops / pruned.flops  # paper-convention FLOPs (PAPER §1.5), as the reference counter
    assert r == pytest.approx(paper_r, abs=6e-4)
    assert scratch_b_epochs(160, r) == epochs
