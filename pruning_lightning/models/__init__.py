"""Architecture registry: ``build_arch(spec, num_classes)`` is the only way code gets a network.

The families are the modules of this package (all but the shared ``registry``, ``spec`` and ``layers``),
imported below in sorted order; each registers itself (``register_arch``) on import. ``registry.py``
holds ``Family`` (what a family declares) and the checks derived from it. A new family is a new module
here and nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil

from pruning_lightning.models.registry import (
    ARCHS,
    Family,
    build_arch,
    classes_of,
    depth_repeats,
    get_family,
    input_size,
    known_families,
    register_arch,
    resolve,
)
from pruning_lightning.models.spec import ArchSpec

SHARED_MODULES = frozenset({"registry", "spec", "layers"})
"""The modules of this package that are not families."""

FAMILY_MODULES = tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in SHARED_MODULES))
"""The family modules, found in this package; importing each registers its family."""

for _name in FAMILY_MODULES:
    importlib.import_module(f"{__name__}.{_name}")

__all__ = [
    "ARCHS",
    "FAMILY_MODULES",
    "ArchSpec",
    "Family",
    "build_arch",
    "classes_of",
    "depth_repeats",
    "get_family",
    "input_size",
    "known_families",
    "register_arch",
    "resolve",
]
