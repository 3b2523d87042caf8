"""Console hygiene: each Lightning message and warning at most once per process, tips never.

A pipeline runs many stages (fit, two tests) in one process; Lightning repeated its litlogger/litmodels
tips, ``Seed set to``, ``GPU available`` and the same warnings for every one of them (each CLI call also
resets Python's warning registry). :func:`install` drops the tips and any message already shown.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_DROP = ("💡 Tip:",)  # advertisements; nothing a user acts on
_quiet: list[str] = []  # prefixes dropped inside quiet()


class _Once(logging.Filter):
    def __init__(self) -> None:
        super().__init__("once")
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_shown_once", False):  # the same record at the logger's next handler
            return True
        msg = record.getMessage()
        if msg.startswith((*_DROP, *_quiet)) or (record.levelno < logging.ERROR and msg in self.seen):
            return False
        self.seen.add(msg)
        record._shown_once = True
        return True


_FILTER = _Once()
_shown: set[str] = set()


def _showwarning_once(show: Any) -> Any:
    def showwarning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        key = f"{getattr(category, '__name__', category)}: {message}"
        if key not in _shown:
            _shown.add(key)
            show(message, category, *args, **kwargs)

    showwarning._once = True  # type: ignore[attr-defined]
    return showwarning


@contextmanager
def quiet(*prefixes: str) -> Iterator[None]:
    """Drop Lightning's messages starting with ``prefixes`` inside the block (e.g. the pipeline's test phase)."""
    _quiet.extend(prefixes)
    try:
        yield
    finally:
        del _quiet[len(_quiet) - len(prefixes) :]


def install(warnings_too: bool = False) -> None:
    """Filter Lightning's console handlers (idempotent; after Lightning's import) and, with ``warnings_too``,
    Python's warnings (the console entry point only: pytest records warnings through the same hook)."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning", ""):
        for handler in logging.getLogger(name).handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
    if warnings_too and not getattr(warnings.showwarning, "_once", False):
        warnings.showwarning = _showwarning_once(warnings.showwarning)
