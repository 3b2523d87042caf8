"""jsonargparse reads ``-c`` files through the one reader (:func:`pruning_lightning.core.config_files.read_config`).

A parser made with ``parser_mode=parser_mode()`` and :class:`ConfigFile` as its ``-c`` action hands the text of
each ``-c`` file to the reader: the size bounds, the safe loader, the one-line errors naming the file as it was
given and the line, and the mapping check (plus the top-level keys of a Lightning config for
``parser_mode(lightning=True)``) all happen in the one read, and a file read again in the same command (a
class-count claim, ``--base_epochs``' source) is not parsed again. Values typed on the command line (and inline
``-c '{...}'`` strings) keep jsonargparse's own YAML rules.

A file written while the architecture held the class count (``model.init_args.arch.num_classes``: an old
preset, a ``pruned-v1`` artifact's ``arch.yaml``, a run's saved ``config.yaml``) is read as the same claim
written beside the arch (``model.init_args.num_classes``), which the CLI checks against the data module
(:func:`moved_class_count`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import yaml
from jsonargparse import ActionConfigFile, get_loader, set_loader

from pruning_lightning.core.config_files import LIGHTNING_KEYS, check_options, read_config
from pruning_lightning.core.errors import PruningError

_FILES, _LIGHTNING = "yaml_file", "yaml_lightning_file"
_GIVEN: ContextVar[str | None] = ContextVar("_GIVEN", default=None)  # the -c value being read, as given
_REGISTERED: set[str] = set()


def parser_mode(lightning: bool = False) -> str:
    """The jsonargparse parser mode whose ``-c`` files are read by the one reader (registered on first use).

    ``lightning``: also refuse top-level keys a fit/validate/test config cannot have.
    """
    mode = _LIGHTNING if lightning else _FILES
    if mode not in _REGISTERED:
        set_loader(mode, _loader(LIGHTNING_KEYS if lightning else None), exceptions=(yaml.YAMLError,))
        _REGISTERED.add(mode)
    return mode


def _loader(keys: set[str] | None) -> Callable[..., Any]:
    values = get_loader("yaml")  # jsonargparse's own, for what is not a -c file

    def load(text: str, path: str | None = None) -> Any:
        given = _GIVEN.get()
        # jsonargparse passes a -c file's base name, read from inside the file's folder; anything else is a value.
        if not path or given is None or os.path.basename(given) != path:
            return moved_class_count(values(text), "the inline config")
        data = read_config(os.path.abspath(path), text=text, name=given)
        check_options(data, given, keys, "a fit, validate or test config")
        return moved_class_count(data, given)

    return load


def moved_class_count(data: Any, name: str) -> Any:
    """``data`` with an old ``model.init_args.arch.num_classes`` moved beside the arch (a copy; else ``data``).

    Raises:
        PruningError: the file writes two different class counts (in the arch and beside it).
    """
    model: Any = data.get("model") if isinstance(data, dict) else None
    init: Any = model.get("init_args") if isinstance(model, dict) else None
    arch: Any = init.get("arch") if isinstance(init, dict) else None
    if (
        not isinstance(model, dict)
        or not isinstance(init, dict)
        or not isinstance(arch, dict)
        or "num_classes" not in arch
    ):
        return data
    old, new = arch["num_classes"], init.get("num_classes")
    if new is not None and new != old:
        raise PruningError(
            f"{name} writes model.init_args.arch.num_classes {old} and model.init_args.num_classes {new}; "
            "keep only model.init_args.num_classes (the class count is not part of the architecture)"
        )
    rest = {k: v for k, v in arch.items() if k != "num_classes"}
    return {**data, "model": {**model, "init_args": {**init, "arch": rest, "num_classes": old}}}


class ConfigFile(ActionConfigFile):
    """``-c``/``--config``: jsonargparse's action, with the file named as given and an unreadable file one line."""

    def __call__(self, parser: Any, cfg: Any, values: Any, option_string: str | None = None) -> None:
        token = _GIVEN.set(str(values))
        try:
            super().__call__(parser, cfg, values, option_string)
        except (OSError, UnicodeDecodeError) as e:
            raise PruningError(
                f"cannot read config file {values} ({type(e).__name__}); is it a text YAML file?"
            ) from None
        finally:
            _GIVEN.reset(token)
