"""Architecture registry: ``build_arch(spec)`` is the only way code gets a network."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from pruning_lightning.errors import PruningError
from pruning_lightning.models.spec import ArchSpec, as_spec


@dataclass(frozen=True)
class Family:
    """What a model family registers.

    Attributes:
        build: ``spec -> nn.Module`` (validates the spec first).
        default_cfg: ``spec -> cfg`` of the unpruned network for ``spec.depth`` / ``spec.variant``.
        validate: raises ``PruningError`` on a malformed spec.
        input_size: (C, H, W) of one input image, used for FLOPs counting.
    """

    build: Callable[[ArchSpec], nn.Module]
    default_cfg: Callable[[ArchSpec], list[int | str]]
    validate: Callable[[ArchSpec], None]
    input_size: tuple[int, int, int] = (3, 32, 32)


ARCHS: dict[str, Family] = {}


def register_arch(name: str, family: Family) -> Family:
    """Register a family under ``name`` (called at import of each family module)."""
    ARCHS[name] = family
    return family


def known_families() -> list[str]:
    """Family names: each family lives in ``pruning_lightning/models/<name>.py``."""
    import pkgutil

    return sorted(i.name for i in pkgutil.iter_modules(__path__) if i.name not in _NOT_FAMILIES)


def get_family(name: str) -> Family:
    """Look a family up (importing its module on first use), with a helpful error listing the known ones."""
    if name not in ARCHS and name in known_families():
        import importlib

        importlib.import_module(f"{__name__}.{name}")
    if name not in ARCHS:
        raise PruningError(f"unknown architecture family {name!r}; known: {known_families()}")
    return ARCHS[name]


def resolve(spec: ArchSpec | dict) -> ArchSpec:
    """Validate ``spec`` and fill ``cfg`` with the family default when it is ``None``."""
    spec = as_spec(spec)
    fam = get_family(spec.family)
    fam.validate(spec)
    if spec.cfg is None:
        spec = spec.replace(cfg=fam.default_cfg(spec))
    return spec


def build_arch(spec: ArchSpec | dict) -> nn.Module:
    """Build the network described by ``spec`` (validated)."""
    spec = as_spec(spec)
    return get_family(spec.family).build(spec)


def input_size(spec: ArchSpec | dict) -> tuple[int, int, int]:
    """Per-image input shape used for FLOPs counting."""
    return get_family(as_spec(spec).family).input_size


_NOT_FAMILIES = ("spec", "layers")


__all__ = [
    "ARCHS",
    "ArchSpec",
    "Family",
    "build_arch",
    "get_family",
    "input_size",
    "known_families",
    "register_arch",
    "resolve",
]
