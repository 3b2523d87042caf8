"""ThiNet: the fine-tune between layers, and the ImageNet VGG family (ThiNet-Conv / GAP are VGG-16 nets)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.artifact import load_artifact, write_artifact
from pruning_lightning.models import resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.modules import FineTuneModule, ScratchModule
from pruning_lightning.pruning import ThiNetPruner, prune, thinet
from pruning_lightning.pruning.surgery import channel_units
from tests.helpers import TINY_VGG, net_and_arch, pruned_net, with_updates

TWO_LAYERS = {f"features.conv{i}": 0.0 for i in range(3, 9)}  # prune conv1 and conv2 of TINY_VGG
IMNET_CFG: list[int | str] = [4, "M", 4, "M", 8, 8, "M", 8, 8, "M", 8, 8, "M"]
IMNET = {  # ThiNet-Conv's variant (VGG head, flattened 7x7 map), ThiNet-GAP's, Network Slimming's (BN head)
    "default": ArchSpec("vgg_imagenet", 11, cfg=IMNET_CFG),
    "gap": ArchSpec("vgg_imagenet", 11, variant="gap", cfg=IMNET_CFG[:-1]),
    "slimming": ArchSpec("vgg_imagenet", 11, variant="slimming", cfg=[*IMNET_CFG, 16, 16]),
}


def labelled(n: int = 32, side: int = 32, classes: int = 10) -> DataLoader:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(n, 3, side, side, generator=g)
    return DataLoader(TensorDataset(x, torch.randint(0, classes, (n,), generator=g)), batch_size=8)


def mean_loss(net: torch.nn.Module, data: DataLoader) -> float:
    with torch.no_grad():
        return sum(float(torch.nn.functional.cross_entropy(net(x), y)) * len(x) for x, y in data) / 32


def test_finetune_moves_later_layers_and_lowers_the_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    net, arch = net_and_arch(TINY_VGG)
    snaps: list[torch.Tensor] = []
    real = thinet.finetune

    def spy(work: torch.nn.Module, *a: object, **kw: object) -> float:
        loss = real(work, *a, **kw)  # type: ignore[arg-type]
        snaps.append(work.features.conv4.weight.detach().clone())
        return loss

    monkeypatch.setattr(thinet, "finetune", spy)
    kw = {"ratio": 0.5, "layer_ratios": TWO_LAYERS, "num_images": 16, "locations_per_image": 4, "finetune_lr": 0.05}
    tuned = prune(net, arch, ThiNetPruner(finetune_steps=8, **kw), labelled())
    assert len(snaps) == 2  # one fine-tune after each pruned layer
    before = net.features.conv4.weight.detach()
    assert not torch.equal(snaps[0], before) and not torch.equal(snaps[1], snaps[0])  # conv4 moves between layers
    torch.testing.assert_close(tuned.weights["features.conv4.weight"], snaps[1])  # the artifact inherits it
    again = prune(net, arch, ThiNetPruner(finetune_steps=8, **kw), labelled())  # deterministic
    for k, v in tuned.weights.items():
        assert torch.equal(v, again.weights[k]), k
    snaps.clear()
    plain = prune(net, arch, ThiNetPruner(finetune_steps=0, **kw), labelled())
    assert not snaps and torch.equal(plain.weights["features.conv4.weight"], before)
    assert mean_loss(pruned_net(tuned), labelled()) < mean_loss(pruned_net(plain), labelled())


def test_finetune_keeps_pruned_inputs_zero_and_equals_the_cut_net() -> None:
    net, arch = net_and_arch(TINY_VGG)
    pruner = ThiNetPruner(ratio=0.5, num_images=16, locations_per_image=4, finetune_steps=3, finetune_lr=0.05)
    plan = pruner.select(net, arch, labelled())
    conv2 = plan.weight_updates["features.conv2.weight"]
    removed = sorted(set(range(8)) - set(plan.channels["features.conv1"].tolist()))
    assert conv2[:, removed].abs().max() == 0
    art = prune(net, arch, pruner, labelled())
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(pruned_net(art)(x), with_updates(net, plan.weight_updates)(x), rtol=1e-4, atol=1e-5)


def test_default_is_one_epoch_and_bad_values() -> None:
    assert ThiNetPruner().finetune_steps is None and ThiNetPruner()._steps(labelled()) == 4  # len(loader)
    assert ThiNetPruner(finetune_steps=0)._steps(labelled()) == 0
    with pytest.raises(PruningError, match="finetune_steps"):
        ThiNetPruner(finetune_steps=-1)
    with pytest.raises(PruningError, match="finetune_lr"):
        ThiNetPruner(finetune_lr=0.0)
    net, arch = net_and_arch(TINY_VGG)
    images_only = DataLoader(TensorDataset(torch.randn(8, 3, 32, 32)), batch_size=8)
    with pytest.raises(PruningError, match="label"):
        ThiNetPruner(num_images=8, locations_per_image=2).select(net, arch, images_only)


@pytest.mark.parametrize("variant", sorted(IMNET))
def test_vgg_imagenet(tmp_path: Path, variant: str) -> None:
    net, arch = net_and_arch(IMNET[variant], 5)
    data = labelled(16, 64, 5)
    steps = 0 if variant == "default" else 1  # the default head is 4096 wide: keep the tiny test quick
    pruner = ThiNetPruner(ratio=0.5, num_images=16, locations_per_image=4, finetune_steps=steps)
    plan = pruner.select(net, arch, data)
    convs = [u for u in channel_units(net, arch) if u.conv is not None]
    assert {n: len(v) for n, v in plan.channels.items()} == {u.name: u.size // 2 for u in convs}
    if variant == "slimming":  # its hidden FC units are not convs: left intact, with a note
        assert any("classifier.fc1 feeds no single next layer" in n for n in plan.notes)
    art = prune(net, arch, pruner, data, base_epochs=10)
    n_conv_cfg = len(IMNET_CFG) - (variant == "gap")  # every conv keeps half; slimming's FC widths stay
    assert art.arch.cfg[:n_conv_cfg] == [c if c == "M" else int(c) // 2 for c in arch.cfg[:n_conv_cfg]]
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(pruned_net(art)(x), with_updates(net, plan.weight_updates)(x), rtol=1e-4, atol=1e-5)
    out = write_artifact(art, tmp_path / "prune")
    loaded = load_artifact(out)
    ft = FineTuneModule(resolve(loaded.arch), weights_from=str(out), num_classes=5)
    ft.on_artifact(loaded)
    sc = ScratchModule(resolve(loaded.arch), structure_from=str(out), num_classes=5)
    sc._load_tensors(loaded.structure, "structure")
    assert ft.net.eval()(x).shape == sc.net.eval()(x).shape == (2, 5)


def test_vgg_imagenet_dead_last_channel_is_dropped() -> None:
    """Channel 5 of the last conv reaches nothing (its 49 fc1 columns are zero): removed, outputs unchanged."""
    net, arch = net_and_arch(IMNET["default"])
    with torch.no_grad():
        net.classifier.fc1.weight[:, 5 * 49 : 6 * 49] = 0
    only_last = {u.name: 0.0 for u in channel_units(net, arch) if u.name != "features.conv8"}
    art = prune(
        net,
        arch,
        ThiNetPruner(1 / 8, only_last, num_images=16, locations_per_image=4, finetune_steps=0),
        labelled(16, 64, 5),
    )
    assert art.stats["kept"]["features.conv8"] == "7/8"
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(pruned_net(art)(x), net(x), rtol=1e-4, atol=1e-5)
