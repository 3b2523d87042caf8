"""The reference code's starting points and networks (issue 12, parts 1-2): model-zoo import, the weight-level
"DenseNet-BC-100" and VGG-19-BN, and the L1-norm ResNets' gradient-free shortcut."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torchvision
import yaml
from torch import nn

from pruning_lightning.cli.config import arch_from_yaml
from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.artifact import load_artifact
from pruning_lightning.formats.checkpoint import load_network
from pruning_lightning.main import main as cli_main
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.modules import ScratchModule
from pruning_lightning.pruning import MagnitudePruner, UniformChannelPruner, prune
from pruning_lightning.stages.model_zoo import zoo_network
from pruning_lightning.utils.flops import count_complexity, count_params
from tests.helpers import shortcut_gradient

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


def _arch(path: Path, classes: int = 10) -> ArchSpec:
    return arch_from_yaml(path.read_text(), num_classes=classes)


def _torchvision_file(name: str, tmp_path: Path) -> tuple[nn.Module, Path]:
    """A randomly initialised torchvision model (non-trivial BN statistics) and its saved state dict."""
    torch.manual_seed(0)
    tv = getattr(torchvision.models, name)(weights=None).eval()
    with torch.no_grad():
        for m in tv.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    path = tmp_path / f"{name}.pth"
    torch.save(tv.state_dict(), path)
    return tv, path


ZOO = [
    ("resnet34", ArchSpec("resnet_imagenet", 34)),
    ("resnet50", ArchSpec("resnet_imagenet", 50)),
    ("vgg16", ArchSpec("vgg_imagenet", 16)),
    ("vgg16_bn", ArchSpec("vgg_imagenet", 16, variant="bn")),
    # Network Slimming's VGG-11-BN head has BatchNorm1d that torchvision's vgg11_bn lacks: imported as
    # eval-mode identities, so the eval outputs (features and FCs from torchvision) are equal too.
    ("vgg11_bn", ArchSpec("vgg_imagenet", 11, variant="slimming")),
]


@pytest.mark.parametrize(("name", "spec"), ZOO, ids=[z[0] for z in ZOO])
def test_torchvision_import_equals_torchvision(name: str, spec: ArchSpec, tmp_path: Path) -> None:
    tv, path = _torchvision_file(name, tmp_path)
    arch, net, source = zoo_network(spec, path)
    assert source == str(path) and arch == resolve(spec)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(net.eval()(x), tv(x), rtol=1e-5, atol=1e-5)
        if spec.family == "vgg_imagenet":
            torch.testing.assert_close(net.features(x), tv.features(x), rtol=1e-5, atol=1e-5)


def test_zoo_command_checkpoint_feeds_prune_and_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, weights = _torchvision_file("resnet18", tmp_path)  # the smallest torchvision ResNet keeps this quick
    arch_cfg = tmp_path / "resnet18.yaml"
    arch_cfg.write_text(yaml.safe_dump({"model": {"init_args": {"arch": {"family": "resnet_imagenet", "depth": 18}}}}))
    out = tmp_path / "large.ckpt"
    cli_main(["zoo", "--arch", str(arch_cfg), "--out", str(out), "--weights", str(weights)])
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["hyper_parameters"]["_class_path"] == "pruning_lightning.modules.LargeModule"
    assert ckpt["hyper_parameters"]["arch"] == resolve(ArchSpec("resnet_imagenet", 18)).to_dict()
    assert all(k.startswith("net.") for k in ckpt["state_dict"]) and {"epoch", "global_step"} <= set(ckpt)
    arch, classes, net, source = load_network(out)
    assert classes == 1000 and ckpt["hyper_parameters"]["num_classes"] == 1000
    assert source.endswith(f"(imported from {weights})")
    torch.testing.assert_close(net.state_dict()["fc.weight"], torch.load(weights, weights_only=True)["fc.weight"])
    cli_main(["info", "--ckpt", str(out), "--no-latency"])
    assert "11,689,512" in capsys.readouterr().out  # torchvision's resnet18 parameter count
    prune_cfg = str(CONFIGS / "prune" / "magnitude_30.yaml")
    cli_main(["prune", "-c", prune_cfg, "--ckpt", str(out), "--out", str(tmp_path / "prune"), "--base_epochs", "90"])
    assert load_artifact(tmp_path / "prune").reference_arch == arch
    with pytest.raises(SystemExit):  # an existing --out is not replaced silently
        cli_main(["zoo", "--arch", str(arch_cfg), "--out", str(out), "--weights", str(weights)])


def test_offline_download_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import urllib.error

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # no cached weights
    monkeypatch.setattr(torch.hub, "urlopen", offline)
    out = tmp_path / "large.ckpt"
    with pytest.raises(SystemExit) as e:
        cli_main(["zoo", "--arch", str(CONFIGS / "arch/imagenet/resnet50.yaml"), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and not out.exists()
    assert "cannot download the torchvision weights ResNet50_Weights.IMAGENET1K_V1" in err[0]
    assert "--weights FILE" in err[0]


def test_zoo_refuses_what_torchvision_does_not_have(tmp_path: Path) -> None:
    _, weights = _torchvision_file("resnet18", tmp_path)
    with pytest.raises(PruningError, match="unpruned"):
        zoo_network(ArchSpec("resnet_imagenet", 18, options={"base_width": 8}), weights)
    with pytest.raises(PruningError, match="does not fit torchvision resnet34"):
        zoo_network(ArchSpec("resnet_imagenet", 34), weights)
    with pytest.raises(PruningError, match="covers resnet_imagenet and vgg_imagenet"):
        zoo_network(ArchSpec("vgg", 19), weights)


def _densenet_counts(classes: int) -> tuple[int, int, int]:
    """(params, MACs, paper-convention FLOPs) of the reference's densenet(depth=100, compressionRate=2) from
    its layer shapes: 3 blocks of 32 BN-ReLU-conv3x3(12) layers, transitions BN-ReLU-conv1x1(floor(w/2))-pool."""
    params = 3 * 24 * 9
    hw, w = 32 * 32, 24
    macs = 3 * 24 * 9 * hw
    flops = 2 * macs
    for block in range(3):
        for _ in range(32):
            params += 2 * w + w * 12 * 9
            macs += w * 12 * 9 * hw
            flops += 2 * w * hw + w * hw + 2 * w * 12 * 9 * hw  # BN, ReLU, conv
            w += 12
        if block < 2:
            params += 2 * w + w * (w // 2)
            macs += w * (w // 2) * hw
            flops += 2 * w * hw + w * hw + 2 * w * (w // 2) * hw  # the inline avg-pool is not counted
            w, hw = w // 2, hw // 4
    params += 2 * w + w * classes + classes
    macs += w * classes
    flops += 2 * w * hw + w * hw + 64 * w + 2 * w * classes + classes  # BN, ReLU, AvgPool2d(8) (k² per output), FC
    return params, macs, flops


def test_official_densenet_counts() -> None:
    spec = _arch(CONFIGS / "arch/cifar/densenet100_official.yaml")
    assert (spec.variant, spec.depth) == ("weight_level", 100)
    params, macs, flops = _densenet_counts(10)
    assert params == 4068490  # PAPER: 4,068,490 params at 10 classes
    c = count_complexity(build_arch(spec, 10), (3, 32, 32))
    assert (c.params, c.macs, c.flops) == (params, macs, flops)
    assert round(c.macs / 1e9, 2) == 1.32  # PAPER: 1.32 GMAC
    assert count_params(build_arch(spec, 100)) == _densenet_counts(100)[0]
    net = build_arch(spec, 10)
    assert net.trans1.conv1.weight.shape[:2] == (204, 408) and net.fc.in_features == 678
    assert all(float(m.weight.min()) == 1.0 for m in net.modules() if isinstance(m, nn.BatchNorm2d))


def test_official_vgg19_counts_and_init() -> None:
    spec = _arch(CONFIGS / "arch/cifar/vgg19_weight_level.yaml")
    widths = [c for c in resolve(spec).cfg if c != "M"]
    expected, cin = 0, 3
    for w in widths:
        expected += 9 * cin * w + w + 2 * w  # conv weight + bias, BN
        cin = w
    expected += 512 * 10 + 10
    net = build_arch(spec, 10)
    assert count_params(net) == expected == 20040522  # PAPER: 20,040,522
    assert round(count_complexity(net, (3, 32, 32)).flops / 1e6, 1) == 797.6  # PAPER §5.7 vgg19_bn
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert all(m.bias is not None and not m.bias.any() for m in convs)
    assert all(float(m.weight.min()) == 1.0 for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    widest = max(convs, key=lambda m: m.weight.numel())
    assert widest.in_channels == widest.out_channels  # ... so check a conv whose fan-in and fan-out differ
    first = convs[0]  # 3 -> 64: fan-in std sqrt(2/27) = 0.27, fan-out would be sqrt(2/576) = 0.06
    assert first.weight.std().item() == pytest.approx(math.sqrt(2.0 / 27), rel=0.15)
    assert net.classifier.weight.std().item() == pytest.approx(0.01, rel=0.2)


TINY_OFFICIAL = [
    ArchSpec("vgg", 11, cfg=[8, "M", 8, "M", 8, 8, "M", 8, 8, "M", 8, 8], variant="weight_level"),
    ArchSpec("densenet", 7, variant="weight_level"),
]


@pytest.mark.parametrize("spec", TINY_OFFICIAL, ids=lambda s: s.family)
def test_magnitude_accepts_the_official_variants(spec: ArchSpec, tmp_path: Path) -> None:
    from pruning_lightning.formats.artifact import write_artifact

    arch = resolve(spec)
    art = prune(build_arch(arch, 10).eval(), arch, MagnitudePruner(0.5), None, base_epochs=10)
    out = write_artifact(art, tmp_path / "prune")
    sc = ScratchModule(arch, structure_from=str(out), num_classes=10)
    sc._load_tensors(load_artifact(out).structure, "structure")
    assert sc.net.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    if spec.family == "densenet":  # no channel selections: structured pruning says so in one line
        with pytest.raises(PruningError, match="slimming variant"):
            prune(build_arch(arch, 10).eval(), arch, UniformChannelPruner(0.5), None, base_epochs=10)


def test_l1_resnet_configs_detach_the_shortcut() -> None:
    for d in (56, 110):
        exp = yaml.safe_load((CONFIGS / f"experiments/cifar10_resnet{d}_l1.yaml").read_text())
        assert _arch(ROOT / exp["arch"]).options == {"detach_shortcut": True}
        for p in ("a", "b"):
            assert _arch(CONFIGS / f"arch/cifar/presets/resnet{d}_{p}.yaml").options == {"detach_shortcut": True}
    grads = []
    for path in ("arch/cifar/resnet56.yaml", "arch/cifar/resnet56_l1.yaml"):
        net = build_arch(_arch(CONFIGS / path), 10)
        # layer3[0] downsamples: its shortcut is the type-A pool + zero pad
        grads.append(shortcut_gradient(net.layer3[0], 32, 16))
    assert grads[0] > 0 and grads[1] == 0
