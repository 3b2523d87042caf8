"""The one reader of configuration files: YAML text -> data, bounded, safe, with one-line errors.

Every configuration file becomes data in :func:`read_config` (through :func:`_parse`): ``-c`` files (jsonargparse
hands their text here, see :mod:`pruning_lightning.cli.parser_mode`), experiment files, a prune artifact's
``stats.yaml``. The text is composed first and refused when it would expand without bound (a "billion laughs"
of aliases) or nest too deeply; only then is it built, by a safe loader (no Python tags: data files never run
code). Numbers and dates follow jsonargparse's YAML rules, so a file means the same whoever reads it:
``1e-4`` is a float, ``2024-01-01`` a string. A file is parsed once per version: its data is kept, keyed by
its resolved path, and given again (a copy) while its modification time and size (or its text) are unchanged.
Each failure is one :class:`~pruning_lightning.core.errors.PruningError` line naming the file (and the line).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from pruning_lightning.core.errors import PruningError

# Top-level keys of a fit/validate/test config (a saved config.yaml of any subcommand included).
LIGHTNING_KEYS = {"seed_everything", "trainer", "model", "data", "ckpt_path", "optimizer", "lr_scheduler", "checkpoint"}
LIGHTNING_KEYS |= {"verbose", "weights_only", "config"}
MAX_YAML_BYTES, MAX_YAML_VALUES = 8 << 20, 1_000_000
_FLOAT, _TIMESTAMP = "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp"


class _Unbounded(Exception):
    """The composed document is too large or too deep to build (the message ends the sentence "FILE ...")."""


class _Loader(yaml.SafeLoader):
    """A safe loader that checks a document's size after composing it and before building anything."""

    def compose_document(self) -> Any:
        node = super().compose_document()
        if node is not None and _size(node, {}) > MAX_YAML_VALUES:
            raise _Unbounded(
                f"expands to more than {MAX_YAML_VALUES:,} values through YAML aliases (*name); refused before "
                "loading (a 'billion laughs' file); write the values out"
            )
        return node


# jsonargparse's number rules: an exponent needs no dot ("1e-4", "5E3"); dates are not resolved (they stay strings).
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in rules if tag not in (_FLOAT, _TIMESTAMP)]
    for first, rules in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"""^(?:[-+]?[0-9][0-9_]*(?:\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)   # 1.5, 1., 1.5e3, 1e-4
        |\.[0-9_]+(?:[eE][-+][0-9]+)?                                            # .5, .5e-3
        |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*                             # sexagesimal 1:30.5
        |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Values ``node`` expands to (each alias counted as a copy), capped: linear in the composed nodes."""
    if id(node) not in sizes:
        sizes[id(node)] = 1  # an alias of an enclosing node (a cycle) counts once
        kids = [c for kv in node.value for c in kv] if isinstance(node, yaml.MappingNode) else node.value
        total = 1 + sum(_size(c, sizes) for c in kids) if isinstance(node, yaml.CollectionNode) else 1
        sizes[id(node)] = min(total, MAX_YAML_VALUES + 1)
    return sizes[id(node)]


def _problem(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{getattr(e, 'problem', None) or str(e).splitlines()[0]}{where}"


def _parse(text: str, name: str) -> Any:
    """YAML text -> data: the one place the package turns configuration text into values."""
    if len(text) > MAX_YAML_BYTES:
        raise PruningError(f"{name} is {len(text) >> 20} MiB; a YAML config is at most {MAX_YAML_BYTES >> 20} MiB")
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader: plain data only
    except _Unbounded as e:
        raise PruningError(f"{name} {e}") from None
    except RecursionError:
        raise PruningError(f"{name} nests its YAML too deeply; a config file is a few levels of mappings") from None
    except yaml.YAMLError as e:
        raise PruningError(f"{name} is not valid YAML: {_problem(e)}; fix the file") from None


_READ: dict[Path, tuple[tuple[int, int], str, Any]] = {}  # resolved path -> ((mtime_ns, size), text, data)


def read_config(path: str | Path, text: str | None = None, name: str | None = None) -> Any:
    """The data of the YAML file ``path``; parsed once while the file is unchanged.

    Args:
        path: the file.
        text: its text when the caller has already read it (jsonargparse has): compared with the text the
            data was parsed from instead of the file's modification time and size.
        name: how messages name the file (default: ``path`` as given).

    Raises:
        PruningError: the file cannot be read as text, is too large, expands or nests without bound, or is
            not valid YAML.
    """
    name = str(path) if name is None else name
    p = Path(path)
    try:
        st = p.stat()
        key, resolved = (st.st_mtime_ns, st.st_size), p.resolve()
        known = _READ.get(resolved)
        if known is not None and (known[1] == text if text is not None else known[0] == key):
            return copy.deepcopy(known[2])
        text = p.read_text() if text is None else text
    except (OSError, UnicodeDecodeError) as e:
        raise PruningError(f"cannot read config file {name} ({type(e).__name__}); is it a text YAML file?") from None
    data = _parse(text, name)
    _READ[resolved] = (key, text, data)
    return copy.deepcopy(data)


def check_options(data: Any, name: str, keys: Iterable[str] | None = None, what: str = "") -> None:
    """``data`` of a ``-c`` file holds a mapping of options (empty is fine), with top-level ``keys`` only if given."""
    if data is not None and not isinstance(data, dict):
        raise PruningError(f"{name} must hold a mapping of options (key: value), not a {type(data).__name__}")
    if data and all(v is None for v in data.values()):  # jsonargparse refused these too ("Unexpected config")
        raise PruningError(f"{name} gives no value to {sorted(data)}; write key: value (an empty key resets it)")
    unknown = sorted(set(data or {}) - set(keys)) if keys is not None else []
    if unknown:
        raise PruningError(f"{name}: unknown top-level key(s) {unknown}; {what or 'it'} may set {sorted(keys or ())}")


def check_config_file(path: str) -> None:
    """The checks on a ``-c`` value that need no read: it names a file (inline YAML/JSON passes)."""
    p = Path(path)
    if not p.is_file() and not path.lstrip().startswith("{"):  # "{": inline, which jsonargparse also accepts
        raise PruningError(f"config file not found: {path}" + (" (it is a folder)" if p.is_dir() else ""))
