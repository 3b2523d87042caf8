"""An experiment's nested ``args``/``trainer`` mappings as jsonargparse command-line overrides."""

from __future__ import annotations

import json
from typing import Any


def flatten(prefix: str, value: Any) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists and ``class_path`` dicts stay whole)."""
    if isinstance(value, dict) and not value and not prefix:
        return {}
    if isinstance(value, dict) and value and "class_path" not in value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(f"{prefix}.{k}" if prefix else str(k), v))
        return out
    return {prefix: value}


def _value(v: Any) -> str:
    """One command-line value as jsonargparse reads it."""
    return v if isinstance(v, str) else json.dumps(v)


def overrides(d: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for k, v in flatten(prefix, d).items():
        out += [f"--{k}", _value(v)]
    return out
