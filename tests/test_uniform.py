"""Uniform baselines of PAPER §4.2: same channel fraction per layer, same sparsity per conv layer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from pruning_lightning.cli.config import prune_parser
from pruning_lightning.core.errors import PruningError
from pruning_lightning.models import ARCHS, Family, build_arch, resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning import MagnitudePruner, UniformChannelPruner, UniformSparsityPruner, prune
from pruning_lightning.pruning.surgery import apply_plan, channel_units
from tests.helpers import TINY_VGG

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _convs(net: nn.Module) -> dict[str, torch.Tensor]:
    return {f"{n}.weight": m.weight for n, m in net.named_modules() if isinstance(m, nn.Conv2d)}


@pytest.mark.parametrize(
    ("spec", "ratio"),
    [
        (TINY_VGG, 0.5),
        (TINY_VGG, 0.3),
        (ArchSpec("resnet_cifar", 20), 0.5),
        (ArchSpec("resnet_imagenet", 18, options={"base_width": 8}), 0.4),
    ],
    ids=["vgg-0.5", "vgg-0.3", "resnet_cifar-0.5", "resnet_imagenet18-0.4"],
)
def test_uniform_channel_same_fraction_everywhere(spec: ArchSpec, ratio: float) -> None:
    arch = resolve(spec)
    net = build_arch(arch, 10).eval()
    cut = apply_plan(net, arch, UniformChannelPruner(ratio).select(net, arch))
    new_arch, weights = cut.arch, cut.weights
    expected = [c if c == "M" else int(c * (1 - ratio)) for c in arch.cfg]  # type: ignore[union-attr]
    assert new_arch.cfg == expected
    build_arch(new_arch, 10).load_state_dict(weights)


@pytest.mark.parametrize("spec", [ArchSpec("preresnet", 11), ArchSpec("densenet", 10)], ids=str)
def test_uniform_channel_on_selection_families(spec: ArchSpec) -> None:
    """PreResNet / DenseNet (the paper's negative cases): every unit, selections included, halves."""
    arch = resolve(spec)
    net = build_arch(arch, 10).eval()
    units = channel_units(net, arch)
    plan = UniformChannelPruner(0.5).select(net, arch)
    assert {u.name: len(plan.channels[u.name]) for u in units} == {u.name: int(u.size * 0.5) for u in units}
    cut = apply_plan(net, arch, plan)
    new_arch, weights = cut.arch, cut.weights
    build_arch(new_arch, 10).load_state_dict(weights, strict=False)


def test_uniform_channel_keep_rule() -> None:
    arch = resolve(TINY_VGG)
    net = build_arch(arch, 10).eval()
    with torch.no_grad():
        for i in range(8):
            net.features.conv1.weight[i].fill_([5, 1, 7, 2, 8, 3, 6, 4][i])
    by_l1 = UniformChannelPruner(0.5, keep="l1").select(net, arch)
    assert by_l1.channels["features.conv1"].tolist() == [0, 2, 4, 6]  # the four largest |w|
    first = UniformChannelPruner(0.5, keep="first").select(net, arch)
    assert first.channels["features.conv1"].tolist() == [0, 1, 2, 3]


def test_uniform_channel_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in (0.0, 1.0, 2.0):
        with pytest.raises(PruningError, match=r"in \(0, 1\)"):
            UniformChannelPruner(bad)
    with pytest.raises(PruningError, match="keep must be"):
        UniformChannelPruner(0.5, keep="middle")  # type: ignore[arg-type]
    thin = resolve(TINY_VGG.replace(cfg=[1, "M", 16, "M", 16, 16, "M", 32, 32, "M", 32, 32]))
    with pytest.raises(PruningError, match="empties features.conv1"):
        UniformChannelPruner(0.5).select(build_arch(thin, 10), thin)
    toy = Family(build=lambda s, n: nn.Sequential(nn.Conv2d(3, 4, 3)), default_cfg=lambda s: [])
    monkeypatch.setitem(ARCHS, "toy", toy)
    for pruner in (UniformChannelPruner(0.5), UniformSparsityPruner(0.5)):
        with pytest.raises(PruningError, match="does not support family 'toy'"):
            prune(toy.build(ArchSpec("toy", 1), 10), ArchSpec("toy", 1), pruner)


@pytest.mark.parametrize("criterion", ["random", "magnitude"])
def test_uniform_sparsity_same_in_every_layer(criterion: str) -> None:
    arch = resolve(TINY_VGG)
    net = build_arch(arch, 10).eval()
    with torch.no_grad():
        net.features.conv1.weight.abs_().add_(1)  # a global threshold spares this layer entirely
    plan = UniformSparsityPruner(0.5, criterion=criterion).select(net, arch)  # type: ignore[arg-type]
    convs = _convs(net)
    assert set(plan.masks) == set(convs)
    for name, w in convs.items():
        assert int((~plan.masks[name]).sum()) == int(w.numel() * 0.5)
        if criterion == "magnitude":  # the smallest |w| of *this* layer go
            assert w.abs()[~plan.masks[name]].max() <= w.abs()[plan.masks[name]].min()
    glob = MagnitudePruner(0.5).select(net, arch)
    assert glob.masks["features.conv1.weight"].all()  # the contrast: global pruning is not uniform


def test_uniform_sparsity_random_is_seeded() -> None:
    arch = resolve(TINY_VGG)
    net = build_arch(arch, 10).eval()
    a = UniformSparsityPruner(0.5, seed=1).select(net, arch).masks
    b = UniformSparsityPruner(0.5, seed=1).select(net, arch).masks
    c = UniformSparsityPruner(0.5, seed=2).select(net, arch).masks
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
    with pytest.raises(PruningError, match="criterion must be"):
        UniformSparsityPruner(0.5, criterion="largest")  # type: ignore[arg-type]
    with pytest.raises(PruningError, match=r"in \(0, 1\)"):
        UniformSparsityPruner(1.0)


@pytest.mark.parametrize(
    ("name", "cls", "ratio"),
    [
        ("uniform_channel_50", UniformChannelPruner, 0.5),
        ("uniform_sparsity_50", UniformSparsityPruner, 0.5),
        ("magnitude_30", MagnitudePruner, 0.3),
        ("magnitude_50", MagnitudePruner, 0.5),
        ("magnitude_80", MagnitudePruner, 0.8),
    ],
)
def test_prune_configs_parse(name: str, cls: type, ratio: float) -> None:
    parser = prune_parser()
    cfg = parser.parse_args(["--config", str(CONFIGS / "prune" / f"{name}.yaml"), "--ckpt", "x", "--out", "y"])
    pruner = parser.instantiate(cfg).pruner
    assert isinstance(pruner, cls) and pruner.ratio == ratio and cfg.base_epochs == 160
