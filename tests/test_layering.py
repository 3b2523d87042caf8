"""Layering (issue 14): family structure lives beside surgery, pruners never branch on the family,
imports go downwards through the layers of docs/architecture.md, and no modules import each other.

Every module under ``pruning_lightning/pruning/`` except ``pruning/surgery/`` must neither read
``.family`` nor import a model family module (``pruning_lightning.models.<family>``). Checked on the
syntax tree, so docstrings and comments may still talk about families.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pruning_lightning
from pruning_lightning.models.registry import ARCHS

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


def test_deploy_simplification_knows_no_family() -> None:
    """Issue 20: export simplifies by module type and data flow, never by family name."""
    modules = sorted((PACKAGE / "deploy").rglob("*.py"))
    assert any(p.name == "simplify.py" for p in modules)
    bad = {str(p.relative_to(PACKAGE)): v for p in modules if (v := _violations(p))}
    assert not bad, f"family knowledge in pruning_lightning/deploy/: {bad}"
    for p in modules:  # nor a family name as a string to compare against
        strings = {n.value for n in ast.walk(ast.parse(p.read_text())) if isinstance(n, ast.Constant)}
        assert not strings & set(ARCHS), p


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


# --- the package's layers: imports go downwards only, and no module imports itself back -----------------

# Lower number = lower layer. A module may import its own layer and the layers below. Every entry is a
# folder (a subpackage), except the console entry points at the root and one old import path.
LAYERS: dict[str, int] = {
    "core": 0,
    "utils": 0,
    "models": 1,
    "data": 1,
    "formats": 1,
    "pruning": 2,
    "deploy": 2,
    "modules": 3,
    "callbacks": 3,
    "training": 3,
    "loggers": 3,  # pruning_lightning/loggers.py: the old class path that saved config.yaml files name
    "cli": 4,
    "stages": 5,
    "pipeline": 6,
    "commands": 7,
    "main": 8,
    "__main__": 8,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _target(name: str) -> str | None:
    """The package module that ``import name`` loads (the longest known prefix)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(path: Path) -> list[tuple[str, int]]:
    """Modules of the package imported anywhere in ``path`` (function-local too), except under TYPE_CHECKING."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out += [(t, node.lineno) for n in names if n.startswith("pruning_lightning") and (t := _target(n))]
    return out


def _layer(module: str) -> int:
    return LAYERS[module.split(".")[1]]


GRAPH = {m: {t for t, _ in _imports(p) if t != m and not m.startswith(t + ".")} for m, p in MODULES.items()}


def test_every_top_level_module_has_a_layer() -> None:
    assert {m.split(".")[1] for m in MODULES if m != "pruning_lightning"} <= set(LAYERS)


def test_the_root_holds_only_the_entry_points() -> None:
    """Every other module sits in the folder of its layer (issue 23)."""
    assert {p.stem for p in PACKAGE.glob("*.py")} == {"__init__", "__main__", "main", "loggers"}


def test_imports_go_downwards() -> None:
    up = [
        f"{m}:{line} imports {t}"
        for m, p in MODULES.items()
        if m != "pruning_lightning"
        for t, line in _imports(p)
        if t != "pruning_lightning" and _layer(t) > _layer(m)
    ]
    assert not up, "upward imports:\n" + "\n".join(up)


def test_pipeline_never_imports_commands() -> None:
    bad = sorted(f"{m} -> {t}" for m, ts in GRAPH.items() if ".pipeline" in m for t in ts if ".commands" in t)
    assert not bad


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    assert not _cycles(GRAPH)


def test_the_cycle_finder_finds_one() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_light_commands_do_not_import_torch() -> None:
    # The function-local imports that remain are there for this: `report`, `pipeline --dry-run`, `--help`
    # and error messages start without torch or Lightning (~2 s each on a small machine).
    import subprocess
    import sys

    code = (
        "import sys; import pruning_lightning.main, pruning_lightning.commands.report, "
        "pruning_lightning.commands.pipeline, pruning_lightning.commands.findings, "
        "pruning_lightning.pipeline.runner, pruning_lightning.cli.config; "
        "print(sorted(m for m in ('torch', 'lightning') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
