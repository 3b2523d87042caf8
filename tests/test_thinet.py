"""ThiNet: greedy selection, least-squares rescaling folded into the artifact, surgery equivalence, errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning import PRUNERS, ThiNetPruner, prune
from pruning_lightning.pruning.reconstruct import keep_count
from pruning_lightning.pruning.surgery import channel_units
from pruning_lightning.pruning.thinet import greedy_removal
from tests.helpers import ONLY_CONV1, TINY_VGG, TINY_VGG_L1, loader, net_and_arch, pruned_net, with_updates

ROOT = Path(__file__).resolve().parents[1]


def test_greedy_removal_follows_thinet_objective() -> None:
    # z0 = -z1 cancel each other; z2 is small. Greedy adds the cheapest channel first (2), then the
    # one that increases ||sum z||^2 least; ties keep the lowest index.
    gram = torch.tensor([[1.0, -1.0, 0.0], [-1.0, 1.0, 0.0], [0.0, 0.0, 0.5]], dtype=torch.float64)
    assert greedy_removal(gram, 1) == [2]
    assert greedy_removal(gram, 2) == [2, 0]
    # With the cancelling pair cheaper than any single channel's first step, greedy finds it.
    gram2 = torch.tensor([[1.0, -1.0, 0.0], [-1.0, 1.0, 0.0], [0.0, 0.0, 3.0]], dtype=torch.float64)
    assert greedy_removal(gram2, 2) == [0, 1]


def test_zero_contributing_channel_is_dropped_and_outputs_unchanged() -> None:
    net, arch = net_and_arch(TINY_VGG)
    with torch.no_grad():
        net.features.conv2.weight[:, 5] = 0  # channel 5 of conv1 reaches nothing
    art = prune(net, arch, ThiNetPruner(1 / 8, ONLY_CONV1, num_images=32, finetune_steps=0), loader())
    assert art.stats["kept"]["features.conv1"] == "7/8"
    assert art.arch.cfg[0] == 7 and art.arch.cfg[1:] == TINY_VGG.cfg[1:]
    kept_w = net.features.conv1.weight[[0, 1, 2, 3, 4, 6, 7]]
    torch.testing.assert_close(art.weights["features.conv1.weight"], kept_w)  # exactly channel 5 is gone
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(pruned_net(art)(x), net(x), rtol=1e-4, atol=1e-5)


def test_redundant_channel_is_folded_into_its_twin() -> None:
    # Channel 3 duplicates channel 6 (same filter and BN) and reaches conv2 with 0.05x channel 6's
    # weights: ThiNet removes it, and the least-squares scale 1.05 on channel 6 restores the output.
    net, arch = net_and_arch(TINY_VGG)
    with torch.no_grad():
        f = net.features
        f.conv1.weight[3] = f.conv1.weight[6]
        for p in ("weight", "bias", "running_mean", "running_var"):
            getattr(f.bn1, p)[3] = getattr(f.bn1, p)[6]
        f.conv2.weight[:, 3] = 0.05 * f.conv2.weight[:, 6]
    art = prune(net, arch, ThiNetPruner(1 / 8, ONLY_CONV1, num_images=32, finetune_steps=0), loader())
    torch.testing.assert_close(art.weights["features.conv1.weight"], net.features.conv1.weight[[0, 1, 2, 4, 5, 6, 7]])
    # conv2's input 6 became input 5 of the pruned conv2, scaled by 1.05.
    torch.testing.assert_close(art.weights["features.conv2.weight"][:, 5], 1.05 * net.features.conv2.weight[:, 6])
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(pruned_net(art)(x), net(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "spec,side",
    [
        (TINY_VGG, 32),
        (TINY_VGG_L1, 32),  # the last conv feeds the head's Linear
        (ArchSpec("resnet_cifar", 8), 32),
        (ArchSpec("resnet_imagenet", 50, options={"base_width": 8}), 64),
    ],
    ids=["vgg", "vgg_l1", "resnet_cifar", "resnet50"],
)
def test_surgery_equivalence_and_ratio(spec: ArchSpec, side: int) -> None:
    net, arch = net_and_arch(spec, 5 if spec.family == "resnet_imagenet" else 10)  # 5: a head that is not CIFAR's
    pruner = ThiNetPruner(ratio=0.5, num_images=16, locations_per_image=4)
    plan = pruner.select(net, arch, loader(16, side))
    art = prune(net, arch, pruner, loader(16, side))
    for u in channel_units(net, arch):  # every prunable unit keeps floor(C / 2)
        assert len(plan.channels[u.name]) == max(1, u.size // 2)
        assert art.stats["kept"][u.name] == f"{max(1, u.size // 2)}/{u.size}"
    assert art.stats["flops_ratio"] > 1.3
    # The pruned net computes exactly what the rescaled full net computes (removed inputs are zero).
    x = torch.randn(2, 3, side, side)
    torch.testing.assert_close(pruned_net(art)(x), with_updates(net, plan.weight_updates)(x), rtol=1e-4, atol=1e-5)


def test_layer_ratios_and_bad_values() -> None:
    net, arch = net_and_arch(TINY_VGG)
    plan = ThiNetPruner(ratio=0.5, layer_ratios={"features.conv1": 0.25, "features.conv8": 0.0}, num_images=8).select(
        net, arch, loader(8)
    )
    assert len(plan.channels["features.conv1"]) == 6 and "features.conv8" not in plan.channels
    assert len(plan.channels["features.conv3"]) == 8
    with pytest.raises(PruningError, match="unknown channel units"):
        ThiNetPruner(layer_ratios={"features.conv99": 0.5}).select(net, arch, loader(8))
    with pytest.raises(PruningError, match=r"must be in \[0, 1\)"):
        ThiNetPruner(layer_ratios={"features.conv1": 1.0}).select(net, arch, loader(8))
    with pytest.raises(PruningError, match=r"in \(0, 1\)"):
        ThiNetPruner(ratio=1.5)


def test_same_plan_from_a_shuffling_loader_and_rng_untouched() -> None:
    net, arch = net_and_arch(TINY_VGG)
    g = torch.Generator().manual_seed(2)
    data = DataLoader(
        TensorDataset(torch.randn(64, 3, 32, 32, generator=g), torch.zeros(64, dtype=torch.long)),
        batch_size=8,
        shuffle=True,
    )
    state = torch.get_rng_state()
    plans = [ThiNetPruner(ratio=0.5, num_images=8, locations_per_image=4).select(net, arch, data) for _ in range(2)]
    assert torch.equal(torch.get_rng_state(), state)
    for name, idx in plans[0].channels.items():
        assert torch.equal(idx, plans[1].channels[name])
    for name, w in plans[0].weight_updates.items():
        assert torch.equal(w, plans[1].weight_updates[name])


def test_needs_data_and_unsupported_family() -> None:
    net, arch = net_and_arch(TINY_VGG)
    assert PRUNERS["thinet"] is ThiNetPruner and ThiNetPruner.needs_data
    with pytest.raises(PruningError, match="needs training data"):
        prune(net, arch, ThiNetPruner(), None)
    with pytest.raises(PruningError, match="does not support family 'densenet'"):
        prune(net, ArchSpec("densenet", 40), ThiNetPruner(), loader(8))


def test_prune_time_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_prune_time", ROOT / "benchmarks" / "prune_time.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = mod.main(["--smoke", "--methods", "thinet", "regression", "sss"])
    assert [r["method"] for r in rows] == ["thinet", "regression", "sss"]
    for r in rows:
        assert 0 <= r["select_wall_s"] <= r["prune_wall_s"] and r["flops_ratio"] > 1
    out = capsys.readouterr().out
    assert "| thinet" in out and "| regression" in out and "select wall s" in out


# ThiNet's published ResNet-50 inner widths (PAPER §3.2) for the stage widths 64/128/256/512: the
# kept count is the integer part (rounding would give 45/90 and 77/154).
THINET_WIDTHS = {0.7: [19, 38, 76, 153], 0.5: [32, 64, 128, 256], 0.3: [44, 89, 179, 358]}  # ThiNet-30/50/70


@pytest.mark.parametrize("ratio", sorted(THINET_WIDTHS))
def test_keep_count_floors_as_thinet(ratio: float) -> None:
    assert [keep_count(c, ratio, "floor") for c in (64, 128, 256, 512)] == THINET_WIDTHS[ratio]
    assert keep_count(128, 0.3, "round") == 90 and keep_count(3, 0.9, "floor") == 1  # round kept for regression
    with pytest.raises(PruningError, match="rounding"):
        keep_count(64, 0.5, "ceil")


@pytest.mark.parametrize("ratio", [0.7, 0.3], ids=["thinet30", "thinet70"])
def test_full_resnet50_widths_match_published(ratio: float) -> None:
    """A full-width ResNet-50: the first conv of each stage keeps ThiNet's published width."""
    net, arch = net_and_arch(ArchSpec("resnet_imagenet", 50))
    firsts = [f"layer{s}.0.conv1" for s in (1, 2, 3, 4)]
    only = {u.name: 0.0 for u in channel_units(net, arch) if u.name not in firsts}
    plan = ThiNetPruner(ratio, only, num_images=4, locations_per_image=4, finetune_steps=0).select(net, arch, loader(4))
    assert [len(plan.channels[n]) for n in firsts] == THINET_WIDTHS[ratio]
    assert set(plan.channels) == set(firsts)
