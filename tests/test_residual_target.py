"""Regression (He et al.) on ResNets: seeded location sampling and the shortcut-aware target Y1 + Y2 - Y1'."""

from __future__ import annotations

import copy

import torch
from torch import nn

from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning import RegressionPruner, ThiNetPruner, prune
from pruning_lightning.pruning.reconstruct import least_squares
from pruning_lightning.pruning.residual_target import branch_gain, sample_shortcuts, shortcut_target
from pruning_lightning.pruning.sampling import outputs, sample_inputs, sample_outputs
from pruning_lightning.pruning.surgery import BranchEnd, channel_units
from tests.helpers import TINY_VGG, loader, net_and_arch, pruned_net

R14 = ArchSpec("resnet_cifar", 14)  # 2 blocks per stage: layer1.1 has an identity shortcut


def _resnet() -> tuple[nn.Module, ArchSpec]:
    net, arch = net_and_arch(R14)
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():  # non-trivial eval-mode BN, so the gain a = gamma / sqrt(var + eps) matters
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return net, arch


def test_sampler_draws_the_configured_positions_from_the_seed() -> None:
    net, _ = net_and_arch(TINY_VGG)
    images = torch.randn(6, 3, 32, 32)
    a = sample_inputs(net, "features.conv3", images, locations=7, seed=4, batch_size=4)
    assert a.shape == (6 * 7, 16, 9)  # exactly `locations` positions per image
    torch.testing.assert_close(sample_inputs(net, "features.conv3", images, locations=7, seed=4, batch_size=4), a)
    assert not torch.equal(sample_inputs(net, "features.conv3", images, locations=7, seed=5, batch_size=4), a)
    assert RegressionPruner().locations_per_image == 10  # He et al.: 10 samples per image
    assert ThiNetPruner().locations_per_image == 16  # ThiNet unchanged
    assert RegressionPruner().shortcut_target and not RegressionPruner(shortcut_target=False).shortcut_target


def test_shortcut_target_differs_from_plain_by_the_shortcut_residual() -> None:
    net, arch = _resnet()
    work = copy.deepcopy(net)
    with torch.no_grad():  # the working net's residual stream differs upstream of layer1.1: Y1' != Y1
        work.layer1[0].conv2.weight.mul_(0.5)
    layer, images, seed = "layer1.1.conv2", torch.randn(4, 3, 32, 32), 3
    ends = {u.consumer: u.branch_end for u in channel_units(net, arch)}  # the family structure's branch ends
    end = ends[layer]
    assert end == BranchEnd("layer1.1", "layer1.1.bn2") and ends.get("layer1.1.conv1") is None
    plain = sample_outputs(net, {layer: seed}, images, locations=5, batch_size=3)[layer]
    y1 = sample_shortcuts(net, {"layer1.1": seed}, images, locations=5, batch_size=3)["layer1.1"]
    y1w = sample_shortcuts(work, {"layer1.1": seed}, images, locations=5, batch_size=3)["layer1.1"]
    target = shortcut_target(plain, y1, y1w, branch_gain(work, end))
    # Independently: full maps of conv2's output u and of the block inputs (identity shortcut) of both nets.
    maps: dict[str, torch.Tensor] = {}
    net.layer1[1].conv2.register_forward_hook(lambda m, a, o: maps.setdefault("u", o))
    net.layer1[1].register_forward_pre_hook(lambda m, a: maps.setdefault("x", a[0].clone()))
    work.layer1[1].register_forward_pre_hook(lambda m, a: maps.setdefault("xw", a[0].clone()))
    with torch.no_grad():
        net(images), work(images)
    flat = {k: v.permute(0, 2, 3, 1).reshape(-1, v.shape[1]) for k, v in maps.items()}
    where = ((plain[:, None] - flat["u"][None]) ** 2).sum(-1).argmin(1)  # the sampled (image, h, w) of each row
    assert torch.allclose(flat["u"][where], plain, atol=1e-5) and len(set(where.tolist())) == len(plain)
    bn = net.layer1[1].bn2
    gain = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    shortcut_residual = (flat["x"][where] - flat["xw"][where]) / gain
    assert shortcut_residual.abs().max() > 1e-3
    torch.testing.assert_close(target - plain, shortcut_residual, rtol=1e-4, atol=1e-5)
    # Same nets: Y1' == Y1 and the target is the plain one.
    torch.testing.assert_close(shortcut_target(plain, y1, y1, branch_gain(net, end)), plain)


def test_refit_reduces_error_against_the_shortcut_target() -> None:
    net, arch = _resnet()
    data, layer, block = loader(32), "layer3.1.conv2", "layer3.1"
    units = [u.name for u in channel_units(net, arch)]
    only = {u: 0.5 if u in ("layer1.0.conv1", "layer3.1.conv1") else 0.0 for u in units}  # Y1' != Y1 at layer3.1
    pruner = RegressionPruner(layer_ratios=only, num_images=32, batch_size=16)
    small = pruned_net(prune(net, arch, pruner, data))
    seed, images = pruner.seed + units.index("layer3.1.conv1"), torch.cat([b[0] for b in data])
    plain = sample_outputs(net, {layer: seed}, images, 10, 16)[layer]
    y1 = sample_shortcuts(net, {block: seed}, images, 10, 16)[block]
    y1w = sample_shortcuts(small, {block: seed}, images, 10, 16)[block]
    target = shortcut_target(plain, y1, y1w, branch_gain(small, BranchEnd(block, "layer3.1.bn2")))
    assert float((target - plain).abs().max()) > 1e-3
    x = sample_inputs(small, layer, images, 10, seed, 16)

    def err(w: torch.Tensor, y: torch.Tensor = target) -> float:
        return float(((outputs(x, w) - y) ** 2).sum())

    refit = small.layer3[1].conv2.weight.detach().flatten(2)
    assert err(refit) <= 1.001 * err(least_squares(x, target))  # the refit is the least-squares fit to the target
    big, cut = net.layer3[1].conv1.weight.detach().flatten(1), small.layer3[1].conv1.weight.detach().flatten(1)
    kept = ((cut[:, None] - big[None]) ** 2).sum(-1).argmin(1)  # the surviving conv1 filters
    sliced = net.layer3[1].conv2.weight.detach().flatten(2)[:, kept]
    assert err(refit) < 0.9 * err(sliced)  # the refit reduces the error against Y1 + Y2 - Y1'
    assert err(refit) < err(least_squares(x, plain))  # and fits it better than a refit to the plain target
