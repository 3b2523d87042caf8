"""Channel surgery for CIFAR ResNet, PreResNet and DenseNet: masked original == physically pruned net,
plus SlimmingPruner -> prune() -> artifact -> FineTuneModule / ScratchModule for the slimming families."""

from __future__ import annotations

import copy
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn

from pruning_lightning.core.errors import PruningError
from pruning_lightning.data.synthetic import RandomImageDataModule
from pruning_lightning.formats.artifact import write_artifact
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.models.layers import ChannelSelection
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.modules.regimes import FineTuneModule, ScratchModule
from pruning_lightning.pruning.base import prune
from pruning_lightning.pruning.plan import KeepPlan
from pruning_lightning.pruning.slimming import SlimmingPruner
from pruning_lightning.pruning.surgery import apply_plan, channel_units

SPECS = [
    ArchSpec("resnet_cifar", 20, cfg=[16, 0, 16, 32, 32, 32, 64, 64, 64]),
    ArchSpec("preresnet", 20),
    ArchSpec("densenet", 10),
]


def _randomise(net: nn.Module, seed: int = 0) -> nn.Module:
    """Trained-looking BN statistics and affine parameters, so every channel matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.1)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.2)
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return net.eval()


def _random_plan(net: nn.Module, arch: ArchSpec, seed: int) -> KeepPlan:
    g = torch.Generator().manual_seed(seed)
    plan = KeepPlan()
    for u in channel_units(net, arch):
        k = int(torch.randint(1, u.size + 1, (1,), generator=g))
        plan.channels[u.name] = torch.sort(torch.randperm(u.size, generator=g)[:k]).values
    return plan


def _masked(net: nn.Module, arch: ArchSpec, plan: KeepPlan) -> nn.Module:
    """The original net with the pruned channels' BN gamma and beta zeroed (what slimming does first)."""
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
    for k, v in structure.items():
        assert torch.equal(small.state_dict()[k], v)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(small(x), _masked(net, arch, plan)(x))
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in net.parameters())
    return new_arch, small


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.family)
def test_masked_equals_pruned(spec: ArchSpec) -> None:
    arch = resolve(spec)
    net = _randomise(build_arch(arch, 10))
    new_arch, small = _check_equivalent(net, arch, seed=1)
    # Pruning the pruned net again: selections narrow (old AND new), physical widths shrink further.
    _check_equivalent(_randomise(small, seed=2), new_arch, seed=3)


def test_cut_cfg_and_structure_semantics() -> None:
    arch = resolve(ArchSpec("preresnet", 20))
    net = build_arch(arch, 10)
    plan = KeepPlan(
        channels={
            "layer2.0.bn1": torch.tensor([0, 5, 63]),
            "layer2.0.bn2": torch.tensor([1, 2]),
            "bn": torch.arange(0, 256, 2),
        }
    )
    cut = apply_plan(net, arch, plan)
    new_arch, structure, weights, kept = cut.arch, cut.structure, cut.weights, cut.kept
    assert new_arch.cfg[6:9] == [3, 2, 32] and new_arch.cfg[-1] == 128  # layer2.0 is the 3rd block (n = 2)
    assert new_arch.cfg[:6] == arch.cfg[:6] and new_arch.cfg[9:-1] == arch.cfg[9:-1]
    assert sorted(structure) == sorted(k for k in weights if k.endswith("select.indexes"))
    assert torch.nonzero(structure["layer2.0.select.indexes"]).flatten().tolist() == [0, 5, 63]
    assert weights["layer2.0.bn1.weight"].shape == (64,)  # selection BNs keep their width
    assert weights["layer2.0.bn2.weight"].shape == (2,)  # the others shrink
    assert kept["layer2.0.bn1"] == "3/64"

    r_arch = resolve(ArchSpec("resnet_cifar", 20))
    r_plan = KeepPlan(channels={"layer3.2.conv1": torch.tensor([3, 4, 9])})
    cut = apply_plan(build_arch(r_arch, 10), r_arch, r_plan)
    r_new, r_struct, r_weights = cut.arch, cut.structure, cut.weights
    assert r_new.cfg == [16] * 3 + [32] * 3 + [64, 64, 3] and r_struct == {}
    assert r_weights["layer3.2.conv2.weight"].shape == (64, 3, 3, 3)


