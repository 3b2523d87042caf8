"""Layering (issue 14): family structure lives beside surgery; pruners never branch on the family.

Every module under ``pruning_lightning/pruning/`` except ``pruning/surgery/`` must neither read
``.family`` nor import a model family module (``pruning_lightning.models.<family>``). Checked on the
syntax tree, so docstrings and comments may still talk about families.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pruning_lightning

PACKAGE = Path(pruning_lightning.__file__).resolve().parent
PRUNING = PACKAGE / "pruning"
# Shared model modules (not families): the registry entry points and the spec are fine to import.
SHARED_MODELS = {"__init__", "spec", "layers", "registry"}
FAMILY_MODULES = {
    f"pruning_lightning.models.{p.stem}" for p in (PACKAGE / "models").glob("*.py") if p.stem not in SHARED_MODELS
}


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "family":
            found.append(f"line {node.lineno}: reads .family")
        elif isinstance(node, ast.Import):
            found += [f"line {node.lineno}: imports {a.name}" for a in node.names if a.name in FAMILY_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names = {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            found += [f"line {node.lineno}: imports {n}" for n in sorted(names & FAMILY_MODULES)]
    return found


def test_family_modules_are_found() -> None:
    assert {"pruning_lightning.models.vgg", "pruning_lightning.models.resnet_imagenet"} <= FAMILY_MODULES


def test_only_surgery_knows_the_families() -> None:
    modules = [p for p in sorted(PRUNING.rglob("*.py")) if "surgery" not in p.relative_to(PRUNING).parts]
    assert len(modules) > 10  # the pruners themselves are scanned
    bad = {str(p.relative_to(PACKAGE)): v for p in modules if (v := _violations(p))}
    assert not bad, f"family knowledge outside pruning/surgery/: {bad}"


def test_the_checker_catches_both_kinds(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text(
        '"""Docstrings may say arch.family."""\n'
        "from pruning_lightning.models import vgg\n"
        "import pruning_lightning.models.resnet_cifar\n"
        "from pruning_lightning.models.densenet import bn_widths\n"
        "from pruning_lightning.models import build_arch\n"
        "from pruning_lightning.models.spec import ArchSpec\n"
        "def f(arch):\n"
        "    return arch.family  # a comment: arch.family\n"
    )
    assert len(_violations(src)) == 4
