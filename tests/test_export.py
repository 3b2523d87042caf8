"""Export (issue 20): every family, unpruned and pruned, to ONNX and torch.export, loaded back and compared.

The simplifications (BN folding, channel-selection folding / gathers, baked masks) are checked against the
unsimplified network, and each is shown to have happened (so a pass that silently did nothing fails).
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn

from pruning_lightning.core.errors import PruningError
from pruning_lightning.deploy.export import compare, export_model, onnx_session, run_onnx
from pruning_lightning.deploy.simplify import Gather, _widened, simplify
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.models.layers import ChannelSelection
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning import L1NormPruner, MagnitudePruner, SlimmingPruner, UniformChannelPruner, prune
from tests.helpers import TINY_FAMILIES

pytest.importorskip("onnxruntime")
PRUNERS = {
    "vgg": lambda: SlimmingPruner(0.5),
    "resnet_cifar": lambda: L1NormPruner(stage_ratios=(0.5, 0.5, 0.5)),
    "preresnet": lambda: SlimmingPruner(0.5),
    "densenet": lambda: SlimmingPruner(0.5),
    "vgg_imagenet": lambda: SlimmingPruner(0.5),
    "resnet_imagenet": None,  # cfg with input selections below (L1 keeps block inputs whole)
    "wide_resnet": lambda: UniformChannelPruner(0.5),
}


def trained_like(net: nn.Module, seed: int = 0) -> nn.Module:
    """Random BN statistics and gammas (a fresh net's BNs are identities, which would hide folding errors)."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.1)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return net.eval()


def pruned_imagenet_resnet(spec: ArchSpec) -> nn.Module:
    """Every bottleneck selects about half of its input, at random positions."""
    arch = resolve(spec)
    cfg = [max(1, c // 2) if i % 3 == 0 else c for i, c in enumerate(arch.cfg)]  # type: ignore[arg-type]
    net = build_arch(arch.replace(cfg=cfg), 10)
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, ChannelSelection):
            k = int(m.indexes.sum())
            m.indexes.zero_()
            m.indexes[torch.randperm(m.indexes.numel(), generator=g)[:k]] = True
    return net


def network(family: str, pruned: bool) -> tuple[nn.Module, dict[str, torch.Tensor], int]:
    spec, side = TINY_FAMILIES[family]
    torch.manual_seed(0)
    net = trained_like(build_arch(resolve(spec), 10))
    if not pruned:
        return net, {}, side
    if PRUNERS[family] is None:
        return trained_like(pruned_imagenet_resnet(spec), 1), {}, side
    art = prune(net, resolve(spec), PRUNERS[family]())  # type: ignore[misc]
    small = build_arch(art.arch, 10)
    small.load_state_dict({**art.structure, **art.weights}, strict=False)
    return trained_like(small, 1), {}, side


@pytest.mark.slow
@pytest.mark.parametrize("pruned", [False, True], ids=["unpruned", "pruned"])
@pytest.mark.parametrize("family", list(TINY_FAMILIES))
def test_export_load_compare(family: str, pruned: bool, tmp_path: Path) -> None:
    net, masks, side = network(family, pruned)
    x = torch.randn(6, 3, side, side, generator=torch.Generator().manual_seed(2))
    rep = export_model(net, x, tmp_path, masks)
    assert rep.opset >= 17 and rep.exporter == "dynamo"
    assert rep.onnx.max_abs_diff < 1e-4 and rep.pt2.max_abs_diff < 1e-4
    assert rep.onnx.top1_agreement == rep.pt2.top1_agreement == 1.0
    # Loaded back independently, at another batch size (the batch dimension is dynamic).
    y = torch.randn(3, 3, side, side, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        want = net(y)
        got_pt2 = torch.export.load(str(tmp_path / "model.pt2")).module()(y)
    got_onnx = run_onnx(onnx_session(tmp_path / "model.onnx"), y)
    assert compare(want, got_onnx).max_abs_diff < 1e-4 and compare(want, got_pt2).max_abs_diff < 1e-4
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules()) and family != "densenet":
        assert rep.simplified["bn_folded"], "no BatchNorm folded"


@pytest.mark.parametrize("family", ["vgg", "resnet_cifar", "resnet_imagenet", "vgg_imagenet"])
def test_bn_folding_matches_and_removes_post_conv_bns(family: str) -> None:
    net, _, side = network(family, False)
    x = torch.randn(4, 3, side, side)
    folded = copy.deepcopy(net)
    rep = simplify(folded, x[:2])
    with torch.inference_mode():
        assert (folded(x) - net(x)).abs().max() < 1e-5
    # These families put every BN right after a conv/linear: none survives.
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in folded.modules())
    assert len(rep.bn_folded) == sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())


