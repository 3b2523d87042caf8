"""L1-norm filter pruning (PAPER §3.1): known answers, the paper's exact cfgs/params/FLOPs, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pruning_lightning.cli.config import prune_parser
from pruning_lightning.core.errors import PruningError
from pruning_lightning.models import build_arch, get_family, resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning import L1NormPruner, prune
from pruning_lightning.pruning.surgery import SURGERY, apply_plan, get_surgery, numbered_units
from pruning_lightning.utils.flops import count_params
from tests.helpers import TINY_VGG, TINY_VGG_L1

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY_RESNET = ArchSpec("resnet_cifar", 20)

# PAPER §3.1 / §2.3: target cfg, params, MACs (conv + FC) and Scratch-B epochs of each variant.
PAPER = {
    "l1_norm_vgg16_a": (
        ArchSpec("vgg", 16, variant="l1"),
        [32, 64, "M", 128, 128, "M", 256, 256, 256, "M", 256, 256, 256, "M", 256, 256, 256],
        5.40e6,
        206.3e6,
        243,
    ),
    "l1_norm_resnet56_a": (
        ArchSpec("resnet_cifar", 56),
        [14] * 7 + [16, 14] + [32] + [28] * 8 + [64] + [57] * 7 + [64],
        0.773e6,
        112.4e6,
        178,
    ),
    "l1_norm_resnet56_b": (
        ArchSpec("resnet_cifar", 56),
        [6] * 7 + [16, 16] + [32] + [22] * 6 + [32, 22] + [64] + [57] * 7 + [64],
        0.736e6,
        90.9e6,
        220,
    ),
    "l1_norm_resnet110_a": (
        ArchSpec("resnet_cifar", 110),
        [8] * 17 + [16] + [32] * 18 + [64] * 18,
        1.689e6,
        212.8e6,
        190,
    ),
    "l1_norm_resnet110_b": (
        ArchSpec("resnet_cifar", 110),
        [8] * 17 + [16] + [32] + [19] * 17 + [64] + [44] * 17,
        1.168e6,
        155.1e6,
        260,
    ),
    "l1_norm_resnet34_a": (
        ArchSpec("resnet_imagenet", 34),
        [64, 44, 44, 128, 89, 89, 128, 256, 179, 179, 179, 179, 256, 512, 512, 512],
        20.15e6,
        3.10e9,
        106,
    ),
    "l1_norm_resnet34_b": (
        ArchSpec("resnet_imagenet", 34),
        [64, 32, 32, 128, 51, 51, 128, 256, 153, 153, 153, 153, 256, 512, 512, 512],
        19.47e6,
        2.78e9,
        118,
    ),
}


def _has_surgery(family: str) -> bool:
    try:
        get_surgery(family)
    except PruningError:
        return False
    return family in SURGERY


def pruner_from_config(name: str) -> tuple[L1NormPruner, int, float | None]:
    """Instantiate the pruner exactly as ``pruning-lightning prune --config`` does."""
    parser = prune_parser()
    cfg = parser.parse_args(["--config", str(CONFIGS / "prune" / f"{name}.yaml"), "--ckpt", "x", "--out", "y"])
    return parser.instantiate(cfg).pruner, cfg.base_epochs, cfg.max_ratio


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_variants_exactly(name: str) -> None:
    arch, cfg, params, _, _ = PAPER[name]
    if not _has_surgery(arch.family):
        pytest.fail(f"family {arch.family} has no surgery yet")
    pruner, _, _ = pruner_from_config(name)
    arch = resolve(arch)
    classes = get_family(arch.family).usual_classes  # the paper's dataset: CIFAR-10 or ImageNet-1k
    net = build_arch(arch, classes).eval()
    cut = apply_plan(net, arch, pruner.select(net, arch))
    new_arch, weights = cut.arch, cut.weights
    assert new_arch.cfg == cfg
    small = build_arch(new_arch, classes)
    small.load_state_dict(weights)  # the surgery's weights fit the paper's architecture exactly
    assert count_params(small) == pytest.approx(params, rel=2e-3)


# FLOP counting is the slow part (seconds per net on CPU): one variant per family.
@pytest.mark.parametrize("name", ["l1_norm_vgg16_a", "l1_norm_resnet56_b", "l1_norm_resnet34_a"])
def test_paper_flops_and_scratch_b_budget(name: str) -> None:
    arch, cfg, params, macs, epochs = PAPER[name]
    if not _has_surgery(arch.family):
        pytest.fail(f"family {arch.family} has no surgery yet")
    pruner, base_epochs, max_ratio = pruner_from_config(name)
    arch = resolve(arch)
    classes = get_family(arch.family).usual_classes  # the paper's dataset: CIFAR-10 or ImageNet-1k
    art = prune(build_arch(arch, classes), arch, pruner, base_epochs=base_epochs, max_ratio=max_ratio)
    assert art.arch.cfg == cfg
    assert art.stats["params_after"] == pytest.approx(params, rel=2e-3)
    assert art.stats["macs_after"] == pytest.approx(macs, rel=2e-3)
    assert art.stats["scratch_b_epochs"] == epochs


@pytest.mark.parametrize(
    ("depth", "bounds"), [(56, (18, 36)), (110, (36, 72)), (34, (6, 14, 26))], ids=["r56", "r110", "r34"]
)
def test_layer_ids_and_stages_follow_the_reference(depth: int, bounds: tuple[int, ...]) -> None:
    family = "resnet_imagenet" if depth == 34 else "resnet_cifar"
    if not _has_surgery(family):
        pytest.fail(f"family {family} has no surgery yet")
    arch = resolve(ArchSpec(family, depth))
    numbered = numbered_units(build_arch(arch, 10), arch)
    ids = [u.layer_id for u in numbered]
    assert ids == list(range(2, 2 + 2 * len(numbered), 2))  # even ids 2..54 / 2..108 / 2..32
    assert ids[-1] == {56: 54, 110: 108, 34: 32}[depth]
    for u in numbered:  # the reference's "id <= 18 is stage 1, <= 36 stage 2, ..."
        assert u.stage == 1 + sum(u.layer_id > b for b in bounds)


def _hand_built() -> tuple[ArchSpec, torch.nn.Module]:
    arch = resolve(TINY_VGG)
    net = build_arch(arch, 10)
    with torch.no_grad():
        w = net.features.conv1.weight
        for i in range(w.shape[0]):
            w[i].fill_(float(i + 1) * (1 if i % 2 else -1))  # L1 grows with i; signs must not matter
        w[5].fill_(1e-3)
    return arch, net


def test_known_answer_smallest_l1_filter_goes() -> None:
    arch, net = _hand_built()
    plan = L1NormPruner((0.125, 0, 0, 0, 0)).select(net, arch)  # int(8 x 0.875) = 7 kept
    assert list(plan.channels) == ["features.conv1"]
    assert plan.channels["features.conv1"].tolist() == [0, 1, 2, 3, 4, 6, 7]
    art = prune(net, arch, L1NormPruner((0.125, 0, 0, 0, 0)))
    assert art.arch.cfg[0] == 7
    keep = torch.tensor([0, 1, 2, 3, 4, 6, 7])
    torch.testing.assert_close(art.weights["features.conv1.weight"], net.features.conv1.weight[keep])
    torch.testing.assert_close(art.weights["features.conv2.weight"], net.features.conv2.weight[:, keep])


def test_order_smallest_and_random() -> None:
    arch, net = _hand_built()
    smallest = L1NormPruner((0.5, 0, 0, 0, 0), order="smallest").select(net, arch)
    assert smallest.channels["features.conv1"].tolist() == [0, 1, 2, 5]
    r1 = L1NormPruner((0.5, 0, 0, 0, 0), order="random", seed=3).select(net, arch)
    r2 = L1NormPruner((0.5, 0, 0, 0, 0), order="random", seed=3).select(net, arch)
    assert r1.channels["features.conv1"].tolist() == r2.channels["features.conv1"].tolist()
    assert len(r1.channels["features.conv1"]) == 4


@pytest.mark.parametrize("spec", [TINY_VGG_L1, TINY_RESNET], ids=["vgg", "resnet_cifar"])
def test_mask_implementation_computes_the_small_net(spec: ArchSpec) -> None:
    """as_masks + mask_bn: the full net with masked filters and BN equals the physically pruned net."""
    arch = resolve(spec)
    net = build_arch(arch, 10)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.bias.uniform_(0.1, 0.5)  # a non-zero beta would leak ReLU(beta) if BN were not masked
    ratios = (0.5,) * (5 if arch.family == "vgg" else 3)
    net.eval()
    cut = apply_plan(net, arch, L1NormPruner(ratios).select(net, arch))
    small_arch, small_weights = cut.arch, cut.weights
    conv_only = L1NormPruner(ratios, as_masks=True).select(net, arch).masks  # the reference: conv weights only
    assert conv_only and all(m.dim() == 4 for m in conv_only.values())
    mask_plan = L1NormPruner(ratios, as_masks=True, mask_bn=True).select(net, arch)
    cut = apply_plan(net, arch, mask_plan)
    masked_arch, structure, masked_weights = cut.arch, cut.structure, cut.weights
    assert masked_arch == arch and structure and all(k.startswith("mask:") for k in structure)
    bn_masks = [k for k in structure if k.endswith(".bias")]
    assert bn_masks and all("bn" in k for k in bn_masks)
    full, pruned = build_arch(arch, 10).eval(), build_arch(small_arch, 10).eval()
    full.load_state_dict(masked_weights)
    pruned.load_state_dict(small_weights)
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(full(x), pruned(x), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(full(x), net.eval()(x), atol=1e-3)  # pruning did change the function


def test_errors() -> None:
    arch = resolve(TINY_VGG)
    net = build_arch(arch, 10)
    for bad in [(1.0, 0, 0, 0, 0), (-0.1, 0, 0, 0, 0), ()]:
        with pytest.raises(PruningError, match="stage_ratios"):
            L1NormPruner(bad)
    with pytest.raises(PruningError, match="prune nothing"):
        L1NormPruner((0.0, 0.0))
    with pytest.raises(PruningError, match="5 stages"):
        L1NormPruner((0.5, 0.5)).select(net, arch)
    with pytest.raises(PruningError, match=r"skip ids \[99\]"):
        L1NormPruner((0.5, 0, 0, 0, 0), skip=(99,)).select(net, arch)
    thin = resolve(TINY_VGG.replace(cfg=[1, "M", 16, "M", 16, 16, "M", 32, 32, "M", 32, 32]))
    with pytest.raises(PruningError, match="empties layer 1"):
        L1NormPruner((0.5, 0, 0, 0, 0)).select(build_arch(thin, 10), thin)
    bottleneck = resolve(ArchSpec("resnet_imagenet", 50, options={"base_width": 8}))
    with pytest.raises(PruningError, match="basic-block ResNets"):
        L1NormPruner((0.5, 0.5, 0.5, 0.5)).select(build_arch(bottleneck, 10), bottleneck)
    dense = resolve(ArchSpec("densenet", 40))
    with pytest.raises(PruningError, match="does not support family 'densenet'"):
        prune(build_arch(dense, 10), dense, L1NormPruner((0.5, 0.5, 0.5)))
