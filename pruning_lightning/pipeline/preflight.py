"""Check a whole experiment before its first stage trains.

A typo in a prune-config path, a bad value in a regime config or a wrong flag in ``args`` should cost
seconds, not the hours of the large model that trains before the stage that would notice it. So
:func:`preflight`, before anything runs:

* checks that every file the experiment names exists, is valid YAML and holds a mapping;
* plans every stage (dependencies, regimes, epochs) and parses the configuration of every stage of
  the first seed through the real parsers (the other seeds differ only in seed and folders): fit and
  test stages through the LightningCLI parser (:class:`~pruning_lightning.cli.lightning_cli.PruningCLI`, which
  checks values; files a previous stage will write, such as ``{artifact}/arch.yaml``, are left out), prune stages
  through the ``prune`` parser with the pruner built (a bad ratio is refused), preset and guided stages
  through the ``arch`` parser;
* releases a run folder whose stages never started (no checkpoint, artifact or result in it) from
  the experiment recorded there, so the corrected experiment can use it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from pruning_lightning.core.config_files import check_options, read_config
from pruning_lightning.core.errors import PruningError, condense
from pruning_lightning.formats.run_dir import RunDir
from pruning_lightning.pipeline.paths import resolve_path
from pruning_lightning.pipeline.plan import Stage, plan
from pruning_lightning.pipeline.schema import Experiment


class _Parsed(Exception):
    """Raised once a configuration has parsed and passed the checks: nothing is instantiated."""


def check_files(exp: Experiment) -> None:
    """Every referenced config file exists, is valid YAML and holds a mapping."""
    where = f"experiment {exp.source}" if exp.source else f"experiment {exp.name!r}"
    for f in dict.fromkeys(referenced_files(exp)):
        path = resolve_path(f)
        if not Path(path).is_file():
            raise PruningError(f"{where} names {f}, which does not exist; fix the path in the experiment file")
        try:
            check_options(read_config(path), path)  # the reader keeps the data: the parses below reuse it
        except PruningError as e:
            raise PruningError(f"{where}: {e}") from None


def _parse_fit(exp: Experiment, st: Stage, hardware: bool) -> None:
    # Lightning, the CLI and the modules are imported on use: `pipeline --dry-run` and `report` stay light.
    import lightning as L

    from pruning_lightning.cli.lightning_cli import PruningCLI
    from pruning_lightning.core import console_once
    from pruning_lightning.modules import ClassificationModule

    class ParseOnly(PruningCLI):
        check_hardware = hardware
        check_outputs = False  # a stage folder with an interrupted run is resumed by the runner

        def before_instantiate_classes(self) -> None:
            super().before_instantiate_classes()
            raise _Parsed

    warnings.filterwarnings("ignore", message=".*args parameter is intended.*")
    console_once.install()  # its seeding says "Seed set to" once, not once per stage
    args: list[str] = []
    it = iter(st.args)
    for a in it:
        if a == "--config":
            c = next(it)
            if not Path(c).exists() and exp.root.resolve() in Path(c).resolve().parents:
                continue  # written by an earlier stage (the prune artifact): checked when that stage ran
            args += [a, c]
        else:
            args.append(a)
    try:
        ParseOnly(
            ClassificationModule,
            L.LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            args=args,
            save_config_kwargs={"overwrite": True},
            auto_configure_optimizers=False,
            parser_kwargs={"exit_on_error": False, "allow_abbrev": False, "fit": {"allow_abbrev": False}},
        )
    except _Parsed:
        return
    except PruningError as e:
        raise PruningError(f"stage {st.key}: {e}") from None
    except Exception as e:  # ArgumentError from jsonargparse
        raise PruningError(f"stage {st.key}: {condense(str(e))}") from None


def _parse_prune(st: Stage) -> None:
    from pruning_lightning.cli.config import prune_parser  # imports Lightning: on use (start-up time)

    parser = prune_parser()
    parser.exit_on_error = False
    try:
        cfg = parser.parse_args(st.args[1:])
        init = parser.instantiate_classes(cfg)
        del init
    except PruningError as e:
        raise PruningError(f"stage {st.key}: {e}") from None
    except Exception as e:
        raise PruningError(f"stage {st.key}: {condense(str(e))}") from None


def _parse_arch(st: Stage) -> None:
    from pruning_lightning.stages.architecture import build_parser  # on use (start-up time)

    try:
        build_parser().parse_args(st.args[1:])
    except Exception as e:
        raise PruningError(f"stage {st.key}: {condense(str(e))}") from None


def release_unstarted(exp: Experiment, echo=print) -> None:  # noqa: ANN001
    """Forget the experiment recorded in a run folder where no stage has produced anything yet."""
    if RunDir(exp.root).release_unstarted(exp):  # work done there: kept, and the runner refuses the other experiment
        echo(f"[pipeline] {exp.root}: no stage had started; it now records the corrected experiment {exp.name!r}")


def preflight(exp: Experiment, only: list[str] | None = None, hardware: bool = True, echo=print) -> None:  # noqa: ANN001
    """Validate the whole experiment (see the module docstring); raises :class:`PruningError`.

    ``hardware=False``: do not check that the configured accelerator exists here (Slurm submissions).
    """
    check_files(exp)
    stages = plan(exp)
    for st in stages:
        if st.done() or (st.key not in only if only else st.seed != exp.seeds[0]):
            continue
        if st.kind == "fit":
            _parse_fit(exp, st, hardware)
        elif st.kind == "prune":
            _parse_prune(st)
        elif st.kind in ("preset", "guided"):
            _parse_arch(st)
    release_unstarted(exp, echo)


def referenced_files(exp: Experiment) -> list[str]:
    """Every config file the experiment names (placeholders like ``{artifact}`` excluded)."""
    files = [*exp.data, *exp.arch]
    if exp.large:
        files += exp.large.configs
    for m in exp.methods:
        files += [p for p in (m.prune, m.preset) if p]
        files += list(m.large.configs) if m.large else []
    for r in exp.regimes.values():
        files += [c for c in r.configs if "{" not in c]
    return files
