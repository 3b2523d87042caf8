"""A family is found from its own files (issue 23 §1): ``models/__init__.py`` imports every family module of
the package and ``pruning/surgery/__init__.py`` collects every surgery module, so adding a family edits
neither."""

from __future__ import annotations

import ast
from pathlib import Path

import pruning_lightning
from pruning_lightning.models import FAMILY_MODULES
from pruning_lightning.models.registry import ARCHS
from pruning_lightning.pruning.surgery import SURGERY, FamilySurgery

PACKAGE = Path(pruning_lightning.__file__).resolve().parent
# Families known to have a model module and a surgery module of their own name.
FAMILIES = {"densenet", "preresnet", "resnet_cifar", "resnet_imagenet", "vgg", "vgg_imagenet"}


def _modules(folder: str) -> set[str]:
    return {p.stem for p in (PACKAGE / folder).glob("*.py") if p.stem != "__init__"}


def test_every_family_module_is_registered_under_its_name() -> None:
    assert FAMILIES <= set(FAMILY_MODULES) == set(ARCHS)
    assert list(FAMILY_MODULES) == sorted(FAMILY_MODULES)  # a fixed import order
    assert set(FAMILY_MODULES) == _modules("models") - {"registry", "spec", "layers"}


def test_every_surgery_module_is_found() -> None:
    # Every module of the package but the shared helpers is the surgery of the family it is named after.
    assert FAMILIES <= set(SURGERY) == _modules("pruning/surgery") - {"structure", "slicing"}
    assert set(SURGERY) <= set(ARCHS)
    assert list(SURGERY) == sorted(SURGERY)
    assert all(isinstance(s, FamilySurgery) for s in SURGERY.values())


def test_the_package_inits_name_no_family() -> None:
    """Neither ``__init__`` lists the families (no import, no string): they are found, not named."""
    for init in ("models/__init__.py", "pruning/surgery/__init__.py"):
        tree = ast.parse((PACKAGE / init).read_text())
        names = {a.name.rpartition(".")[2] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        names |= {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        assert not names & set(ARCHS), init
