"""Shared by test modules: tiny architectures of every family, small nets and loaders, exact state comparison."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, TensorDataset

from pruning_lightning.models import build_arch, resolve
from pruning_lightning.models.spec import ArchSpec

# One small spec per family (torchvision's `_model_params` idea): fast enough for every test.
TINY_VGG = ArchSpec("vgg", 11, cfg=[8, "M", 16, "M", 16, 16, "M", 32, 32, "M", 32, 32])
TINY_VGG_L1 = TINY_VGG.replace(variant="l1")
TINY_ARCHS = [TINY_VGG, TINY_VGG_L1]

# A tiny network of every family, with the image size it is tested at.
TINY_FAMILIES: dict[str, tuple[ArchSpec, int]] = {
    "vgg": (TINY_VGG, 32),
    "resnet_cifar": (ArchSpec("resnet_cifar", 8, options={"block_scale": True}), 32),
    "preresnet": (ArchSpec("preresnet", 11), 32),
    "densenet": (ArchSpec("densenet", 7), 32),
    "vgg_imagenet": (
        ArchSpec(
            "vgg_imagenet",
            11,
            variant="slimming",
            cfg=[4, "M", 4, "M", 8, 8, "M", 8, 8, "M", 8, 8, "M", 16, 16],
        ),
        64,
    ),
    "resnet_imagenet": (
        ArchSpec("resnet_imagenet", 50, options={"base_width": 4, "block_scale": True}),
        64,
    ),
    "wide_resnet": (ArchSpec("wide_resnet", 10, options={"widen": 2}), 32),
}

ONLY_CONV1 = {f"features.conv{i}": 0.0 for i in range(2, 9)}  # TINY_VGG has 8 convs


def loader(n: int = 32, side: int = 32) -> DataLoader:
    g = torch.Generator().manual_seed(1)
    return DataLoader(
        TensorDataset(torch.randn(n, 3, side, side, generator=g), torch.zeros(n, dtype=torch.long)), batch_size=16
    )


def net_and_arch(spec: ArchSpec, num_classes: int = 10) -> tuple[torch.nn.Module, ArchSpec]:
    arch = resolve(spec)
    torch.manual_seed(0)
    return build_arch(arch, num_classes).eval(), arch


def pruned_net(art: object) -> torch.nn.Module:
    net = build_arch(art.arch, art.num_classes).eval()  # type: ignore[attr-defined]
    net.load_state_dict(art.weights)  # type: ignore[attr-defined]
    return net


def with_updates(net: torch.nn.Module, updates: dict[str, torch.Tensor]) -> torch.nn.Module:
    ref = copy.deepcopy(net)
    state = ref.state_dict()
    for k, v in updates.items():
        state[k].copy_(v)
    return ref


def load_ckpt(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_same_state(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Every tensor of the network and of the optimiser state is bit-identical."""
    assert (a["epoch"], a["global_step"]) == (b["epoch"], b["global_step"])
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    sa, sb = a["optimizer_states"][0]["state"], b["optimizer_states"][0]["state"]
    assert sa.keys() == sb.keys()
    for i in sa:
        for name, v in sa[i].items():
            assert torch.equal(v, sb[i][name]) if isinstance(v, torch.Tensor) else v == sb[i][name], (i, name)
    assert a["lr_schedulers"] == b["lr_schedulers"]


def shortcut_gradient(block: torch.nn.Module, channels: int, side: int) -> float:
    """|d out / d x| summed, with the residual branch silenced (last BN zeroed): what the shortcut carries."""
    with torch.no_grad():
        block.bn2.weight.zero_()
        block.bn2.bias.zero_()
    x = torch.rand(1, channels, side, side, requires_grad=True)
    block(x).sum().backward()
    assert x.grad is not None
    return x.grad.abs().sum().item()