@pytest.mark.parametrize("family", ["preresnet", "densenet", "resnet_imagenet"])
def test_selection_folding_matches_the_unfolded_net(family: str) -> None:
    net, _, side = network(family, True)
    x = torch.randn(4, 3, side, side)
    simple = copy.deepcopy(net)
    rep = simplify(simple, x[:2], fold_bn=False)  # selections alone
    with torch.inference_mode():
        assert (simple(x) - net(x)).abs().max() < 1e-5
    assert not any(isinstance(m, ChannelSelection) for m in simple.modules())
    selections = sum(isinstance(m, ChannelSelection) for m in net.modules())
    assert len(rep.selections_removed) + len(rep.selections_folded) + len(rep.gathers) == selections
    if family != "resnet_imagenet":  # the last selection feeds the classifier: folded into its columns
        assert any(s == "select -> fc" for s in rep.selections_folded), rep.selections_folded
        assert any("(before " in g for g in rep.gathers), rep.gathers  # the gather moved before its BN


def test_widened_layer_reads_only_the_kept_channels() -> None:
    conv = nn.Conv2d(3, 5, 3, padding=1)
    index = torch.tensor([4, 0, 2])
    wide = _widened(conv, index, 6)
    x = torch.randn(2, 6, 8, 8)
    assert torch.allclose(wide(x), conv(x[:, index]), atol=1e-6)
    assert torch.allclose(wide(x), conv(Gather(index)(x)), atol=1e-6)
    assert (wide.weight[:, [1, 3, 5]] == 0).all()


def test_masks_are_baked_in_and_stay_zero(tmp_path: Path) -> None:
    spec, side = TINY_FAMILIES["vgg"]
    net = trained_like(build_arch(resolve(spec), 10))
    art = prune(net, resolve(spec), MagnitudePruner(0.6))
    masks = {k[5:]: v for k, v in art.structure.items() if k.startswith("mask:")}
    assert masks
    dense = build_arch(art.arch, 10).eval()
    dense.load_state_dict(net.state_dict())  # unmasked weights: the export must apply the masks itself
    rep = export_model(dense, torch.randn(4, 3, side, side), tmp_path, masks, fold_bn=False)
    assert rep.simplified["masks_baked"] == len(masks) and rep.onnx.max_abs_diff < 1e-4
    params = dict(torch.export.load(str(tmp_path / "model.pt2")).module().named_parameters())
    for name, mask in masks.items():
        assert (params[name][~mask] == 0).all(), name


@pytest.mark.parametrize("family", ["preresnet", "densenet", "resnet_imagenet"])
def test_fold_always_leaves_no_gather_and_the_same_logits(family: str) -> None:
    """fold="always" turns every gather that feeds a conv into zero input columns; the logits stay the same
    (to float rounding: in float64 within 1e-12; the conv then sums over more, zero, terms in another order)."""
    net, _, side = network(family, True)
    x = torch.randn(4, 3, side, side, generator=torch.Generator().manual_seed(2))
    cheaper = simplify(copy.deepcopy(net), x[:2], fold_bn=False)
    assert cheaper.gathers  # the default leaves gathers here: the option has something to change
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        ref = copy.deepcopy(net).to(dtype)
        folded = copy.deepcopy(ref)
        rep = simplify(folded, x[:2].to(dtype), fold_bn=False, fold="always")
        assert rep.gathers == [] and not any(isinstance(m, Gather) for m in folded.modules())
        assert len(rep.selections_folded) == len(cheaper.selections_folded) + len(cheaper.gathers)
        with torch.inference_mode():
            assert (folded(x.to(dtype)) - ref(x.to(dtype))).abs().max() < tol
    with pytest.raises(PruningError, match="fold must be one of cheaper, always"):
        simplify(copy.deepcopy(net), x[:2], fold="sometimes")  # type: ignore[arg-type]


def test_export_with_fold_always(tmp_path: Path) -> None:
    net, _, side = network("preresnet", True)
    rep = export_model(net, torch.randn(4, 3, side, side), tmp_path, fold="always")
    assert rep.simplified["gathers"] == [] and rep.simplified["selections_folded"]
    assert rep.onnx.max_abs_diff < 1e-4 and rep.onnx.top1_agreement == 1.0
