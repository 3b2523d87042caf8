"""ImageNet VGG (3x224x224 input), built from a cfg (arXiv 1810.05270 Tables 2-4; docs/protocol.md §7).

Variants (``spec.variant``):
    ``default``: torchvision VGG without BN (conv bias, ReLU, five pools), head
        ``Linear(512*7*7, 4096) -> ReLU -> Dropout -> Linear(4096, 4096) -> ReLU -> Dropout ->
        Linear(4096, classes)``. VGG-16: 138.36M params. ThiNet VGG-Conv and regression VGG-16-5x
        are this variant with narrower convs.
    ``bn``: the same with BatchNorm after every conv (torchvision ``vgg16_bn``, weight-level pruning).
    ``slimming``: Network Slimming's VGG-11-BN: conv bias + BN + ReLU, head
        ``Linear(c*7*7, f1) -> BN1d -> ReLU -> Linear(f1, f2) -> BN1d -> ReLU -> Linear(f2, classes)``,
        no dropout, BN gamma initialised to 0.5 (2d and 1d). VGG-11: 132.89M params.
    ``gap``: ThiNet's VGG-GAP / VGG-Tiny: no BN, no fifth pool, global average pooling, then a
        single ``Linear(cfg[-1], classes)``.

``cfg`` lists conv widths with ``"M"`` for a 2x2 max-pool, in torchvision's layout for ``depth``
(``default``/``bn``: ends with the fifth ``"M"``; ``gap``: without it). ``slimming`` appends the two
hidden FC widths: ``[c1, M, c2, M, c3, c4, M, c5, c6, M, c7, c8, M, f1, f2]`` for VGG-11.

Layer names are stable: ``features.conv{i}`` / ``features.bn{i}`` / ``features.relu{i}`` /
``features.pool{j}`` (the CIFAR VGG's ``make_layers`` and ``conv_names``, ``models/vgg.py``), and
``classifier.fc{k}`` (plus ``bn_fc{k}``, ``relu_fc{k}``, ``drop_fc{k}``).

Deviations from the reference code:
    * The reference flattens the 7x7 map directly, so it only accepts 224x224 inputs. Here a map of
      any other size is average-pooled to 7x7 first (torchvision's behaviour), inline so that
      FLOPs at 224x224 match the reference counter exactly. ``gap`` pools inline to 1x1, which
      equals the reference's ``AvgPool2d(14, 2)`` on its 14x14 map.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models.layers import init_he_fan_out
from pruning_lightning.models.registry import Family, ZooKeys, register_arch
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.models.vgg import conv_names as conv_names  # shared with the CIFAR VGG (and surgery)
from pruning_lightning.models.vgg import make_layers

CONV_CFGS: dict[int, list[int | str]] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
VARIANTS = ("default", "bn", "slimming", "gap")
HIDDEN = 4096  # torchvision's hidden FC width
SPATIAL = 7  # final map side at 224x224 input (five 2x2 pools)


def default_cfg(spec: ArchSpec) -> list[int | str]:
    """Unpruned widths for ``spec.depth`` in the layout of ``spec.variant``."""
    cfg = list(CONV_CFGS[spec.depth])
    if spec.variant == "gap":
        return cfg[:-1]
    if spec.variant == "slimming":
        return cfg + [HIDDEN, HIDDEN]
    return cfg


def split_cfg(cfg: list[int | str], variant: str) -> tuple[list[int | str], list[int]]:
    """``(conv cfg, hidden FC widths)``; the hidden widths are only in the cfg of ``slimming``."""
    if variant == "slimming":
        return list(cfg[:-2]), [int(c) for c in cfg[-2:]]
    if variant == "gap":
        return list(cfg), []
    return list(cfg), [HIDDEN, HIDDEN]


def make_head(in_features: int, hidden: list[int], num_classes: int, variant: str) -> nn.Sequential:
    """Per hidden width ``fc{k}`` [-> ``bn_fc{k}``] -> ``relu_fc{k}`` [-> ``drop_fc{k}``], then the output FC."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for k, width in enumerate(hidden, start=1):
        layers[f"fc{k}"] = nn.Linear(in_features, width)
        if variant == "slimming":
            layers[f"bn_fc{k}"] = nn.BatchNorm1d(width)
        layers[f"relu_fc{k}"] = nn.ReLU(inplace=True)
        if variant != "slimming":
            layers[f"drop_fc{k}"] = nn.Dropout(0.5)
        in_features = width
    layers[f"fc{len(hidden) + 1}"] = nn.Linear(in_features, num_classes)
    return nn.Sequential(layers)


