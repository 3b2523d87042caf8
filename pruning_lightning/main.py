"""Console entry point: ``pruning-lightning COMMAND ...``.

Two kinds of command, listed once in :data:`COMMANDS`:

* the **stages** ``fit``/``validate``/``test`` (LightningCLI), ``prune``, ``zoo`` and ``arch``: dispatched by
  :func:`pruning_lightning.stages.run_stage`, the same function the pipeline calls for each planned stage;
* the **tools** ``info``, ``export``, ``demo``, ``pipeline``, ``report`` and ``findings``
  (``pruning_lightning/commands/<name>.py``, each with ``main(argv)``).

Every user-facing error is one ``error:`` line on stderr, at most one ``hint:`` line and exit status 2
(:func:`pruning_lightning.core.errors.describe`); ``--debug`` anywhere on the command line or
``PRUNING_LIGHTNING_DEBUG=1`` shows the traceback instead. docs/errors.md lists the classes of bad input.
"""

from __future__ import annotations

import os
import sys
import warnings
from importlib import import_module
from typing import Any, NamedTuple

from pruning_lightning.core import console_once
from pruning_lightning.core.config_files import check_config_file
from pruning_lightning.core.errors import PruningError, describe
from pruning_lightning.training.cli_guard import guarded_outputs


class Command(NamedTuple):
    summary: str
    tool: bool  # True: pruning_lightning/commands/<name>.py; False: a stage (stages.run_stage)


# The one list of command names: the help, the unknown-command check and the dispatch all read it.
COMMANDS = {
    "fit": Command("train one stage (large, fine-tune, Scratch-E/B, ...) from YAML configs", False),
    "validate": Command("evaluate a checkpoint on the validation split", False),
    "test": Command("evaluate a checkpoint on the test split", False),
    "prune": Command("prune a trained checkpoint into an artifact folder (pruned.pt, arch.yaml, ...)", False),
    "info": Command("params, FLOPs, size, memory and latency of an architecture, checkpoint or artifact", True),
    "export": Command("a checkpoint or pruned artifact as ONNX and torch.export files, checked against PyTorch", True),
    "demo": Command("the whole Network Slimming slice on bundled digits, on CPU", True),
    "pipeline": Command("run a whole experiment file (large -> prune -> regimes, every seed)", True),
    "report": Command("paper-style table and plots of a pipeline run folder", True),
    "findings": Command("the findings table (paired verdicts) of several studies' reports", True),
    "zoo": Command("torchvision model-zoo weights as a large-model checkpoint (ImageNet ResNet / VGG)", False),
    "arch": Command("a preset or guided architecture as an artifact folder (trained from scratch only)", False),
}
HELP = (
    "usage: pruning-lightning [--debug] [--version] COMMAND [options]\n\ncommands:\n"
    + "".join(f"  {k:<9} {c.summary}\n" for k, c in COMMANDS.items())
    + "\n`pruning-lightning COMMAND --help` lists the options of a command; --debug shows tracebacks on errors.\n"
)
# Flags whose value is a file or folder: a missing value is an error of its own, not "not found: .".
_VALUE_FLAGS = {
    "--ckpt_path": "a checkpoint file (e.g. RUN/checkpoints/last.ckpt)",
    "--ckpt": "a checkpoint file",
    "--out": "an output folder",
    "--artifact": "a prune artifact folder",
    "--run-dir": "a run folder",
    "--run_dir": "a run folder",
    "-c": "a YAML file",
    "--config": "a YAML file",
}


def check_argv(argv: list[str]) -> None:
    """Checks on the raw arguments that give clearer messages than the parsers would."""
    command = argv[0] if argv else ""
    if not argv:
        raise PruningError(f"give a command: {', '.join(COMMANDS)} (`pruning-lightning --help` describes them)")
    if command == "predict":
        raise PruningError(
            "this project has no predict step; `pruning-lightning test --ckpt_path CKPT` evaluates a model"
        )
    if command and not command.startswith("-") and command not in COMMANDS:
        raise PruningError(
            f"unknown command {command!r}; commands: {', '.join(COMMANDS)} (see pruning-lightning --help)"
        )
    for i, a in enumerate(argv):
        flag, eq, value = a.partition("=") if a.startswith("--") else (a, "", "")
        if flag not in _VALUE_FLAGS:
            continue
        if not eq:
            value = argv[i + 1] if i + 1 < len(argv) else ""
            if value.startswith("-") and value not in ("-",):
                value = ""
        if not value.strip():
            raise PruningError(f"{flag} needs a value: {_VALUE_FLAGS[flag]}")
        if flag in ("-c", "--config"):
            check_config_file(value)


def summary_help(argv: list[str]) -> bool:
    """Whether ``argv`` asks for the top-level help (then it is printed)."""
    if argv and argv[0] in ("-h", "--help", "help"):
        print(HELP, end="")
        return True
    return False


def strip_debug(argv: list[str], env: Any) -> tuple[list[str], bool]:
    debug = "--debug" in argv or str(env.get("PRUNING_LIGHTNING_DEBUG", "")).lower() in ("1", "true", "yes")
    return [a for a in argv if a != "--debug"], debug


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
    command = argv[0] if argv and argv[0] in COMMANDS else ""
    try:
        check_argv(argv)
        if command and COMMANDS[command].tool:
            # Imported on use: `report` or `info` need not pay for Lightning's import.
            import_module(f"pruning_lightning.commands.{command}").main(argv[1:])
        else:
            from pruning_lightning.stages import run_stage  # imports Lightning: only when a stage runs

            with guarded_outputs() as guard:
                run_stage(argv, exit_on_error=False, guard=guard)
    except Exception as e:
        if debug:
            raise
        line, hint = describe(e, command)
        print(f"error: {line}", file=sys.stderr)
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
        raise SystemExit(2) from None
