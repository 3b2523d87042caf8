"""ImageNet families: layout, init, cfg rules, channel selection, SSS blocks, slimming surgery."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision
from torch import nn

from pruning_lightning.cli.config import arch_from_yaml
from pruning_lightning.core.errors import PruningError
from pruning_lightning.models import build_arch, input_size, resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.base import prune
from pruning_lightning.pruning.plan import KeepPlan
from pruning_lightning.pruning.slimming import SlimmingPruner
from pruning_lightning.pruning.surgery import apply_plan, channel_units

TINY = {"base_width": 8}
TINY_VGG_CONV = [8, "M", 8, "M", 16, 16, "M", 16, 16, "M", 16, 16, "M"]
TINY_VGGS = [
    ArchSpec("vgg_imagenet", 11, cfg=[*TINY_VGG_CONV, 32, 24], variant="slimming"),
    ArchSpec("vgg_imagenet", 11, cfg=TINY_VGG_CONV, variant="bn"),
    ArchSpec("vgg_imagenet", 11, cfg=TINY_VGG_CONV),
    ArchSpec("vgg_imagenet", 11, cfg=TINY_VGG_CONV[:-1], variant="gap"),
]
TINY_RESNETS = [
    ArchSpec("resnet_imagenet", 18, options=TINY),
    ArchSpec("resnet_imagenet", 34, options={**TINY, "block_scale": True}),
    ArchSpec("resnet_imagenet", 50, options={**TINY, "downsample_bias": True}),
]


@pytest.mark.parametrize("spec", TINY_VGGS + TINY_RESNETS, ids=lambda s: f"{s.family}{s.depth}-{s.variant}")
@pytest.mark.parametrize("side", [64, 224])
def test_forward_shape(spec: ArchSpec, side: int) -> None:
    net = build_arch(spec, 5).eval()
    with torch.no_grad():
        assert net(torch.randn(2, 3, side, side)).shape == (2, 5)
    assert input_size(spec) == (3, 224, 224)
    assert arch_from_yaml(resolve(spec).to_yaml()) == resolve(spec)


@pytest.mark.parametrize(("depth", "builder"), [(34, torchvision.models.resnet34), (50, torchvision.models.resnet50)])
def test_resnet_matches_torchvision_state_dict(depth: int, builder: object) -> None:
    ours = build_arch(ArchSpec("resnet_imagenet", depth), 1000).state_dict()
    theirs = builder().state_dict()  # type: ignore[operator]
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}


def _std(w: torch.Tensor) -> float:
    return float(w.detach().std())


def test_init_follows_paper() -> None:
    slim = build_arch(TINY_VGGS[0], 5)
    bns = [m for m in slim.modules() if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d))]
    assert any(isinstance(m, nn.BatchNorm1d) for m in bns)
    assert all(torch.all(m.weight == 0.5) and torch.all(m.bias == 0) for m in bns)
    fc = slim.classifier.fc1
    assert abs(_std(fc.weight) - 0.01) < 0.002 and torch.all(fc.bias == 0)
    conv = slim.features.conv3  # 16 outputs, 3x3: std sqrt(2 / (9 * 16))
    assert abs(_std(conv.weight) - math.sqrt(2 / (9 * 16))) < 0.03 and torch.all(conv.bias == 0)
    res = build_arch(TINY_RESNETS[1], 5)
    assert all(torch.all(m.weight == 1) for m in res.modules() if isinstance(m, nn.BatchNorm2d))
    assert float(res.layer2.get_submodule("1").scale) == 1.0 and res.layer2.get_submodule("1").scale.requires_grad


def test_vgg_slimming_head_has_no_dropout_and_default_has() -> None:
    kinds = {s.variant: {type(m) for m in build_arch(s, 5).classifier} for s in TINY_VGGS}
    assert nn.Dropout not in kinds["slimming"] and nn.BatchNorm1d in kinds["slimming"]
    assert nn.Dropout in kinds["default"] and nn.BatchNorm1d not in kinds["default"]
    assert build_arch(TINY_VGGS[0], 5).classifier.fc1.in_features == 16 * 49
    assert build_arch(TINY_VGGS[3], 5).classifier.fc1.in_features == 16


def test_channel_selection_reads_the_indexed_inputs() -> None:
    cfg = resolve(ArchSpec("resnet_imagenet", 50, options=TINY)).cfg
    assert cfg is not None and cfg[:6] == [8, 8, 8, 32, 8, 8]
    cfg = [10 if i == 3 else c for i, c in enumerate(cfg)]  # layer1.1 reads 10 of its 32 inputs
    net = build_arch(ArchSpec("resnet_imagenet", 50, cfg=cfg, options=TINY), 5).eval()
    block = net.layer1.get_submodule("1")
    assert block.conv1.in_channels == 10 and net.layer1.get_submodule("0").selection is None
    assert torch.equal(torch.nonzero(block.selection.indexes).flatten(), torch.arange(10))
    assert "layer1.1.selection.indexes" in net.state_dict()  # structure travels in the state dict
    x = torch.randn(2, 32, 16, 16)
    idx = torch.tensor([1, 3, 5, 7, 9, 11, 13, 15, 17, 31])
    mask = torch.zeros(32, dtype=torch.bool)
    mask[idx] = True
    net.load_state_dict({**net.state_dict(), "layer1.1.selection.indexes": mask})
    with torch.no_grad():
        h = torch.relu(block.bn1(block.conv1(x[:, idx])))
        h = torch.relu(block.bn2(block.conv2(h)))
        expected = torch.relu(block.bn3(block.conv3(h)) + x)
        torch.testing.assert_close(block(x), expected)


def test_removed_blocks_become_identity_or_projection() -> None:
    spec = resolve(ArchSpec("resnet_imagenet", 50, options={**TINY, "block_scale": True}))
    assert spec.cfg is not None
    cfg = list(spec.cfg)
    cfg[0:3] = [0, 0, 0]  # layer1.0 -> projection
    cfg[6:9] = [0, 0, 0]  # layer1.2 -> identity (omitted)
    net = build_arch(spec.replace(cfg=cfg), 5).eval()
    assert list(net.layer1._modules) == ["0", "1"]
    proj = net.layer1.get_submodule("0")
    assert not hasattr(proj, "conv1") and not hasattr(proj, "scale")
    assert isinstance(proj.downsample[0], nn.Conv2d) and proj.downsample[0].out_channels == 32
    x = torch.randn(1, 8, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(proj(x), torch.relu(proj.downsample(x)))
        assert net(torch.randn(2, 3, 64, 64)).shape == (2, 5)
    # A zero scale switches the branch off: a non-first block then passes its (post-ReLU) input on.
    block = net.layer2.get_submodule("1")
    with torch.no_grad():
        block.scale.zero_()
        y = torch.relu(torch.randn(2, 64, 8, 8))
        torch.testing.assert_close(block(y), y)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (ArchSpec("resnet_imagenet", 42), "unknown depth 42"),
        (ArchSpec("resnet_imagenet", 50, variant="thin"), "no variants"),
        (ArchSpec("resnet_imagenet", 50, options={"units": [[0, False]]}), "unknown option 'units'"),
        (ArchSpec("resnet_imagenet", 50, options={"block_scale": 1}), "must be a bool"),
        (ArchSpec("resnet_imagenet", 34, cfg=[64] * 15), "needs 16 integers"),
        (ArchSpec("resnet_imagenet", 50, cfg=[64, 0, 64] + [256, 64, 64] * 15), "all zero to remove"),
        (
            ArchSpec("resnet_imagenet", 50, cfg=[65, 64, 64] + [256, 64, 64] * 15),
            "selects 65 input channels",
        ),
        (ArchSpec("vgg_imagenet", 12), "unknown depth 12"),
        (ArchSpec("vgg_imagenet", 11, variant="huge"), "unknown variant"),
        (
            ArchSpec("vgg_imagenet", 11, variant="slimming", cfg=TINY_VGG_CONV),
            "does not match the layout",
        ),
        (ArchSpec("vgg_imagenet", 11, variant="gap", cfg=TINY_VGG_CONV), "does not match the layout"),
        (ArchSpec("vgg_imagenet", 11, options={"x": 1}), "takes no options"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_bad_specs(spec: ArchSpec, match: str) -> None:
    with pytest.raises(PruningError, match=match):
        build_arch(spec, 5)


def _randomise_bn(net: nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                for t in (m.weight, m.bias, m.running_mean):
                    t.copy_(torch.randn(t.shape, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def _zero_pruned(net: nn.Module, arch: ArchSpec, keep: dict[str, torch.Tensor]) -> None:
    """Switch the pruned channels off in the full net: zero BN gamma/beta (slimming), else conv rows."""
    modules = dict(net.named_modules())
    with torch.no_grad():
        for unit in channel_units(net, arch):
            if unit.name not in keep:
                continue
            off = torch.ones(unit.size, dtype=torch.bool)
            off[keep[unit.name]] = False
            layer = modules[unit.bn or unit.conv]  # type: ignore[index]
            layer.weight[off] = 0
            layer.bias[off] = 0


@pytest.mark.parametrize("spec", TINY_VGGS, ids=lambda s: s.variant)
def test_surgery_equals_zeroed_channels(spec: ArchSpec) -> None:
    net = build_arch(spec, 5).eval()
    _randomise_bn(net)
    units = channel_units(net, spec)
    names = [u.name for u in units]
    assert names[:8] == [f"features.conv{i}" for i in range(1, 9)]
    if spec.variant == "slimming":
        assert names[8:] == ["classifier.fc1", "classifier.fc2"]
        assert [u.bn for u in units[8:]] == ["classifier.bn_fc1", "classifier.bn_fc2"]
    g = torch.Generator().manual_seed(2)
    keep = {u.name: torch.sort(torch.randperm(u.size, generator=g)[: max(1, u.size // 2)]).values for u in units[::2]}
    keep["features.conv8"] = torch.tensor([0, 5, 6])  # the last conv: its 49-wide FC input blocks must follow
    plan = KeepPlan(channels=keep)
    cut = apply_plan(net, spec, plan)
    new_arch, structure, weights = cut.arch, cut.structure, cut.weights
    assert structure == {}
    small = build_arch(new_arch, 5).eval()
    small.load_state_dict(weights)
    widths = [c for c in new_arch.cfg if c != "M"]  # type: ignore[union-attr]
    assert widths[7] == 3 and widths[0] == 4
    x = torch.randn(2, 3, 224, 224)
    _zero_pruned(net, spec, keep)
    with torch.no_grad():
        torch.testing.assert_close(small(x), net(x), rtol=1e-4, atol=1e-5)


def test_slimming_prunes_vgg11_end_to_end() -> None:
    spec = TINY_VGGS[0]
    net = build_arch(spec, 5).eval()
    _randomise_bn(net)
    plan = SlimmingPruner(0.5).select(net, spec)
    assert set(plan.channels) == {u.name for u in channel_units(net, spec)}  # BN1d units are scored too
    art = prune(net, spec, SlimmingPruner(0.5), base_epochs=90)
    assert [c for c in art.arch.cfg if c != "M"] == [len(v) for v in plan.channels.values()]  # type: ignore[union-attr]
    assert art.stats["flops_ratio"] > 1 and art.stats["scratch_b_epochs"] == int(90 * art.stats["flops_ratio"])
    small = build_arch(art.arch, 5).eval()
    small.load_state_dict(art.weights)
    _zero_pruned(net, spec, plan.channels)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(small(x), net(x), rtol=1e-4, atol=1e-5)