class VGGImageNet(nn.Module):
    """ImageNet VGG (see module docstring)."""

    def __init__(self, cfg: list[int | str], num_classes: int, variant: str = "default") -> None:
        super().__init__()
        conv_cfg, hidden = split_cfg(cfg, variant)
        self.global_pool = variant == "gap"
        self.features = make_layers(conv_cfg, bias=True, batch_norm=variant in ("bn", "slimming"))
        last = int([c for c in conv_cfg if c != "M"][-1])
        in_features = last if self.global_pool else last * SPATIAL * SPATIAL
        self.classifier = make_head(in_features, hidden, num_classes, variant)
        # docs/protocol.md §4: He fan-out convs, N(0, 0.01) Linear; slimming starts every BN (2d and 1d) at 0.5.
        init_he_fan_out(self, bn_gamma=0.5 if variant == "slimming" else 1.0, linear_std=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        # Inline pooling (not counted in FLOPs, as in the reference counter).
        if self.global_pool:
            x = nn.functional.adaptive_avg_pool2d(x, 1)
        elif x.shape[-2:] != (SPATIAL, SPATIAL):
            x = nn.functional.adaptive_avg_pool2d(x, SPATIAL)
        return self.classifier(torch.flatten(x, 1))


def build(spec: ArchSpec, num_classes: int) -> nn.Module:
    """Build a checked ImageNet VGG."""
    return VGGImageNet(spec.cfg or default_cfg(spec), num_classes, spec.variant)


# Checks (registry): depth in CONV_CFGS, variant, no options, cfg in the layout of default_cfg, widths >= 1.
def zoo_name(spec: ArchSpec) -> str:
    """torchvision's builder of this VGG (``vgg16``, ``vgg16_bn``)."""
    if spec.variant not in ("default", "bn", "slimming"):
        raise PruningError(f"torchvision has no VGG like the {spec.variant!r} variant; use default, bn or slimming")
    return f"vgg{spec.depth}" + ("" if spec.variant == "default" else "_bn")


def zoo_keys(spec: ArchSpec) -> dict[str, str]:
    """torchvision -> ours: ``features.{i}`` (i-th module of its ``Sequential``) -> ``features.conv{j}`` /
    ``features.bn{j}``; ``classifier.{0,3,6}`` -> ``classifier.fc{1,2,3}``."""
    conv_cfg, _ = split_cfg(list(spec.cfg or []), spec.variant)
    bn = spec.variant in ("bn", "slimming")
    out, i, j = {}, 0, 0
    for c in conv_cfg:
        if c == "M":
            i += 1
            continue
        j += 1
        out[f"features.{i}."] = f"features.conv{j}."
        if bn:
            out[f"features.{i + 1}."] = f"features.bn{j}."
        i += 3 if bn else 2  # conv [BN] ReLU
    out.update({f"classifier.{t}.": f"classifier.fc{k}." for k, t in ((1, 0), (2, 3), (3, 6))})
    return out


FAMILY = register_arch(
    "vgg_imagenet",
    Family(
        build=build,
        default_cfg=default_cfg,
        input_size=(3, 224, 224),
        depths=tuple(CONV_CFGS),
        variants=VARIANTS,
        zoo=ZooKeys(name=zoo_name, key_map=zoo_keys),
        usual_classes=1000,  # ImageNet-1k
    ),
)
