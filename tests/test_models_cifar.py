"""CIFAR ResNet / PreResNet / DenseNet families: PAPER counts, cfg semantics, init, round trips, bad specs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from pruning_lightning.cli.config import arch_from_yaml
from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.checkpoint import load_network
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.models.layers import ChannelSelection
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.modules.base import ClassificationModule
from pruning_lightning.utils.flops import count_complexity, count_params
from tests.helpers import shortcut_gradient

ARCH_DIR = Path(__file__).resolve().parents[1] / "configs" / "arch" / "cifar"

TINY = [
    ArchSpec("resnet_cifar", 8),
    ArchSpec("resnet_cifar", 8, cfg=[3, 0, 7], options={"block_scale": True, "detach_shortcut": True}),
    ArchSpec("preresnet", 11),
    ArchSpec("preresnet", 20, cfg=[9, 5, 3, 50, 4, 6, 40, 30, 20, 100, 9, 8, 7, 60, 11, 200, 13, 2, 200]),
    ArchSpec("preresnet", 11, variant="bottleneck"),
    ArchSpec("preresnet", 8, variant="basic"),
    ArchSpec("densenet", 10),
    ArchSpec("densenet", 10, cfg=[20, 30, 40, 11, 50, 60, 70, 21, 90]),
    ArchSpec("densenet", 10, variant="bc"),
]
TINY_CLASSES = [10, 5, 10, 7, 10, 10, 10, 3, 10]  # the class count each TINY network is built with


def _classes(spec: ArchSpec) -> int:
    return TINY_CLASSES[TINY.index(spec)]


def _id(s: ArchSpec) -> str:
    return f"{s.family}{s.depth}-{s.variant}" + ("-cfg" if s.cfg else "") + ("-opt" if s.options else "")


# (config file, num_classes, params, MACs in M, paper-convention FLOPs in M); PAPER §5.2-§5.5, §5.7.
# MACs/FLOPs are counted once per network (the counter is slow on CPU); CIFAR-100 rows check params.
REFERENCE = [
    ("resnet56", 10, 853018, 125.5, 252.6),
    ("resnet110", 10, 1727962, 252.9, 508.9),
    ("preresnet164", 10, 1703258, 247.7, 504.8),
    ("preresnet164", 100, 1726388, None, None),
    ("preresnet110_bottleneck", 10, 1146842, 167.4, 341.2),
    ("densenet40", 10, 1059298, 282.9, 573.1),
    ("densenet40", 100, 1100428, None, None),
    ("densenet_bc100", 10, 769162, 287.9, 588.7),
]


def _from_config(name: str, classes: int = 10) -> ArchSpec:
    return arch_from_yaml((ARCH_DIR / f"{name}.yaml").read_text(), num_classes=classes)


@pytest.mark.parametrize(("name", "classes", "params", "macs_m", "flops_m"), REFERENCE, ids=lambda v: str(v))
def test_reference_counts(name: str, classes: int, params: int, macs_m: float | None, flops_m: float | None) -> None:
    net = build_arch(_from_config(name, classes), classes)
    assert count_params(net) == params  # exact where PAPER gives it; else the value that rounds to PAPER's
    if macs_m is None:
        return
    c = count_complexity(net, (3, 32, 32))
    # PreResNet-164 has 247.647M MACs: PAPER's 247.7 is 247.65 rounded twice (its FLOPs, 504.8, match).
    assert abs(c.macs / 1e6 - macs_m) < 0.055
    assert round(c.flops / 1e6, 1) == flops_m


def test_other_reference_sizes() -> None:
    assert (
        round(count_params(build_arch(_from_config("preresnet110"), 10)) / 1e6, 1) == 1.7
    )  # He et al.'s PreResNet-110
    assert round(count_params(build_arch(_from_config("densenet_bc100", 100), 100)) / 1e6, 2) == 0.80  # PAPER §3.6
    assert round(count_params(build_arch(_from_config("resnet20"), 10)) / 1e6, 2) == 0.27
    assert round(count_params(build_arch(_from_config("resnet32"), 10)) / 1e6, 2) == 0.46


def _resnet_params(cfg: list[int], n: int, classes: int, scale: bool) -> int:
    total, cin = 3 * 16 * 9 + 2 * 16, 16
    for i, m in enumerate(cfg):
        planes = (16, 32, 64)[i // n]
        if m:
            total += cin * m * 9 + 2 * m + m * planes * 9 + 2 * planes + int(scale)
        cin = planes
    return total + 64 * classes + classes


def _preresnet_params(cfg: list[int], n: int, classes: int) -> int:
    total, cin = 3 * 16 * 9, 16
    for i in range(3 * n):
        planes = (16, 32, 64)[i // n]
        sel, w1, w2 = cfg[3 * i : 3 * i + 3]
        total += 2 * cin + sel * w1 + 2 * w1 + w1 * w2 * 9 + 2 * w2 + w2 * 4 * planes
        total += cin * 4 * planes if cin != 4 * planes else 0  # projection conv, no BN
        cin = 4 * planes
    return total + 2 * cin + cfg[-1] * classes + classes


def _densenet_params(cfg: list[int], n: int, classes: int) -> int:
    total, w, it = 3 * 24 * 9, 24, iter(cfg)
    for d in range(3):
        for _ in range(n):
            total += 2 * w + next(it) * 12 * 9
            w += 12
        sel = next(it)
        total += 2 * w + (sel * w if d < 2 else sel * classes + classes)  # transition 1x1 conv / FC
    return total


def test_closed_form_params_follow_cfg() -> None:
    cfg = [5, 0, 9, 32, 1, 0, 0, 17, 64]
    net = build_arch(ArchSpec("resnet_cifar", 20, cfg=cfg, options={"block_scale": True}), 10)
    assert count_params(net) == _resnet_params(cfg, 3, 10, True)
    spec = TINY[3]
    assert count_params(build_arch(spec, 7)) == _preresnet_params(spec.cfg, 2, 7)
    spec = TINY[7]
    assert count_params(build_arch(spec, 3)) == _densenet_params(spec.cfg, 2, 3)
    # and the closed forms agree with the unpruned defaults (so they are not tautological)
    assert _preresnet_params(resolve(ArchSpec("preresnet", 164)).cfg, 18, 10) == 1703258
    assert _densenet_params(resolve(ArchSpec("densenet", 40)).cfg, 12, 10) == 1059298
    assert _resnet_params(resolve(ArchSpec("resnet_cifar", 56)).cfg, 9, 10, False) == 853018


def test_default_cfgs_match_paper() -> None:
    pre = resolve(ArchSpec("preresnet", 164)).cfg
    assert pre == [16, 16, 16] + [64, 16, 16] * 17 + [64, 32, 32] + [128, 32, 32] * 17 + [128, 64, 64] + [
        256,
        64,
        64,
    ] * 17 + [256]
    dense = resolve(ArchSpec("densenet", 40)).cfg
    assert len(dense) == 39 and dense[:2] == [24, 36] and dense[12:14] == [168, 168] and dense[-1] == 456
    assert resolve(ArchSpec("resnet_cifar", 56)).cfg == [16] * 9 + [32] * 9 + [64] * 9
    assert len(resolve(ArchSpec("preresnet", 110, variant="bottleneck")).cfg) == 2 * 36


@pytest.mark.parametrize("spec", TINY, ids=_id)
def test_forward_and_yaml_round_trip(spec: ArchSpec) -> None:
    net = build_arch(spec, _classes(spec)).eval()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, _classes(spec))
    assert arch_from_yaml(spec.to_yaml()) == spec
    assert arch_from_yaml(resolve(spec).to_yaml()) == resolve(spec)


@pytest.mark.parametrize("spec", [TINY[1], TINY[3], TINY[7]], ids=_id)
def test_checkpoint_round_trip(spec: ArchSpec, tmp_path: Path) -> None:
    module = ClassificationModule(spec, num_classes=_classes(spec)).eval()
    for m in module.net.modules():  # non-default selections must travel in the state dict
        if isinstance(m, ChannelSelection):
            k = int(m.indexes.sum())
            m.indexes.copy_(torch.zeros_like(m.indexes).index_fill_(0, torch.randperm(m.indexes.numel())[:k], True))
    path = tmp_path / "x.ckpt"
    torch.save({"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}, path)
    arch, classes, net, source = load_network(path)
    assert source == str(path)  # no epoch recorded: the file alone
    assert arch == resolve(spec) and classes == _classes(spec)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(net.eval()(x), module(x))
    again = ClassificationModule(arch, num_classes=classes)
    again.load_state_dict(torch.load(path, weights_only=True)["state_dict"])
    torch.testing.assert_close(again.eval()(x), module(x))


@pytest.mark.parametrize(
    ("spec", "gamma"),
    [(TINY[0], 1.0), (TINY[2], 0.5), (TINY[4], 1.0), (TINY[5], 1.0), (TINY[6], 0.5), (TINY[8], 1.0)],
    ids=lambda v: _id(v) if isinstance(v, ArchSpec) else str(v),
)
def test_init(spec: ArchSpec, gamma: float) -> None:
    net = build_arch(spec, 10)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(bool((m.weight == gamma).all() and (m.bias == 0).all()) for m in bns)
    widest = max((m for m in net.modules() if isinstance(m, nn.Conv2d)), key=lambda m: m.weight.numel())
    k = widest.kernel_size[0] * widest.kernel_size[1] * widest.out_channels
    assert widest.weight.std().item() == pytest.approx(math.sqrt(2.0 / k), rel=0.1)  # He fan-out
    fc = net.fc
    assert fc.weight.abs().max() <= 1 / math.sqrt(fc.in_features) and fc.weight.std() > 0  # PyTorch default


def test_channel_selection_is_a_buffer() -> None:
    sel = ChannelSelection(6, 4)
    assert not list(sel.parameters()) and sel.state_dict()["indexes"].tolist() == [True] * 4 + [False] * 2
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert sel(x).flatten().tolist() == [0, 1, 2, 3]
    sel.state_dict()["indexes"].copy_(torch.tensor([False, True, False, True, True, True]))
    assert sel(x).flatten().tolist() == [1, 3, 4, 5]  # the cached positions follow in-place writes
    net = build_arch(ArchSpec("densenet", 40), 10)
    assert count_params(net) == 1059298  # the 39 selections add no parameters
    assert sum(k.endswith("select.indexes") for k in net.state_dict()) == 39


def test_detach_shortcut_blocks_the_gradient() -> None:
    grads = []
    for detach in (False, True):
        block = build_arch(ArchSpec("resnet_cifar", 8, options={"detach_shortcut": detach}), 10).layer2[0]
        grads.append(shortcut_gradient(block, 16, 8))
    assert grads[0] > 0 and grads[1] == 0


def test_zero_width_block_equals_zero_scale() -> None:
    torch.manual_seed(0)
    cfg = [4, 5, 6]
    scaled = build_arch(ArchSpec("resnet_cifar", 8, cfg=cfg, options={"block_scale": True}), 10).eval()
    assert {k for k, _ in scaled.named_parameters() if k.endswith("scale")} == {f"layer{s}.0.scale" for s in (1, 2, 3)}
    assert scaled.layer2[0].scale.item() == 1.0
    removed = build_arch(ArchSpec("resnet_cifar", 8, cfg=[4, 0, 6], options={"block_scale": True}), 10).eval()
    removed.load_state_dict({k: v for k, v in scaled.state_dict().items() if not k.startswith("layer2.0.")})
    with torch.no_grad():
        scaled.layer2[0].scale.zero_()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(removed(x), scaled(x))
    assert not any(k.startswith("layer2.0.") for k in removed.state_dict())  # no conv, BN or scale left


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (ArchSpec("resnet_cifar", 21), "unknown depth 21"),
        (ArchSpec("resnet_cifar", 20, cfg=[16] * 8), "needs 9"),
        (ArchSpec("resnet_cifar", 20, cfg=[16] * 8 + [-1]), "not a width"),
        (ArchSpec("resnet_cifar", 20, options={"shortcut": "B"}), "unknown options"),
        (ArchSpec("resnet_cifar", 20, options={"detach_shortcut": "yes"}), "true or false"),
        (ArchSpec("resnet_cifar", 20, variant="wide"), "unknown variant"),
        (ArchSpec("preresnet", 100), "unknown depth 100"),  # bottleneck variants need 9n+2
        (ArchSpec("preresnet", 100, variant="basic"), "unknown depth 100"),  # basic needs 6n+2
        (ArchSpec("preresnet", 11, cfg=[16, 16, 16, 64, 16, 16, 128, 32, 32]), "needs 10"),
        (ArchSpec("preresnet", 11, cfg=[16, 0, 16, 64, 16, 16, 128, 32, 32, 256]), "not a width"),
        (
            ArchSpec("preresnet", 11, cfg=[17, 16, 16, 64, 16, 16, 128, 32, 32, 256]),
            "selects 17 of only 16",
        ),
        (ArchSpec("preresnet", 11, variant="bottleneck", cfg=[16, 16, 32, 0, 64, 64]), "not a width"),
        (ArchSpec("preresnet", 164, options={"x": True}), "takes no options"),
        (ArchSpec("densenet", 41), "unknown depth 41"),
        (ArchSpec("densenet", 42, variant="bc"), "unknown depth 42"),
        (ArchSpec("densenet", 10, cfg=[24] * 8), "needs 9"),
        (ArchSpec("densenet", 10, cfg=[24, 0, 48, 48, 60, 72, 72, 84, 96]), "not a width"),
        (ArchSpec("densenet", 10, cfg=[25, 36, 48, 48, 60, 72, 72, 84, 96]), "selects 25 of only 24"),
        (ArchSpec("densenet", 100, variant="bcd"), "unknown variant"),
    ],
    ids=lambda v: _id(v) if isinstance(v, ArchSpec) else "",
)
def test_bad_specs(spec: ArchSpec, match: str) -> None:
    with pytest.raises(PruningError, match=match):
        build_arch(spec, 10)
