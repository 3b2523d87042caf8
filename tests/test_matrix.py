"""Every pruning method x every family: a valid artifact that the regimes accept, or the clear
"does not support" error. This is the measured status behind the support table (docs/support.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from pruning_lightning.core.errors import PruningError
from pruning_lightning.data import RandomImageDataModule
from pruning_lightning.formats.artifact import load_artifact, write_artifact
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.modules import FineTuneModule, ScratchModule
from pruning_lightning.pruning import PRUNERS, Pruner, prune
from pruning_lightning.pruning.surgery import family_provides
from tests.helpers import TINY_FAMILIES as FAMILIES
from tests.helpers import TINY_VGG

# Every family, plus variants that carry extra tensors through surgery (the weight-level VGG's conv biases).
CASES = {**FAMILIES, "vgg-weight_level": (TINY_VGG.replace(variant="weight_level"), 32)}

STAGES = {"vgg": 5, "resnet_cifar": 3, "resnet_imagenet": 4}


def make_pruner(method: str, family: str) -> Pruner:
    cls = PRUNERS[method]
    if method == "l1_norm":
        return cls(stage_ratios=(0.5,) * STAGES.get(family, 3))
    if method in ("thinet", "regression"):
        return cls(ratio=0.5, num_images=16, locations_per_image=4, batch_size=8)
    if method == "sss":
        return cls()
    return cls(0.5)


def _randomise(net: nn.Module) -> None:
    g = torch.Generator().manual_seed(0)
    for name, p in net.named_parameters():
        if name.endswith("scale") and p.dim() == 0:
            continue
        if p.dim() == 1 and "bn" in name and name.endswith("weight"):
            p.data = torch.rand(p.shape, generator=g) + 0.05
    # SSS: zero every other block scale so that blocks can be removed.
    scales = [p for n, p in net.named_parameters() if n.endswith(".scale")]
    for p in scales[1::2]:
        p.data.zero_()


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("method", sorted(PRUNERS))
def test_method_family(tmp_path: Path, method: str, case: str) -> None:
    spec, size = CASES[case]
    family = spec.family
    if (method, family) == ("l1_norm", "resnet_imagenet"):  # Li et al. prune basic-block ResNets (34)
        spec = spec.replace(depth=34)
    arch = resolve(spec)
    net = build_arch(arch, 10).eval()
    _randomise(net)
    pruner = make_pruner(method, family)
    data = None
    if pruner.needs_data:
        dm = RandomImageDataModule(num_samples=16, image_size=size, batch_size=8)
        dm.setup()
        data = dm.train_dataloader()
    if not pruner.needs <= family_provides(family):
        with pytest.raises(PruningError, match="does not support family"):
            prune(net, arch, pruner, data)
        return
    art = prune(net, arch, pruner, data, base_epochs=10)
    assert art.stats["flops_after"] < art.stats["flops_before"]
    assert art.stats["scratch_b_epochs"] >= 10
    out = write_artifact(art, tmp_path / "prune")
    loaded = load_artifact(out)
    # Both downstream regimes accept the artifact: fine-tune inherits the weights exactly.
    ft = FineTuneModule(resolve(loaded.arch), weights_from=str(out), num_classes=10)
    ft.on_artifact(loaded)
    state = ft.net.state_dict()
    for k, v in loaded.weights.items():
        torch.testing.assert_close(state[k], v)
    sc = ScratchModule(resolve(loaded.arch), structure_from=str(out), num_classes=10)
    sc._load_tensors(loaded.structure, "structure")
    x = torch.randn(2, 3, size, size)
    assert ft.net.eval()(x).shape == sc.net.eval()(x).shape == (2, 10)
