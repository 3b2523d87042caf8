"""User-facing errors of the command line: checks on the raw arguments and one-line messages.

Every bad input ends as ``error: <what and where>`` on stderr, at most one ``hint: <what to do>``
line, and exit status 2; ``--debug`` (anywhere on the command line) or ``PRUNING_LIGHTNING_DEBUG=1``
shows the traceback instead. docs/errors.md lists the classes of bad input and their messages.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import yaml

from pruning_lightning.errors import PruningError

SUMMARIES = {
    "fit": "train one stage (large, fine-tune, Scratch-E/B, ...) from YAML configs",
    "validate": "evaluate a checkpoint on the validation split",
    "test": "evaluate a checkpoint on the test split",
    "prune": "prune a trained checkpoint into an artifact folder (pruned.pt, arch.yaml, ...)",
    "info": "params, FLOPs, size, memory and latency of an architecture, checkpoint or artifact",
    "export": "a checkpoint or pruned artifact as ONNX and torch.export files, checked against PyTorch",
    "demo": "the whole Network Slimming slice on bundled digits, on CPU",
    "pipeline": "run a whole experiment file (large -> prune -> regimes, every seed)",
    "report": "paper-style table and plots of a pipeline run folder",
    "findings": "the findings table (paired verdicts) of several studies' reports",
    "zoo": "torchvision model-zoo weights as a large-model checkpoint (ImageNet ResNet / VGG)",
    "arch": "a preset or guided architecture as an artifact folder (trained from scratch only)",
}
HELP = (
    "usage: pruning-lightning [--debug] [--version] COMMAND [options]\n\ncommands:\n"
    + "".join(f"  {k:<9} {v}\n" for k, v in SUMMARIES.items())
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
# Top-level keys of a fit/validate/test config (a saved config.yaml of any subcommand included).
LIGHTNING_KEYS = {"seed_everything", "trainer", "model", "data", "ckpt_path", "optimizer", "lr_scheduler", "checkpoint"}
LIGHTNING_KEYS |= {"verbose", "weights_only", "config"}


def _yaml_problem(e: Exception) -> str:
    mark = getattr(e, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{getattr(e, 'problem', None) or str(e).splitlines()[0]}{where}"


MAX_YAML_BYTES, MAX_YAML_VALUES = 8 << 20, 1_000_000


def check_yaml_bounds(text: str, where: str) -> None:
    """Refuse YAML that would expand without bound (a "billion laughs" of aliases) before anything loads it.

    Composing keeps each alias a reference to its anchor's node, so counting the values a document expands
    to is linear in the text; loading it (or giving it to jsonargparse) would build every copy.
    Raises:
        PruningError: the text is over 8 MiB, expands to over a million values, or nests too deeply.
    """
    if len(text) > MAX_YAML_BYTES:
        raise PruningError(f"{where} is {len(text) >> 20} MiB; a YAML config is at most {MAX_YAML_BYTES >> 20} MiB")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return  # the caller's own load reports it, with its line and column
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        if id(node) not in sizes:
            sizes[id(node)] = 1  # an alias of an enclosing node (a cycle) counts once
            kids = [c for kv in node.value for c in kv] if isinstance(node, yaml.MappingNode) else node.value
            total = 1 + sum(size(c) for c in kids) if isinstance(node, yaml.CollectionNode) else 1
            sizes[id(node)] = min(total, MAX_YAML_VALUES + 1)
        return sizes[id(node)]

    try:
        n = size(root) if root is not None else 0
    except RecursionError:
        raise PruningError(f"{where} nests its YAML too deeply; a config file is a few levels of mappings") from None
    if n > MAX_YAML_VALUES:
        raise PruningError(
            f"{where} expands to more than {MAX_YAML_VALUES:,} values through YAML aliases (*name); refused before "
            "loading (a 'billion laughs' file); write the values out"
        )


def check_config_file(path: str, command: str) -> None:
    """A ``-c`` file exists, is valid YAML and holds a mapping (with known top-level keys for fit/test)."""
    p = Path(path)
    if not p.is_file():
        if path.lstrip().startswith("{"):
            return  # inline YAML/JSON, which jsonargparse also accepts
        raise PruningError(f"config file not found: {path}" + (" (it is a folder)" if p.is_dir() else ""))
    try:
        text = p.read_text()
        check_yaml_bounds(text, path)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise PruningError(f"{path} is not valid YAML: {_yaml_problem(e)}; fix the file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PruningError(f"cannot read config file {path} ({type(e).__name__}); is it a text YAML file?") from None
    if doc is not None and not isinstance(doc, dict):
        raise PruningError(f"{path} must hold a mapping of options (key: value), not a {type(doc).__name__}")
    unknown = sorted(set(doc or {}) - LIGHTNING_KEYS) if command in ("fit", "validate", "test") else []
    if unknown:
        raise PruningError(
            f"{path}: unknown top-level key(s) {unknown}; a {command} config may set {sorted(LIGHTNING_KEYS)}"
        )


def check_argv(argv: list[str]) -> None:
    """Checks on the raw arguments that give clearer messages than the parsers would."""
    command = argv[0] if argv else ""
    if not argv:
        raise PruningError(f"give a command: {', '.join(SUMMARIES)} (`pruning-lightning --help` describes them)")
    if command == "predict":
        raise PruningError(
            "this project has no predict step; `pruning-lightning test --ckpt_path CKPT` evaluates a model"
        )
    if command and not command.startswith("-") and command not in SUMMARIES:
        raise PruningError(
            f"unknown command {command!r}; commands: {', '.join(SUMMARIES)} (see pruning-lightning --help)"
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
            check_config_file(value, command)


def condense(message: str) -> str:
    """jsonargparse's nested multi-line message as one line: the full key and the innermost problem."""
    lines = [ln.strip() for ln in str(message).splitlines() if ln.strip()]
    keys: list[str] = []
    detail: list[str] = []
    for ln in lines:
        m = re.match(r'(?:error: )?Parser key "([^"]+)":\s*(.*)', ln)
        if m:
            keys.append(m.group(1))
            if m.group(2):
                detail.append(m.group(2))
            continue
        if re.match(
            r"(- )?(Does not validate against|Subtypes:|Errors:|Given value type:|Problem with given class_path)", ln
        ):
            continue
        if ln.startswith("- Expected a <class 'NoneType'>") or ln.startswith("Given value:"):
            continue
        detail.append(ln.lstrip("- "))
    key = _full_key(keys) if keys else ""
    text = "; ".join(dict.fromkeys(detail)) or (lines[0] if lines else "invalid arguments")
    text = text.replace("<class '", "").replace("'>", "")
    return (f"--{key}: " if key else "") + text[:300]


