"""Console entry point: ``pruning-lightning COMMAND ...``.

Two kinds of command:

* the **stages** ``fit``/``validate``/``test`` (LightningCLI), ``prune`` and ``zoo``: dispatched by
  :func:`pruning_lightning.stages.run_stage`, the same function the pipeline calls for each planned stage;
* the **tools** ``info``, ``export``, ``demo``, ``pipeline``, ``report`` and ``findings``
  (``pruning_lightning/commands/``).

Every user-facing error is one ``error:`` line on stderr, at most one ``hint:`` line and exit status 2
(:mod:`pruning_lightning.cli_errors`); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
import warnings
from importlib import import_module

from pruning_lightning import console_once
from pruning_lightning.cli_errors import (
    SUMMARIES,
    check_argv,
    describe,
    strip_debug,
    summary_help,
)
from pruning_lightning.cli_guard import guarded_outputs

COMMANDS = ("info", "export", "demo", "pipeline", "report", "findings")


def version() -> str:
    """The installed package's version (``pyproject.toml``)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("pruning-lightning")
    except PackageNotFoundError:  # run from a source tree without an install
        return "unknown (not installed)"


def canonical_options(argv: list[str]) -> list[str]:
    """Options are spelt with underscores (``--base_epochs``, ``--dry_run``, as Lightning's ``--trainer.max_epochs``);
    dashes are accepted as an alias: ``--dry-run`` is ``--dry_run``. Values and ``--x=value`` values stay as given."""
    out = []
    for a in argv:
        if a.startswith("--") and len(a) > 2:
            name, eq, value = a[2:].partition("=")
            a = "--" + name.replace("-", "_") + eq + value
        out.append(a)
    return out


def main(argv: list[str] | None = None) -> None:
    """Run one command; a bad input is one ``error:`` line (+ at most one ``hint:``), exit status 2."""
    os.environ.setdefault("WANDB_SILENT", "true")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    console_once.install(warnings_too=True)
    argv, debug = strip_debug(list(sys.argv[1:] if argv is None else argv), os.environ)
    if argv[:1] in (["--version"], ["-V"]):
        print(f"pruning-lightning {version()}")
        return
    argv = canonical_options(argv)
    if summary_help(argv):
        return
    command = argv[0] if argv and argv[0] in SUMMARIES else ""
    try:
        check_argv(argv)
        if command in COMMANDS:
            # Imported on use: `report` or `info` need not pay for Lightning's import.
            import_module(f"pruning_lightning.commands.{command}").main(argv[1:])
        else:
            from pruning_lightning.stages import run_stage  # imports Lightning: only when a stage runs

            with guarded_outputs():
                run_stage(argv, exit_on_error=False)
    except Exception as e:
        if debug:
            raise
        line, hint = describe(e, command)
        print(f"error: {line}", file=sys.stderr)
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
        raise SystemExit(2) from None
