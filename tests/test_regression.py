"""Regression pruning (LASSO + least squares) and the shared sampling / Gram / least-squares helpers."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn

from pruning_lightning.core.errors import PruningError
from pruning_lightning.pruning import PRUNERS, RegressionPruner, prune
from pruning_lightning.pruning.reconstruct import contribution_cross, contribution_gram, least_squares
from pruning_lightning.pruning.regression import lasso_channels
from pruning_lightning.pruning.sampling import outputs, sample_inputs, sample_outputs
from pruning_lightning.pruning.surgery import apply_plan, channel_units
from tests.helpers import ONLY_CONV1, TINY_VGG, loader, net_and_arch, pruned_net, with_updates

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_gram_and_cross_match_explicit_contributions() -> None:
    g = torch.Generator().manual_seed(0)
    x, w, y = torch.randn(7, 4, 9, generator=g), torch.randn(5, 4, 9, generator=g), torch.randn(7, 5, generator=g)
    z = torch.einsum("nck,ock->noc", x, w)  # per-channel contributions, summed over c = the output
    torch.testing.assert_close(z.sum(2), outputs(x, w))
    gram, cross = torch.einsum("noc,nod->cd", z, z).double(), torch.einsum("noc,no->c", z, y).double()
    torch.testing.assert_close(contribution_gram(x, w), gram, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(contribution_cross(x, w, y), cross, rtol=1e-5, atol=1e-4)


def test_sampled_patches_are_the_layers_inputs() -> None:
    net, _ = net_and_arch(TINY_VGG)
    images = torch.randn(6, 3, 32, 32)
    x = sample_inputs(net, "features.conv3", images, locations=5, seed=3, batch_size=4)
    assert x.shape == (30, 16, 9)
    # Every sampled output value is one of conv3's real outputs.
    feats: dict[str, torch.Tensor] = {}
    net.features.conv3.register_forward_hook(lambda m, a, o: feats.setdefault("y", o))
    with torch.no_grad():
        net(images)
    real = feats["y"].permute(0, 2, 3, 1).reshape(-1, 16)
    sampled = outputs(x, net.features.conv3.weight.reshape(16, 16, 9))
    assert ((sampled[:, None] - real[None]) ** 2).sum(-1).min(1).values.max() < 1e-8
    # One pass over several layers samples the same positions as one call per layer.
    ys = sample_outputs(net, {"features.conv3": 3, "features.conv5": 8}, images, locations=5, batch_size=4)
    torch.testing.assert_close(ys["features.conv3"], sampled)
    x5 = sample_inputs(net, "features.conv5", images, locations=5, seed=8, batch_size=4)
    torch.testing.assert_close(ys["features.conv5"], outputs(x5, net.features.conv5.weight.reshape(32, 16, 9)))


def test_least_squares_compensates_a_removed_duplicate_channel() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 4, 3, generator=g)
    x[:, 2] = x[:, 0]  # channel 2 duplicates channel 0
    w = torch.randn(6, 4, 3, generator=g)
    y = outputs(x, w)
    w_new = least_squares(x[:, [0, 1, 3]], y)  # drop channel 2: channel 0 takes over its weights
    torch.testing.assert_close(outputs(x[:, [0, 1, 3]], w_new), y, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(w_new[:, 0], w[:, 0] + w[:, 2], rtol=1e-4, atol=1e-4)


def test_lasso_drops_the_irrelevant_channel_and_keeps_exactly_c() -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(500, 5, generator=g, dtype=torch.float64)  # one output, five channel features
    y = z @ torch.tensor([1.0, -2.0, 0.0, 0.5, 3.0], dtype=torch.float64)  # channel 2 is irrelevant
    gram, cross = z.T @ z, z.T @ y
    assert lasso_channels(gram, cross, 4).tolist() == [0, 1, 3, 4]
    assert lasso_channels(gram, cross, 2).tolist() == [1, 4]  # the two strongest
    assert len(lasso_channels(gram, cross, 3)) == 3


def test_zero_contributing_channel_is_dropped_and_outputs_unchanged() -> None:
    net, arch = net_and_arch(TINY_VGG)
    with torch.no_grad():
        net.features.conv2.weight[:, 2] = 0
    art = prune(net, arch, RegressionPruner(ratio=1 / 8, layer_ratios=ONLY_CONV1, num_images=32), loader())
    assert art.stats["kept"]["features.conv1"] == "7/8"
    torch.testing.assert_close(art.weights["features.conv1.weight"], net.features.conv1.weight[[0, 1, 3, 4, 5, 6, 7]])
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(pruned_net(art)(x), net(x), rtol=1e-3, atol=1e-4)


def test_reconstruction_beats_plain_slicing_and_surgery_is_exact() -> None:
    net, arch = net_and_arch(TINY_VGG)
    data = loader(32)
    pruner = RegressionPruner(ratio=0.5, num_images=32, locations_per_image=16)
    plan = pruner.select(net, arch, data)
    art = prune(net, arch, pruner, data)
    for u in channel_units(net, arch):
        assert len(plan.channels[u.name]) == u.size // 2
    images = next(iter(data))[0]
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(pruned_net(art)(x), with_updates(net, plan.weight_updates)(x), rtol=1e-4, atol=1e-5)
    sliced = copy.deepcopy(plan)
    sliced.weight_updates = {}
    cut = apply_plan(net, arch, sliced)
    new_arch, weights = cut.arch, cut.weights
    plain = pruned_net(type("A", (), {"arch": new_arch, "num_classes": 10, "weights": weights})())
    ref = net(images)
    err_regression = (pruned_net(art)(images) - ref).norm()
    err_plain = (plain(images) - ref).norm()
    assert err_regression < 0.5 * err_plain


@pytest.mark.parametrize(
    "spec,side",
    [(("resnet_cifar", 8, 10, {}), 32), (("resnet_imagenet", 50, 5, {"base_width": 8}), 64)],
    ids=["cifar", "r50"],
)
def test_resnet_inner_layers(spec: tuple, side: int) -> None:
    from pruning_lightning.models.spec import ArchSpec

    family, depth, classes, options = spec
    net, arch = net_and_arch(ArchSpec(family, depth, options=options), classes)
    pruner = RegressionPruner(ratio=0.5, num_images=16, locations_per_image=8)
    plan = pruner.select(net, arch, loader(16, side))
    art = prune(net, arch, pruner, loader(16, side))
    # Only the next convs of inner units are rewritten (conv2 after conv1, conv3 after a bottleneck's conv2).
    assert len(plan.weight_updates) == len(channel_units(net, arch))
    assert {k.split(".")[-2] for k in plan.weight_updates} <= {"conv2", "conv3"}
    assert art.stats["flops_ratio"] > 1.3
    x = torch.randn(2, 3, side, side)
    torch.testing.assert_close(pruned_net(art)(x), with_updates(net, plan.weight_updates)(x), rtol=1e-4, atol=1e-5)


def test_needs_data_unsupported_family_and_no_next_layer() -> None:
    net, arch = net_and_arch(TINY_VGG)
    assert PRUNERS["regression"] is RegressionPruner and RegressionPruner.needs_data
    with pytest.raises(PruningError, match="needs training data"):
        prune(net, arch, RegressionPruner(), None)
    with pytest.raises(PruningError, match="does not support family 'preresnet'"):
        other = arch.replace(family="preresnet", depth=164, cfg=None, variant="default")
        prune(net, other, RegressionPruner(), loader())
    with pytest.raises(PruningError, match="only plain Conv2d"):
        sample_inputs(
            nn.Sequential(nn.Conv2d(3, 4, 3, groups=1), nn.Conv2d(4, 4, 3, groups=2)),
            "1",
            torch.randn(2, 3, 8, 8),
            2,
            0,
        )


@pytest.mark.slow
def test_prune_command_with_data(tmp_path: Path, trainer_args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from pruning_lightning.cli.lightning_cli import cli_main
    from pruning_lightning.formats.artifact import load_artifact
    from pruning_lightning.main import main
    from pruning_lightning.models.spec import ArchSpec

    cfg = [8, 8, "M", 16, 16, "M", 16, 16, 16, "M", 32, 32, 32, "M", 32, 32, 32]  # VGG-16 layout, tiny widths
    arch = tmp_path / "arch.yaml"
    arch.write_text(ArchSpec("vgg", 16, cfg=cfg).to_yaml())
    data = str(CONFIGS / "data/synthetic.yaml")
    cli_main(
        [
            "fit",
            "--config",
            data,
            "--config",
            str(CONFIGS / "regime/large.yaml"),
            "--config",
            str(arch),
            *trainer_args,
            "--trainer.max_epochs",
            "1",
        ]
    )
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    with pytest.raises(SystemExit) as exc:  # data-driven: no --data is a one-line error, exit 2
        main(
            [
                "prune",
                "--config",
                str(CONFIGS / "prune/regression_vgg16_50.yaml"),
                "--ckpt",
                str(ckpt),
                "--out",
                str(tmp_path / "bad"),
            ]
        )
    assert exc.value.code == 2 and "needs training data" in capsys.readouterr().err
    main(
        [
            "prune",
            "--config",
            str(CONFIGS / "prune/regression_vgg16_50.yaml"),
            "--config",
            data,
            "--pruner.init_args.num_images",
            "16",
            "--ckpt",
            str(ckpt),
            "--out",
            str(tmp_path / "p"),
        ]
    )
    art = load_artifact(tmp_path / "p")
    halves = [c if c == "M" or i >= 13 else c // 2 for i, c in enumerate(cfg)]  # conv1-10 halved, conv11-13 intact
    assert art.arch.cfg == halves and art.method == "regression"
