"""Architecture registry: ``build_arch(spec)`` is the only way code gets a network.

The families are the modules imported below, each registering itself (``register_arch``) on import;
``registry.py`` holds ``Family`` (what a family declares) and the checks derived from it. A new
family is a new module here plus one name in that import.
"""

from __future__ import annotations

# The families, in the registry by importing them (each calls ``register_arch``).
from pruning_lightning.models import densenet, preresnet, resnet_cifar, resnet_imagenet, vgg, vgg_imagenet
from pruning_lightning.models.registry import (
    ARCHS,
    Family,
    build_arch,
    depth_repeats,
    get_family,
    input_size,
    known_families,
    register_arch,
    resolve,
)
from pruning_lightning.models.spec import ArchSpec

__all__ = [
    "ARCHS",
    "ArchSpec",
    "Family",
    "build_arch",
    "densenet",
    "depth_repeats",
    "get_family",
    "input_size",
    "known_families",
    "preresnet",
    "register_arch",
    "resnet_cifar",
    "resnet_imagenet",
    "resolve",
    "vgg",
    "vgg_imagenet",
]
