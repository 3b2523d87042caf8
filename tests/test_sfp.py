"""Soft Filter Pruning (PAPER §3.7): soft zeroing each epoch, regrowth, the hard prune, equivalence of the
masked and the cut network, the Trainer hook, configs and experiments."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn

from pruning_lightning.callbacks import SoftFilterPruning
from pruning_lightning.callbacks.soft_filter import filter_norms, soft_prune
from pruning_lightning.core.errors import PruningError
from pruning_lightning.data import RandomImageDataModule
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.modules import LargeModule
from pruning_lightning.pruning import PRUNERS, SoftFilterPruner, prune
from pruning_lightning.pruning.sfp import filter_l2, num_pruned

ROOT = Path(__file__).resolve().parents[1]
R20 = ArchSpec("resnet_cifar", 20)


def _net(spec: ArchSpec = R20, seed: int = 0) -> tuple[nn.Module, ArchSpec]:
    arch = resolve(spec)
    torch.manual_seed(seed)
    net = build_arch(arch, 10)
    with torch.no_grad():  # non-trivial BN statistics and affine parameters, so BN(0) != 0
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(0.1, 0.5)
    return net.eval(), arch


def _convs(net: nn.Module) -> dict[str, nn.Conv2d]:
    return {n: m for n, m in net.named_modules() if isinstance(m, nn.Conv2d)}


def test_soft_zeroing_hits_the_lowest_l2_filters_of_every_conv() -> None:
    net, arch = _net()
    norms = {n: filter_l2(c.weight) for n, c in _convs(net).items()}
    zeroed = soft_prune(net, arch, 0.3)
    assert set(zeroed) == set(norms) and len(zeroed) == 19  # stem + 2 per block: every conv, as the reference
    for name, conv in _convs(net).items():
        c = conv.weight.shape[0]
        assert len(zeroed[name]) == num_pruned(c, 0.3) == {16: 4, 32: 9, 64: 19}[c]  # int(C x (1 - 0.7))
        expected = torch.sort(norms[name], stable=True).indices[: len(zeroed[name])]
        assert sorted(zeroed[name].tolist()) == sorted(expected.tolist())
        alive = filter_l2(conv.weight) > 0
        assert int((~alive).sum()) == len(zeroed[name]) and not alive[zeroed[name]].any()
    # "units" touches only the convs the hard prune can cut (block first convs).
    net2, _ = _net()
    assert set(soft_prune(net2, arch, 0.3, layers="units")) == {
        f"layer{s}.{b}.conv1" for s in (1, 2, 3) for b in range(3)
    }


def test_zeroed_filters_regrow_after_an_optimizer_step() -> None:
    net, arch = _net()
    net.train()
    zeroed = soft_prune(net, arch, 0.3)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    nn.functional.cross_entropy(net(x), y).backward()
    opt.step()
    convs = _convs(net)
    for name, idx in zeroed.items():
        assert (filter_l2(convs[name].weight)[idx] > 0).all(), name  # soft: nothing holds them at zero


@pytest.mark.parametrize("layers", ["all", "units"])
def test_hard_prune_equals_the_masked_net(layers: str) -> None:
    net, arch = _net()
    zeroed = soft_prune(net, arch, 0.3, layers=layers, zero_bn=True)  # type: ignore[arg-type]
    art = prune(net, arch, SoftFilterPruner(0.3))
    # Every block's first conv lost exactly the soft-zeroed filters; the residual stream keeps its width.
    assert art.arch.cfg == [12] * 3 + [23] * 3 + [45] * 3
    for s, b in ((1, 0), (2, 1), (3, 2)):
        name = f"layer{s}.{b}.conv1"
        kept = torch.ones(net.get_submodule(name).out_channels, dtype=torch.bool)
        kept[zeroed[name]] = False
        torch.testing.assert_close(art.weights[f"{name}.weight"], net.get_submodule(name).weight[kept])
    small = build_arch(art.arch, 10).eval()
    small.load_state_dict(art.weights)
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(small(x), net(x), rtol=0, atol=1e-5)
    assert art.stats["flops_ratio"] > 1.2 and art.stats["scratch_b_epochs"] == int(160 * art.stats["flops_ratio"])


def test_without_zero_bn_the_cut_drops_the_relu_beta_constant() -> None:
    # The reference zeroes only the conv filters: a soft-pruned channel still emits ReLU(BN(0)) > 0 here.
    net, arch = _net()
    soft_prune(net, arch, 0.3, layers="units")
    art = prune(net, arch, SoftFilterPruner(0.3))
    small = build_arch(art.arch, 10).eval()
    small.load_state_dict(art.weights)
    x = torch.randn(4, 3, 32, 32)
    assert not torch.allclose(small(x), net(x), atol=1e-3)


def _tiny_fit(
    tmp_path: Path, callbacks: list[L.Callback], epochs: int, val_batches: int
) -> tuple[L.LightningModule, L.Trainer]:
    """A ResNet-20 ``LargeModule`` fit for ``epochs`` of 2 random batches, no logger or checkpoints."""
    model = LargeModule(R20, num_classes=10)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=epochs,
        limit_train_batches=2,
        limit_val_batches=val_batches,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        callbacks=callbacks,
    )
    trainer.fit(model, RandomImageDataModule(num_samples=16, batch_size=8))
    return model, trainer


def test_callback_soft_prunes_each_epoch_before_checkpointing(tmp_path: Path) -> None:
    seen: list[int] = []

    class Probe(L.Callback):  # runs after SoftFilterPruning (later in the list), before validation
        def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            w = pl_module.net.layer1[0].conv1.weight  # type: ignore[union-attr,index]
            seen.append(int((filter_l2(w) == 0).sum()))

    model, _ = _tiny_fit(tmp_path, [SoftFilterPruning(0.3, zero_bn="last"), Probe()], epochs=2, val_batches=1)
    assert seen == [4, 4]  # 4 of 16 filters zero when each epoch's validation starts
    bn = model.net.layer1[0].bn1  # type: ignore[index]
    dead = filter_l2(model.net.layer1[0].conv1.weight) == 0  # type: ignore[index]
    assert not bn.weight[dead].any() and not bn.bias[dead].any()  # zero_bn: last, after the final epoch
    assert bn.weight[~dead].all()


def test_errors_registry_and_configs() -> None:
    assert PRUNERS["sfp"] is SoftFilterPruner
    for bad in ({"ratio": 1.0}, {"layers": "some"}, {"zero_bn": "sometimes"}, {"every_n_epochs": 0}):
        with pytest.raises(PruningError):
            SoftFilterPruning(**bad)  # type: ignore[arg-type]
    with pytest.raises(PruningError, match=r"in \(0, 1\)"):
        SoftFilterPruner(0.0)
    net, arch = _net(ArchSpec("densenet", 40))
    with pytest.raises(PruningError, match="does not support family 'densenet'"):
        prune(net, arch, SoftFilterPruner(0.3))

    from pruning_lightning.pipeline import load_experiment, plan

    for depth in (20, 32, 56, 110):
        exp = load_experiment(ROOT / f"configs/experiments/cifar10_resnet{depth}_sfp.yaml")
        stages = plan(exp)
        large = next(s for s in stages if s.job_type == "large")
        assert "configs/sparsity/sfp.yaml" in " ".join(large.args) and "200" in large.args
        assert any(s.job_type == "scratch_b" for s in stages)


def test_a_zeroed_filter_regrows_through_batchnorm_with_an_outsized_gradient() -> None:
    """The mechanism behind ``sfp/filter_norm_*``: an all-zero channel has BN variance 0, so its first
    gradient is scaled by 1/sqrt(eps) (~316) where the other filters' is scaled by 1/std."""
    net, arch = _net()
    net.train()
    zeroed = soft_prune(net, arch, 0.3)
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    nn.functional.cross_entropy(net(x), y).backward()
    conv = _convs(net)["layer1.0.conv1"]
    grads = filter_l2(conv.weight.grad)  # type: ignore[arg-type]
    kept = torch.ones_like(grads, dtype=torch.bool)
    kept[zeroed["layer1.0.conv1"]] = False
    assert grads[~kept].min() > 20 * grads[kept].median()


def test_filter_norms_read_a_runaway() -> None:
    net, _ = _net()
    assert filter_norms(net)["median"] < 3 and filter_norms(net)["spread"] < 2.5  # He init
    conv = _convs(net)["layer2.0.conv1"]
    with torch.no_grad():
        conv.weight[3] *= 40
        conv.weight[5] = 0  # zeroed filters are left out
    assert filter_norms(net)["spread"] > 20
    with torch.no_grad():
        conv.weight *= 40
    assert filter_norms(net)["median"] > 20


def test_callback_logs_the_filter_norms(tmp_path: Path) -> None:
    _, trainer = _tiny_fit(tmp_path, [SoftFilterPruning(0.3)], epochs=1, val_batches=0)
    logged = trainer.callback_metrics
    assert 1.0 <= float(logged["sfp/filter_norm_spread"]) < 10 and 0 < float(logged["sfp/filter_norm_median"]) < 10
