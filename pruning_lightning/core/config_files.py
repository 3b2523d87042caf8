"""Configuration files (``-c``): the checks made before any parser reads one.

A ``-c`` file must exist, be text YAML of bounded size (no "billion laughs" of aliases), hold a mapping
and, for ``fit``/``validate``/``test``, only the top-level keys a Lightning config has. Each failure is
one :class:`~pruning_lightning.core.errors.PruningError` line naming the file (and the line for YAML).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from pruning_lightning.core.errors import PruningError

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
