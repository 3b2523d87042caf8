"""The one exception type users see as a single clear line, and how any exception becomes that line.

Every bad input ends as ``error: <what and where>`` on stderr, at most one ``hint: <what to do>``
line, and exit status 2 (:func:`pruning_lightning.main.main`); docs/errors.md lists the classes of bad
input and their messages.
"""

from __future__ import annotations

import argparse
import re


class PruningError(Exception):
    """A user-facing error: bad config, bad file, bad argument.

    The CLI prints ``error: <message>`` on one line and exits with status 2. The message names the
    problem and what to do about it.
    """


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