def test_units() -> None:
    cases = (
        (ArchSpec("preresnet", 164), 163),
        (ArchSpec("densenet", 40), 39),
        (ArchSpec("resnet_cifar", 56), 27),
    )
    for spec, count in cases:
        arch = resolve(spec)
        units = channel_units(build_arch(arch, 10), arch)
        assert len(units) == count == len(arch.cfg)
        modules = dict(build_arch(arch, 10).named_modules())
        assert all(isinstance(modules[u.bn], nn.BatchNorm2d) and modules[u.bn].num_features == u.size for u in units)
    arch = resolve(ArchSpec("resnet_cifar", 8, cfg=[4, 0, 6]))
    assert [u.name for u in channel_units(build_arch(arch, 10), arch)] == ["layer1.0.conv1", "layer3.0.conv1"]


PLAIN = [
    ArchSpec("preresnet", 11, variant="bottleneck"),
    ArchSpec("preresnet", 8, variant="basic"),
    ArchSpec("densenet", 10, variant="bc"),
]


@pytest.mark.parametrize("spec", PLAIN, ids=lambda s: s.variant)
def test_no_slimming_surgery_without_selections(spec: ArchSpec) -> None:
    arch = resolve(spec)
    with pytest.raises(PruningError, match="needs the slimming variant"):
        channel_units(build_arch(arch, 10), arch)


def _fit(module: L.LightningModule, tmp_path: Path) -> None:
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )
    trainer.fit(module, datamodule=RandomImageDataModule(num_samples=16, batch_size=8))


@pytest.mark.parametrize(
    "spec",
    [ArchSpec("preresnet", 11), ArchSpec("densenet", 10)],
    ids=lambda s: s.family,
)
def test_slimming_end_to_end(spec: ArchSpec, tmp_path: Path) -> None:
    net = _randomise(build_arch(spec, 10))
    art = prune(net, spec, SlimmingPruner(ratio=0.4))
    assert art.stats["flops_ratio"] > 1 and art.stats["params_after"] < art.stats["params_before"]
    sels = {k: v for k, v in art.weights.items() if k.endswith("select.indexes")}
    assert set(art.structure) == set(sels) and len(sels) == (4 if spec.family == "preresnet" else 9)
    assert all(torch.equal(art.structure[k], v) for k, v in sels.items())
    assert sum(int(v.sum()) for v in sels.values()) < sum(v.numel() for v in sels.values())
    out = write_artifact(art, tmp_path / "prune")

    fine = FineTuneModule(art.arch, weights_from=str(out), lr=0.0, momentum=0.0, weight_decay=0.0, num_classes=10)
    _fit(fine, tmp_path / "ft")
    state = fine.net.state_dict()
    for k, v in art.weights.items():  # lr 0: every inherited tensor but the BN running stats is intact
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(state[k], v), k

    scratch = ScratchModule(art.arch, structure_from=str(out), num_classes=10)
    fresh = {k: v.clone() for k, v in scratch.net.state_dict().items()}
    _fit(scratch, tmp_path / "se")
    sel_modules = [m for m in scratch.net.modules() if isinstance(m, ChannelSelection)]
    assert all(torch.equal(scratch.net.state_dict()[k], v) for k, v in art.structure.items())
    assert any(not torch.equal(fresh[k], v) for k, v in art.structure.items())  # loading changed something
    assert all(int(m.indexes.sum()) == len(m.selected()) for m in sel_modules)
    assert not torch.equal(scratch.net.state_dict()["conv1.weight"], art.weights["conv1.weight"])  # fresh init