def _full_key(keys: list[str]) -> str:
    out = keys[0]
    for k in keys[1:]:
        if k.startswith(out + "."):
            out = k
        elif k not in out.split("."):
            out = f"{out}.init_args.{k}" if out in ("model", "data", "pruner") else f"{out}.{k}"
    return out


def describe(exc: BaseException, command: str) -> tuple[str, str | None]:
    """The ``error:`` line and the optional ``hint:`` line for an exception that ended a command."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, PruningError):
            return " ".join(str(cause).split()), None
        cause = cause.__cause__ or cause.__context__
    prog = f"pruning-lightning {command}".strip()
    if isinstance(exc, argparse.ArgumentError):
        if "expected one argument" in str(exc):
            return condense(str(exc)), "give the value after the flag; a value starting with '-' needs --flag=VALUE"
        return condense(str(exc)), f"run `{prog} --help` for the accepted options"
    name = type(exc).__name__
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    if name == "MisconfigurationException":
        return f"invalid trainer/model setting: {first}", f"run `{prog} --help` for the accepted options"
    if isinstance(exc, OSError) and getattr(exc, "filename", None):
        return f"{exc.strerror or name}: {exc.filename}", "check the path and its permissions"
    return f"{name}: {first}", "unexpected failure; re-run with --debug for the full traceback"


def summary_help(argv: list[str]) -> bool:
    """Whether ``argv`` asks for the top-level help (then it is printed)."""
    if argv and argv[0] in ("-h", "--help", "help"):
        print(HELP, end="")
        return True
    return False


def strip_debug(argv: list[str], env: Any) -> tuple[list[str], bool]:
    debug = "--debug" in argv or str(env.get("PRUNING_LIGHTNING_DEBUG", "")).lower() in ("1", "true", "yes")
    return [a for a in argv if a != "--debug"], debug
