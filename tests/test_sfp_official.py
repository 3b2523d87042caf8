"""Soft Filter Pruning as its reference code runs it (arXiv 1810.05270 appendix (SFP); the Rethinking repo's
cifar/soft-filter-pruning): the stride-2 subsampling shortcut of its CIFAR ResNet, and the masked-full-network
Scratch-E/B (every conv's soft-pruned filters masked, the residual path included)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pruning_lightning.config import arch_from_yaml
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.models.resnet_cifar import BasicBlock
from pruning_lightning.models.spec import ArchSpec

ROOT = Path(__file__).resolve().parents[1]
SUB = ArchSpec("resnet_cifar", 8, 10, options={"subsample_shortcut": True})  # 1 block per stage


def test_subsample_shortcut_equals_a_reference_by_hand() -> None:
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    block = BasicBlock(3, 5, 2, stride=2, detach_shortcut=False, block_scale=False, subsample_shortcut=True)
    out = block.shortcut(x)
    expected = torch.zeros(2, 5, 2, 2)
    for n in range(2):
        for c in range(3):  # pixels (0,0), (0,2), (2,0), (2,2) of each input channel; channels 3, 4 are zero
            for i in range(2):
                for j in range(2):
                    expected[n, c, i, j] = x[n, c, 2 * i, 2 * j]
    assert torch.equal(out, expected)
    avg = BasicBlock(3, 5, 2, stride=2, detach_shortcut=False, block_scale=False).shortcut(x)
    assert avg[0, 0, 0, 0] == (0 + 1 + 4 + 5) / 4 and not torch.equal(avg, expected)  # the default averages 2x2


def test_subsample_network_differs_only_in_the_downsampling_shortcut() -> None:
    arch = resolve(SUB)
    torch.manual_seed(0)
    net = build_arch(arch).eval()
    plain = build_arch(resolve(SUB.replace(options={}))).eval()
    plain.load_state_dict(net.state_dict())  # no new parameter: the state dicts are interchangeable
    x = torch.randn(2, 3, 32, 32)
    seen: list[torch.Tensor] = []
    hook = net.layer2[0].register_forward_hook(lambda m, i, o: seen.append(i[0]))
    net(x)
    hook.remove()
    torch.testing.assert_close(net.layer2[0].shortcut(seen[0])[:, :16], seen[0][:, :, ::2, ::2])
    assert not torch.allclose(net(x), plain(x))


@pytest.mark.parametrize("depth", [20, 32, 56, 110])
def test_sfp_arch_configs_use_the_subsample_shortcut(depth: int) -> None:
    arch = arch_from_yaml((ROOT / f"configs/arch/cifar/resnet{depth}_sfp.yaml").read_text(), num_classes=10)
    assert arch.depth == depth and arch.options == {"subsample_shortcut": True}
    text = (ROOT / f"configs/experiments/cifar10_resnet{depth}_sfp.yaml").read_text()
    assert f"arch: configs/arch/cifar/resnet{depth}_sfp.yaml" in text
