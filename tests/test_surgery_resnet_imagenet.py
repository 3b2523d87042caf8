"""Channel surgery for ImageNet ResNet: masked original == physically pruned net, units, cfg/structure."""

from __future__ import annotations

import copy
from typing import ClassVar

import pytest
import torch
from torch import nn

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.models.layers import ChannelSelection
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.base import Pruner, prune
from pruning_lightning.pruning.plan import KeepPlan
from pruning_lightning.pruning.surgery import apply_plan, channel_units

TINY = {"base_width": 4}
# Tiny ResNet-34: stage widths 4/8/16/32, 3/4/6/3 blocks. SSS variant: layer1.1 is an identity, layer2.0
# a bare projection (its group is zero).
R34_SSS_CFG = [4, 0, 4] + [0, 8, 8, 8] + [16] * 6 + [32] * 3
# Tiny ResNet-50: block outputs 16/32/64/128; groups [selected inputs, conv1 out, conv2 out]. Some blocks
# select fewer inputs than they get (ChannelSelection), layer3.2 and layer4.0 are removed (SSS).
R50_CFG = (
    [4, 4, 4, 10, 4, 4, 16, 4, 4]
    + [16, 8, 8, 20, 8, 8, 32, 8, 8, 32, 8, 8]
    + [32, 16, 16, 64, 16, 16, 0, 0, 0, 40, 16, 16, 64, 16, 16, 64, 16, 16]
    + [0, 0, 0, 128, 32, 32, 100, 32, 32]
)
SPECS = [
    ArchSpec("resnet_imagenet", 34, options=TINY),
    ArchSpec("resnet_imagenet", 34, cfg=R34_SSS_CFG, options={**TINY, "block_scale": True}),
    ArchSpec("resnet_imagenet", 50, options={**TINY, "downsample_bias": True}),
    ArchSpec("resnet_imagenet", 50, cfg=R50_CFG, options={**TINY, "downsample_bias": True, "block_scale": True}),
]
IDS = ["r34", "r34-sss-scale", "r50", "r50-select-sss-scale"]


def _randomise(net: nn.Module, seed: int = 0) -> nn.Module:
    """Trained-looking BN stats / affine, non-unit block scales, biases, and non-prefix channel selections."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, m in net.named_modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.1)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.2)
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            elif isinstance(m, nn.Conv2d) and m.bias is not None:
                m.bias.copy_(torch.randn(m.out_channels, generator=g) * 0.1)
            elif isinstance(m, ChannelSelection):
                k, n = int(m.indexes.sum()), m.indexes.numel()
                mask = torch.zeros(n, dtype=torch.bool)
                mask[torch.randperm(n, generator=g)[:k]] = True
                m.indexes.copy_(mask)
            if getattr(m, "scale", None) is not None and name:
                m.scale.fill_(float(torch.rand(1, generator=g)) + 0.5)
    return net.eval()


def _random_plan(net: nn.Module, arch: ArchSpec, seed: int) -> KeepPlan:
    g = torch.Generator().manual_seed(seed)
    plan = KeepPlan()
    for u in channel_units(net, arch):
        k = int(torch.randint(1, u.size + 1, (1,), generator=g))
        plan.channels[u.name] = torch.sort(torch.randperm(u.size, generator=g)[:k]).values
    return plan


def _masked(net: nn.Module, arch: ArchSpec, plan: KeepPlan) -> nn.Module:
    """The original net with the dropped channels' BN gamma and beta zeroed (they then output exactly 0)."""
    ref = copy.deepcopy(net)
    modules = dict(ref.named_modules())
    with torch.no_grad():
        for u in channel_units(ref, arch):
            drop = torch.ones(u.size, dtype=torch.bool)
            drop[plan.channels[u.name]] = False
            modules[u.bn].weight[drop] = 0
            modules[u.bn].bias[drop] = 0
    return ref


