"""The configuration parsers built like the CLI's: every ``-c`` file's options are parsed by jsonargparse, here or
in the CLI, from the data of the one reader (:func:`~pruning_lightning.core.config_files.read_config`, through
:mod:`~pruning_lightning.cli.parser_mode`).

``fit``/``validate``/``test`` parse their files in the LightningCLI. The other commands and the pipeline
read what they need of the same files here, with a parser built like the CLI's (``model``: a
:class:`~pruning_lightning.modules.ClassificationModule`, ``data``: a ``LightningDataModule``), in the
CLI's order (later files win). The class count is not part of an architecture: it comes from the data module
alone; a ``model.init_args.num_classes`` written in an arch config (a preset, a prune artifact's ``arch.yaml``;
an old file's ``arch.num_classes`` is read as the same, see :mod:`~pruning_lightning.cli.parser_mode`) is a
claim checked against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jsonargparse import ActionYesNo, ArgumentParser, Namespace

from pruning_lightning.cli.parser_mode import ConfigFile, parser_mode
from pruning_lightning.core.config_files import LIGHTNING_KEYS
from pruning_lightning.core.errors import PruningError, condense

if TYPE_CHECKING:  # the models package imports torch: planning a pipeline or reading a report must not
    from pruning_lightning.models.spec import ArchSpec

ARCH = "model.init_args.arch"
CLASSES = "model.init_args.num_classes"  # beside the arch: a claim, checked against the data module


@lru_cache(maxsize=1)
def fit_parser() -> ArgumentParser:
    """Parser of fit-style files; the other top-level keys of a fit config are accepted, not read."""
    import lightning as L  # Lightning and the modules on use: reading a prune config needs neither

    from pruning_lightning.modules import ClassificationModule

    parser = ArgumentParser(exit_on_error=False, parser_mode=parser_mode())
    parser.add_argument("-c", "--config", action=ConfigFile)
    parser.add_subclass_arguments(ClassificationModule, "model", required=False)
    parser.add_subclass_arguments(L.LightningDataModule, "data", required=False)
    for key in sorted(LIGHTNING_KEYS - {"model", "data", "config"}):
        parser.add_argument(f"--{key}", type=Any, default=None)
    return parser


def _parse(parser: ArgumentParser, source: str, namespace: Namespace | None = None, text: bool = False) -> Namespace:
    """One ``-c`` file (``text``: YAML text) over ``namespace``, as written: no defaults, no required checks."""
    if not text and not Path(source).is_file() and not source.lstrip().startswith("{"):  # "{": inline, as -c takes
        raise PruningError(f"config file not found: {source}" + (" (it is a folder)" if Path(source).is_dir() else ""))
    try:  # ActionConfigFile reads each -c file so (defaults=False, _skip_validation=True); so do we
        if text:
            return parser.parse_string(source, defaults=False, _skip_validation=True)
        return parser.parse_args(["--config", source], namespace=namespace, defaults=False, _skip_validation=True)
    except PruningError:
        raise
    except Exception as e:  # ArgumentError: a bad key or value, YAML that is not a mapping
        raise PruningError(f"{'YAML' if text else source}: {condense(str(e))}") from None


def read(paths: Sequence[str], classes: dict[str, str | None] | None = None) -> list[tuple[str, Namespace]]:
    """Each file of ``paths`` with the configuration as written so far (merged in order, no defaults).

    ``classes``: the ``model``/``data`` class paths chosen before the files (the CLI's may come from the
    command line), so that a file may set only their ``init_args``.

    Raises:
        PruningError: a file is missing or does not parse (the message names it).
    """
    base = Namespace({k: Namespace(class_path=v) for k, v in (classes or {}).items() if v})
    steps: list[tuple[str, Namespace]] = []
    for path in map(str, paths):
        steps.append((path, _parse(fit_parser(), path, (steps[-1][1] if steps else base).clone())))
    return steps


def _arch(steps: list[tuple[str, Namespace]]) -> dict[str, Any] | None:
    arch: Any = steps[-1][1].get(ARCH) if steps else None
    arch = arch.as_dict() if hasattr(arch, "as_dict") else arch
    if arch is not None and not isinstance(arch, dict):
        where = next((p for p, ns in reversed(steps) if ns.get(ARCH) is not None), "the config files")
        raise PruningError(
            f"{ARCH} in {where} must be a mapping (family: ..., depth: ..., cfg: ...), got a {type(arch).__name__}"
        )
    return arch


def written_arch(paths: Sequence[str]) -> dict[str, Any] | None:
    """``model.init_args.arch`` as the files write it (later files win), or None."""
    return _arch(read(paths))


def claimed_num_classes(paths: Sequence[str], classes: dict[str, str | None] | None = None) -> tuple[int, str] | None:
    """``model.init_args.num_classes`` written in an arch config (a preset, an artifact's arch.yaml) and its file."""
    return _claim(read(paths, classes))


def _claim(steps: list[tuple[str, Namespace]]) -> tuple[int, str] | None:
    found, last = None, None
    for path, ns in steps:
        n = ns.get(CLASSES)
        if n is not None and n != last:
            found = (int(n), path)
        last = n
    return found


def check_claim(claimed: tuple[int, str] | None, data_classes: int, source: str = "the data module has") -> None:
    """An arch config's class count must be the data module's (``source``: where the count comes from)."""
    if claimed is not None and claimed[0] != data_classes:
        raise PruningError(
            f"{claimed[1]} describes a {claimed[0]}-class network but {source} {data_classes} classes; "
            "use a preset or artifact made for this dataset (or remove num_classes from a copy of the file)"
        )


def data_module(ns: Namespace) -> Any:
    """The data module a configuration describes, or None (its ``__init__`` is cheap: datasets load in ``setup``)."""
    if ns.get("data") is None:
        return None
    parser = fit_parser()
    try:
        return parser.instantiate_classes(parser.parse_object({"data": ns.data.as_dict()})).data
    except PruningError:
        raise
    except Exception as e:  # ArgumentError: a required data option is missing
        raise PruningError(condense(str(e))) from None


class UnknownClassCount(PruningError):
    """The files give no data module, or their data module cannot count its classes here (no data on disk)."""


def arch_of(paths: Sequence[str], declared: int | None = None) -> tuple[ArchSpec, int]:
    """The architecture that fit-style files describe, and the class count of their data module.

    Args:
        paths: data and arch configs (later files win).
        declared: a class count declared elsewhere (an experiment's ``num_classes``): it stands in when the
            files give no data module or the data module cannot count without its data (an ImageNet folder
            not present here), and must agree with the data module otherwise.

    Raises:
        UnknownClassCount: no data module, or one that cannot count here, and nothing declared.
        PruningError: no arch, or a class count that disagrees.
    """
    steps = read(paths)
    arch = _arch(steps)
    if arch is None:
        raise PruningError(f"no model.init_args.arch found in {list(paths)}")
    data = data_module(steps[-1][1])
    if data is None and declared is None:
        raise UnknownClassCount(
            f"{list(paths)} give no data module, so the class count is unknown; add a data config first, "
            "e.g. -c configs/data/cifar10.yaml (CIFAR-100: cifar100.yaml, ImageNet: imagenet.yaml)"
        )
    try:
        classes = getattr(data, "num_classes", None) if data is not None else declared
    except PruningError as e:  # e.g. ImageNet counts its class folders, absent here
        if declared is None:
            raise UnknownClassCount(str(e)) from None
        classes = declared
    if classes is None:
        raise PruningError(f"the data module {type(data).__name__} has no num_classes; the class count is unknown")
    if declared is not None and classes != declared:
        raise PruningError(f"num_classes {declared} is declared but the data module has {classes} classes")
    check_claim(_claim(steps), classes, "the data module has" if data is not None else "num_classes declares")
    from pruning_lightning.models.spec import ArchSpec  # torch: on use (see the import at the top)

    return ArchSpec.from_dict(arch), int(classes)


def arch_from_yaml(text: str, num_classes: int | None = None) -> ArchSpec:
    """The arch of ``model.init_args.arch`` YAML text (inverse of :meth:`ArchSpec.to_yaml`), as it is written.

    ``num_classes``: the class count it is used with; a count the text writes (beside the arch, or in an
    old text inside it) is a claim that must agree with it.
    """
    ns = _parse(fit_parser(), text, text=True)
    arch = _arch([("YAML", ns)])
    if arch is None:
        raise PruningError("no model.init_args.arch in the given YAML")
    written = ns.get(CLASSES)
    if num_classes is not None:
        check_claim((int(written), "the YAML") if written is not None else None, num_classes)
    from pruning_lightning.models.spec import ArchSpec  # torch: on use (see the import at the top)

    return ArchSpec.from_dict(arch)


def prune_ratio(path: str) -> float | None:
    """``pruner.init_args.ratio`` of a prune config (read by the ``prune`` command's parser), if it has one."""
    ratio = _parse(_cached_prune_parser(), path).get("pruner.init_args.ratio")
    return float(ratio) if isinstance(ratio, (int, float)) and not isinstance(ratio, bool) else None


def prune_parser() -> ArgumentParser:
    """The ``prune`` stage's options (a prune config file holds any of them)."""
    import lightning as L  # on use: reading a file must not pay for Lightning's import

    from pruning_lightning.pruning.base import Pruner

    parser = ArgumentParser(
        prog="pruning-lightning prune",
        description="large checkpoint -> pruner -> artifact directory",
        allow_abbrev=False,
        parser_mode=parser_mode(),
    )
    parser.add_argument("-c", "--config", action=ConfigFile, help="YAML with any of the options below")
    parser.add_argument(
        "--ckpt",
        type=str,
        required=True,
        help="checkpoint of the trained large model (the paper prunes the final one: last.ckpt)",
    )
    parser.add_argument("--out", type=str, required=True, help="artifact directory to create")
    parser.add_subclass_arguments(Pruner, "pruner", required=True, help="pruning method (class_path + init_args)")
    parser.add_argument("--base_epochs", type=int, required=True, help="large model's epochs (Scratch-B base)")
    parser.add_argument("--max_ratio", type=float | None, default=None, help="Scratch-B FLOPs-ratio cap (ImageNet 2.0)")
    parser.add_argument(
        "--overwrite", action=ActionYesNo, nargs="?", default=False, help="replace an existing --out (a switch)"
    )
    parser.add_subclass_arguments(L.LightningDataModule, "data", required=False, help="data for ThiNet / regression")
    return parser


@lru_cache(maxsize=1)
def _cached_prune_parser() -> ArgumentParser:
    parser = prune_parser()
    parser.exit_on_error = False
    return parser
