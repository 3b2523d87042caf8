"""Network Slimming: the gradient term, the global threshold, the guard, and VGG surgery equivalence."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch import nn

from pruning_lightning.callbacks import BNL1Sparsity
from pruning_lightning.core.errors import PruningError
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.pruning import SlimmingPruner, prune
from pruning_lightning.pruning.surgery import apply_plan, channel_units
from tests.helpers import TINY_VGG, TINY_VGG_L1


def _randomise_bn(net: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            m.weight.data = torch.rand(m.weight.shape, generator=g) * 2 - 1
            m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.1
            m.running_mean.data = torch.randn(m.running_mean.shape, generator=g) * 0.1
            m.running_var.data = torch.rand(m.running_var.shape, generator=g) + 0.5


def test_sparsity_gradient_term() -> None:
    net = build_arch(TINY_VGG, 10)
    _randomise_bn(net)
    net(torch.randn(4, 3, 32, 32)).sum().backward()
    before = {n: p.grad.clone() for n, p in net.named_parameters()}
    module = L.LightningModule()
    module.net = net
    BNL1Sparsity(strength=1e-2).on_before_optimizer_step(None, module, None)  # type: ignore[arg-type]
    for name, p in net.named_parameters():
        is_bn_gamma = name.startswith("features.bn") and name.endswith("weight")
        expected = before[name] + (1e-2 * torch.sign(p.detach()) if is_bn_gamma else 0)
        torch.testing.assert_close(p.grad, expected)


def test_sparsity_hook_runs_in_fit(trainer_args: list[str]) -> None:
    # The regulariser must actually shrink |gamma| faster than plain training.
    from pruning_lightning.data import RandomImageDataModule
    from pruning_lightning.modules import LargeModule

    def total_gamma(strength: float) -> float:
        L.seed_everything(0, verbose=False)
        model = LargeModule(TINY_VGG, weight_decay=0.0, num_classes=10)
        trainer = L.Trainer(
            accelerator="cpu",
            max_epochs=1,
            limit_train_batches=4,
            limit_val_batches=0,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[BNL1Sparsity(strength)],
        )
        trainer.fit(model, RandomImageDataModule())
        return sum(float(m.weight.abs().sum()) for m in model.net.modules() if isinstance(m, nn.BatchNorm2d))

    assert total_gamma(0.5) < total_gamma(0.0) - 1.0


def test_global_threshold_is_strict_and_global() -> None:
    arch = resolve(TINY_VGG)
    net = build_arch(arch, 10)
    gammas = []
    for i, m in enumerate(m for m in net.modules() if isinstance(m, nn.BatchNorm2d)):
        m.weight.data = torch.linspace(0.01, 1.0, m.num_features) * (1 + 0.1 * i)
        gammas.append(m.weight.data.abs())
    everything = torch.cat(gammas).sort().values
    threshold = everything[int(len(everything) * 0.6)]
    plan = SlimmingPruner(0.6, min_channels=0).select(net, arch)
    for unit, g in zip(channel_units(net, arch), gammas, strict=True):
        assert torch.equal(plan.channels[unit.name], torch.nonzero(g > threshold).flatten())
    kept = sum(len(v) for v in plan.channels.values())
    assert kept == int((everything > threshold).sum())


def test_min_channel_guard_fires_and_is_recorded() -> None:
    arch = resolve(TINY_VGG)
    net = build_arch(arch, 10)
    _randomise_bn(net)
    net.features.bn3.weight.data.fill_(1e-6)  # the whole layer is below any threshold
    art = prune(net, arch, SlimmingPruner(0.5, min_channels=2))
    assert art.arch.cfg[4] == 2  # features.conv3 is cfg index 4 ([8, M, 16, M, 16, ...])
    assert any("features.conv3" in n for n in art.stats["notes"])
    with pytest.raises(PruningError, match="empties layer features.conv3"):
        prune(net, arch, SlimmingPruner(0.5, min_channels=0))


@pytest.mark.parametrize("spec", [TINY_VGG, TINY_VGG_L1], ids=["slimming-head", "l1-head"])
def test_surgery_equivalence(spec) -> None:  # noqa: ANN001
    arch = resolve(spec)
    net = build_arch(arch, 10)
    _randomise_bn(net)
    net.eval()
    plan = SlimmingPruner(0.5).select(net, arch)
    cut = apply_plan(net, arch, plan)
    new_arch, weights = cut.arch, cut.weights
    small = build_arch(new_arch, 10).eval()
    small.load_state_dict(weights)
    # Zero gamma and beta of the pruned channels in the original: same function as the cut net.
    masked = build_arch(arch, 10).eval()
    masked.load_state_dict(net.state_dict())
    modules = dict(masked.named_modules())
    for unit in channel_units(masked, arch):
        drop = torch.ones(unit.size, dtype=torch.bool)
        drop[plan.channels[unit.name]] = False
        modules[unit.bn].weight.data[drop] = 0
        modules[unit.bn].bias.data[drop] = 0
    x = torch.randn(4, 3, 32, 32)
    assert sum(c for c in new_arch.cfg if c != "M") < sum(c for c in arch.cfg if c != "M")
    torch.testing.assert_close(small(x), masked(x), rtol=1e-4, atol=1e-5)


def test_ratio_out_of_range() -> None:
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(PruningError, match=r"ratio must be in \(0, 1\)"):
            SlimmingPruner(bad)


def test_prune_at_end_of_large_run(tmp_path) -> None:  # noqa: ANN001
    from pruning_lightning.callbacks import PruneAtEnd
    from pruning_lightning.data import RandomImageDataModule
    from pruning_lightning.formats.artifact import load_artifact
    from pruning_lightning.modules import LargeModule

    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=2,
        limit_train_batches=2,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[BNL1Sparsity(1e-3), PruneAtEnd(SlimmingPruner(0.5), out=str(tmp_path / "prune"))],
    )
    model = LargeModule(TINY_VGG, num_classes=10)
    trainer.fit(model, RandomImageDataModule())
    art = load_artifact(tmp_path / "prune")
    assert art.stats["base_epochs"] == 2 and art.stats["scratch_b_epochs"] >= 2
    assert art.reference_arch == resolve(TINY_VGG)
    # Same decision as the prune command on the trained weights.
    assert art.arch == prune(model.net, model.arch, SlimmingPruner(0.5)).arch