def _check_equivalent(net: nn.Module, arch: ArchSpec, seed: int) -> tuple[ArchSpec, nn.Module]:
    plan = _random_plan(net, arch, seed)
    cut = apply_plan(net, arch, plan)
    new_arch, structure, weights = cut.arch, cut.structure, cut.weights
    small = build_arch(new_arch, 10)
    small.load_state_dict(weights)  # strict: the cut state dict is exactly the new net's
    small.eval()
    sels = {k for k in small.state_dict() if k.endswith("selection.indexes")}
    assert set(structure) == sels
    for k, v in structure.items():  # selections survive the cut unchanged
        assert torch.equal(v, net.state_dict()[k]) and torch.equal(small.state_dict()[k], v)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(small(x), _masked(net, arch, plan)(x))
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in net.parameters())
    return new_arch, small


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_masked_equals_pruned(spec: ArchSpec) -> None:
    arch = resolve(spec)
    net = _randomise(build_arch(arch, 10))
    new_arch, small = _check_equivalent(net, arch, seed=1)
    assert new_arch.options == arch.options and len(new_arch.cfg) == len(arch.cfg)
    # Pruning the pruned net again works too.
    _check_equivalent(_randomise(small, seed=2), new_arch, seed=3)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_units_match_cfg(spec: ArchSpec) -> None:
    arch = resolve(spec)
    net = build_arch(arch, 10)
    units = channel_units(net, arch)
    modules = dict(net.named_modules())
    cfg = [int(c) for c in arch.cfg]
    if arch.depth == 34:
        expected = [w for w in cfg if w > 0]
        assert [u.name.rsplit(".", 1)[1] for u in units] == ["conv1"] * len(expected)
    else:
        grp = [cfg[i : i + 3] for i in range(0, len(cfg), 3)]
        expected = [w for g in grp if any(g) for w in g[1:]]
        assert [u.name.rsplit(".", 1)[1] for u in units] == ["conv1", "conv2"] * (len(expected) // 2)
    assert [u.size for u in units] == expected
    for u in units:
        assert u.conv == u.name and u.bn == u.name.replace("conv", "bn")
        assert modules[u.conv].out_channels == u.size == modules[u.bn].num_features
    removed = {"layer1.1", "layer2.0"} if spec.cfg == R34_SSS_CFG else {"layer3.2", "layer4.0"} if spec.cfg else set()
    assert not any(u.name.rsplit(".", 1)[0] in removed for u in units)


def test_full_size_unit_counts() -> None:
    for depth, count in ((34, 16), (50, 32)):
        arch = resolve(ArchSpec("resnet_imagenet", depth, options={"base_width": 8}))
        assert len(channel_units(build_arch(arch, 10), arch)) == count


def test_cut_cfg_weights_and_structure() -> None:
    arch = resolve(SPECS[3])
    net = _randomise(build_arch(arch, 10))
    plan = KeepPlan(
        channels={
            "layer1.1.conv1": torch.tensor([0, 3]),
            "layer1.1.conv2": torch.tensor([2]),
            "layer4.2.conv2": torch.arange(0, 32, 4),
        }
    )
    cut = apply_plan(net, arch, plan)
    new_arch, structure, weights, kept = cut.arch, cut.structure, cut.weights, cut.kept
    assert new_arch.cfg[3:6] == [10, 2, 1]  # the selected-input count is kept
    assert new_arch.cfg[-3:] == [100, 32, 8]
    assert new_arch.cfg[:3] == arch.cfg[:3] and new_arch.cfg[6:-3] == arch.cfg[6:-3]
    assert weights["layer1.1.conv1.weight"].shape == (2, 10, 1, 1)
    assert weights["layer1.1.bn1.running_var"].shape == (2,)
    assert weights["layer1.1.conv2.weight"].shape == (1, 2, 3, 3)
    assert weights["layer1.1.conv3.weight"].shape == (16, 1, 1, 1)  # the block output keeps its width
    assert weights["layer4.2.conv3.weight"].shape == (128, 8, 1, 1)
    old = net.state_dict()
    assert torch.equal(weights["layer1.1.conv2.weight"], old["layer1.1.conv2.weight"][[2]][:, [0, 3]])
    assert torch.equal(weights["layer4.2.bn2.weight"], old["layer4.2.bn2.weight"][::4])
    assert torch.equal(weights["layer1.1.scale"], old["layer1.1.scale"])
    assert sorted(structure) == [f"{b}.selection.indexes" for b in ("layer1.1", "layer2.1", "layer3.3", "layer4.2")]
    assert kept["layer1.1.conv2"] == "1/4" and kept["layer2.0.conv1"] == "8/8"


def test_plan_emptying_a_unit_raises() -> None:
    arch = resolve(SPECS[2])
    net = build_arch(arch, 10)
    plan = KeepPlan(channels={"layer2.1.conv2": torch.tensor([], dtype=torch.long)})
    with pytest.raises(PruningError, match="empties layer layer2.1.conv2"):
        apply_plan(net, arch, plan)
    sss = resolve(SPECS[3])
    with pytest.raises(PruningError, match="unknown channel units"):  # removed blocks have no units
        apply_plan(build_arch(sss, 10), sss, KeepPlan(channels={"layer3.2.conv1": torch.tensor([0])}))


class _HalfPruner(Pruner):
    """Keeps the first half of every unit (just to drive ``prune()`` end to end)."""

    name: ClassVar[str] = "half"
    needs: ClassVar[frozenset[str]] = frozenset({"channel_units"})

    def select(self, model: nn.Module, arch: ArchSpec, data: object = None) -> KeepPlan:
        return KeepPlan(channels={u.name: torch.arange(max(1, u.size // 2)) for u in channel_units(model, arch)})


def test_prune_entry_point() -> None:
    arch = resolve(SPECS[3])
    net = _randomise(build_arch(arch, 10))
    art = prune(net, arch, _HalfPruner(), base_epochs=90, max_ratio=2.0)
    assert art.stats["flops_ratio"] > 1 and art.stats["params_after"] < art.stats["params_before"]
    assert art.structure.keys() == {k for k in art.weights if k.endswith("selection.indexes")}
    build_arch(art.arch, 10).load_state_dict(art.weights)
