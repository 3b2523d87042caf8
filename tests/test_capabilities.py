"""Which method applies to which family: today's support matrix, pinned as data."""

from __future__ import annotations

from pruning_lightning.models.registry import ARCHS
from pruning_lightning.pruning import PRUNERS

# The (method, family) pairs supported, as measured before support was derived from needs/provides.
SUPPORTED = {
    "l1_norm": {"vgg", "resnet_cifar", "resnet_imagenet"},
    "magnitude": {"vgg", "vgg_imagenet", "resnet_cifar", "resnet_imagenet", "preresnet", "densenet"},
    "regression": {"vgg", "resnet_cifar", "resnet_imagenet"},
    "sfp": {"vgg", "resnet_cifar", "resnet_imagenet"},
    "slimming": {"vgg", "vgg_imagenet", "preresnet", "densenet"},
    "sss": {"resnet_cifar", "resnet_imagenet"},
    "thinet": {"vgg", "vgg_imagenet", "resnet_cifar", "resnet_imagenet"},
    "uniform_channel": {"vgg", "vgg_imagenet", "resnet_cifar", "resnet_imagenet", "preresnet", "densenet"},
    "uniform_sparsity": {"vgg", "vgg_imagenet", "resnet_cifar", "resnet_imagenet", "preresnet", "densenet"},
}


def test_support_matrix_is_pinned() -> None:
    derived = {(m, f) for m, cls in PRUNERS.items() for f in ARCHS if f in cls.supports}
    assert derived == {(m, f) for m, families in SUPPORTED.items() for f in families}
