"""CIFAR Wide ResNet (the family added from its own two files, issue 23 §1): the paper's parameter counts
against a hand computation, layout, bad specs, and channel surgery (masked original == cut network)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn

from pruning_lightning.cli.config import arch_from_yaml
from pruning_lightning.core.errors import PruningError
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning import PRUNERS, UniformChannelPruner, prune
from pruning_lightning.pruning.plan import KeepPlan
from pruning_lightning.pruning.surgery import apply_plan, channel_units, family_provides
from pruning_lightning.utils.flops import count_params

ARCH_DIR = Path(__file__).resolve().parents[1] / "configs" / "arch" / "cifar"
TINY = ArchSpec("wide_resnet", 10, options={"widen": 2})  # one block per stage, widths 32/64/128


def _wrn_params(cfg: list[int], n: int, k: int, classes: int) -> int:
    """Closed form: stem, per block BN + conv + BN + conv (+ 1x1 projection), final BN, FC."""
    total, cin = 3 * 16 * 9, 16
    for i, mid in enumerate(cfg):
        planes = (16, 32, 64)[i // n] * k
        total += 2 * cin + cin * mid * 9 + 2 * mid + mid * planes * 9
        total += cin * planes if cin != planes or (i % n == 0 and i > 0) else 0
        cin = planes
    return total + 2 * cin + cin * classes + classes


def _randomise(net: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.1)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.2)
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return net.eval()


def test_paper_parameter_counts() -> None:
    # WRN-16-4 by hand (CIFAR-10): stem 432; stage 1: 47,264 + 73,984; stage 2: 229,760 + 295,424;
    # stage 3: 918,272 + 1,180,672; final BN 512; FC 2,570. The paper (arXiv 1605.07146 Table) gives 2.7M.
    by_hand = 432 + 47_264 + 73_984 + 229_760 + 295_424 + 918_272 + 1_180_672 + 512 + 2_570
    spec = arch_from_yaml((ARCH_DIR / "wrn16_4.yaml").read_text(), num_classes=10)
    assert count_params(build_arch(spec, 10)) == by_hand == 2_748_890 == _wrn_params(resolve(spec).cfg, 2, 4, 10)
    # WRN-28-10 (36.5M), WRN-16-8 (11.0M), WRN-40-4 (8.9M): closed form only (building 36M params is slow).
    for depth, k, millions in ((28, 10, 36.5), (16, 8, 11.0), (40, 4, 8.9)):
        n = (depth - 4) // 6
        cfg = [w * k for w in (16, 32, 64) for _ in range(n)]
        assert round(_wrn_params(cfg, n, k, 10) / 1e6, 1) == millions
    assert arch_from_yaml((ARCH_DIR / "wrn28_10.yaml").read_text(), num_classes=10).options == {"widen": 10}


def test_pruned_cfg_counts_and_layout() -> None:
    spec = ArchSpec("wide_resnet", 16, cfg=[3, 64, 17, 5, 1, 256], options={"widen": 4})
    net = build_arch(spec, 7)
    assert count_params(net) == _wrn_params([3, 64, 17, 5, 1, 256], 2, 4, 7)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    names = {n for n, _ in net.named_modules()}
    assert {"conv1", "layer1.0.bn1", "layer1.0.conv1", "layer1.0.bn2", "layer1.0.conv2", "bn", "fc"} <= names
    assert {n for n in names if n.endswith("shortcut")} == {
        "layer1.0.shortcut",
        "layer2.0.shortcut",
        "layer3.0.shortcut",
    }
    plain = build_arch(ArchSpec("wide_resnet", 10, options={"widen": 1}), 10)  # stage 1 keeps 16 channels
    assert "layer1.0.shortcut" not in dict(plain.named_modules())
    assert resolve(ArchSpec("wide_resnet", 22)).cfg == [64] * 3 + [128] * 3 + [256] * 3  # default widen 4


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (ArchSpec("wide_resnet", 17), "depth must be 6n\\+4"),
        (ArchSpec("wide_resnet", 16, options={"widen": 0}), "widen must be an int >= 1"),
        (ArchSpec("wide_resnet", 16, options={"dropout": True}), "unknown option 'dropout'"),
        (ArchSpec("wide_resnet", 10, cfg=[4, 0, 4]), "cfg\\[1\\] = 0 is not a width >= 1"),
        (ArchSpec("wide_resnet", 10, cfg=[4, 4]), "needs 3 integers"),
    ],
)
def test_bad_specs(spec: ArchSpec, match: str) -> None:
    with pytest.raises(PruningError, match=match):
        build_arch(spec, 10)


def test_units_and_cut_semantics() -> None:
    arch = resolve(TINY)
    net = build_arch(arch, 10)
    units = channel_units(net, arch)
    assert [(u.name, u.bn, u.consumer, u.size) for u in units] == [
        (f"layer{s}.0.conv1", f"layer{s}.0.bn2", f"layer{s}.0.conv2", w) for s, w in ((1, 32), (2, 64), (3, 128))
    ]
    cut = apply_plan(net, arch, KeepPlan(channels={"layer2.0.conv1": torch.tensor([3, 4, 9])}))
    assert cut.arch.cfg == [32, 3, 128] and cut.structure == {} and cut.kept["layer2.0.conv1"] == "3/64"
    assert cut.weights["layer2.0.conv1.weight"].shape == (3, 32, 3, 3)
    assert cut.weights["layer2.0.bn2.running_var"].shape == (3,)
    assert cut.weights["layer2.0.conv2.weight"].shape == (64, 3, 3, 3)
    assert cut.weights["layer2.0.bn1.weight"].shape == (32,)  # the stream's BN keeps its width


def _masked(net: nn.Module, arch: ArchSpec, plan: KeepPlan) -> nn.Module:
    """The original with the pruned channels' bn2 gamma and beta zeroed: ReLU(0) feeds conv2 nothing."""
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
    g = torch.Generator().manual_seed(seed)
    plan = KeepPlan()
    for u in channel_units(net, arch):
        k = int(torch.randint(1, u.size + 1, (1,), generator=g))
        plan.channels[u.name] = torch.sort(torch.randperm(u.size, generator=g)[:k]).values
    cut = apply_plan(net, arch, plan)
    small = build_arch(cut.arch, 10).eval()
    small.load_state_dict(cut.weights)  # strict: the cut state dict is exactly the new net's
    x = torch.randn(4, 3, 32, 32, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(small(x), _masked(net, arch, plan)(x))
    assert count_params(small) < count_params(net)
    return cut.arch, small


def test_masked_equals_pruned_twice() -> None:
    arch = resolve(ArchSpec("wide_resnet", 16, options={"widen": 2}))
    new_arch, small = _check_equivalent(_randomise(build_arch(arch, 10)), arch, seed=1)
    _check_equivalent(_randomise(small, seed=2), new_arch, seed=3)


def test_uniform_channel_prune_keeps_the_largest_filters() -> None:
    arch = resolve(TINY)
    torch.manual_seed(0)
    net = _randomise(build_arch(arch, 10))
    art = prune(net, arch, UniformChannelPruner(0.5))
    assert art.arch.cfg == [16, 32, 64]
    small = build_arch(art.arch, 10).eval()
    small.load_state_dict(art.weights)
    kept = torch.sort(torch.topk(net.layer3[0].conv1.weight.abs().flatten(1).sum(1), 64).indices).values
    assert torch.equal(small.layer3[0].conv1.weight, net.layer3[0].conv1.weight[kept])
    assert art.stats["flops_after"] < art.stats["flops_before"]


def test_methods_follow_from_the_declared_structure() -> None:
    supported = {m for m, cls in PRUNERS.items() if cls.needs <= family_provides("wide_resnet")}
    assert supported == {"magnitude", "regression", "sfp", "thinet", "uniform_channel", "uniform_sparsity"}
