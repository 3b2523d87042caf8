"""Family names live in the models and in the surgery descriptions only (issue 23).

Everywhere else in ``pruning_lightning/`` code asks what a family's structure provides
(``surgery.family_provides``, the registry's ``Family``) instead of naming families. Checked on the
syntax tree: a string constant equal to a family name (docstrings and comments may still talk
about families).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pruning_lightning
from pruning_lightning.models.registry import ARCHS

PACKAGE = Path(pruning_lightning.__file__).resolve().parent
ALLOWED = ("models/", "pruning/surgery/")
FAMILY_NAMES = {"vgg", "resnet_cifar", "resnet_imagenet", "preresnet", "densenet", "vgg_imagenet", "wide_resnet"}

# Known exceptions: each file -> the family names it still spells out, and why.
KNOWN = {
    # The command line's --family default (the families it accepts come from Capability.STAGE_WIDTHS).
    "stages/guided.py": {"vgg"},
    # Display names of the families in figure labels (parsed from experiment names).
    "pipeline/plot_labels.py": {"vgg", "preresnet", "densenet"},
}


def _family_literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in FAMILY_NAMES}


def test_the_names_checked_are_the_registry() -> None:
    assert set(ARCHS) == FAMILY_NAMES


def test_no_family_name_literals_outside_models_and_surgery() -> None:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if not rel.startswith(ALLOWED) and (names := _family_literals(path)):
            found[rel] = names
    assert found == KNOWN, "name what the code needs from the structure (a capability), not a family"
