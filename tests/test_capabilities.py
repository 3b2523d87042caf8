"""Which method applies to which family: today's support matrix, pinned as data, derived from what
each method needs and each family's structure provides (and the declared capabilities checked
against the structure they describe)."""

from __future__ import annotations

import re

import pytest
from torch import nn

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.models.layers import ChannelSelection
from pruning_lightning.models.registry import ARCHS
from pruning_lightning.pruning import PRUNERS
from pruning_lightning.pruning.surgery import SURGERY, Capability, check_supported, family_provides
from tests.helpers import TINY_FAMILIES

# The (method, family) pairs supported, as measured before support was derived from needs/provides.
EVERY = {"vgg", "vgg_imagenet", "resnet_cifar", "resnet_imagenet", "preresnet", "densenet", "wide_resnet"}
SUPPORTED = {
    "l1_norm": {"vgg", "resnet_cifar", "resnet_imagenet"},
    "magnitude": EVERY,
    "regression": {"vgg", "resnet_cifar", "resnet_imagenet", "wide_resnet"},
    "sfp": {"vgg", "resnet_cifar", "resnet_imagenet", "wide_resnet"},
    "slimming": {"vgg", "vgg_imagenet", "preresnet", "densenet"},
    "sss": {"resnet_cifar", "resnet_imagenet"},
    "thinet": {"vgg", "vgg_imagenet", "resnet_cifar", "resnet_imagenet", "wide_resnet"},
    "uniform_channel": EVERY,
    "uniform_sparsity": EVERY,
}


def test_support_is_derived_from_needs_and_provides() -> None:
    derived = {(m, f) for m, cls in PRUNERS.items() for f in ARCHS if cls.needs <= family_provides(f)}
    assert derived == {(m, f) for m, families in SUPPORTED.items() for f in families}
    assert all(set(cls.needs) <= set(Capability) for cls in PRUNERS.values())


def test_unsupported_error_names_the_missing_capability() -> None:
    arch = resolve(TINY_FAMILIES["resnet_cifar"][0])
    want = (
        "method 'slimming' does not support family 'resnet_cifar': "
        "it needs bn_covers_network, which resnet_cifar does not provide"
    )
    with pytest.raises(PruningError, match=re.escape(want) + "$"):
        check_supported(arch, "slimming", PRUNERS["slimming"].needs)


@pytest.mark.parametrize("family", sorted(TINY_FAMILIES))
def test_declared_capabilities_hold_for_the_structure(family: str) -> None:
    """Each declared capability is a true statement about the family's (tiny) structure, and vice versa."""
    spec = TINY_FAMILIES[family][0]
    if family == "resnet_imagenet":  # Li et al. number basic-block ResNets only
        spec = spec.replace(depth=34)
    arch = resolve(spec)
    net = build_arch(arch, 10)
    surgery, provides = SURGERY[family], family_provides(family)
    units = surgery.units(net, arch)
    modules = dict(net.named_modules())
    assert Capability.WEIGHTS in provides and Capability.CHANNEL_UNITS in provides
    assert (Capability.RESIDUAL_BLOCKS in provides) == (surgery.residual_blocks is not None)
    numbered = surgery.num_stages is not None and all(u.layer_id is None or u.stage for u in units)
    assert (Capability.NUMBERED_UNITS in provides) == (numbered and any(u.layer_id is not None for u in units))
    assert (Capability.CONV_FILTERS in provides) == all(u.conv is not None for u in units)
    sliced = not any(isinstance(m, ChannelSelection) for m in modules.values())
    consumers = all(u.consumer is not None for u in units if u.conv is not None)
    assert (Capability.UNIT_CONSUMERS in provides) == (sliced and consumers)
    widths = [_in_width(modules[u.consumer]) == u.size for u in units if u.consumer is not None]
    assert (Capability.CHANNELWISE_CONSUMERS in provides) == all(widths)
    cfg_stages = [[int(c) for c in g.split(",") if c] for g in ",".join(map(str, arch.cfg or [])).split("M")]
    unit_stages = [[u.size for u in units if u.stage == s] for s in range(1, 1 + max((u.stage or 0) for u in units))]
    staged = bool(unit_stages) and all(u.stage for u in units) and [g for g in cfg_stages if g] == unit_stages
    assert (Capability.STAGE_WIDTHS in provides) == staged
    bns = {n for n, m in modules.items() if isinstance(m, nn.BatchNorm2d)}
    assert (Capability.BN_COVERS_NETWORK in provides) == (bns <= {u.bn for u in units})


def _in_width(layer: nn.Module) -> int:
    return int(layer.in_channels if isinstance(layer, nn.Conv2d) else layer.in_features)
