"""Where the config files an experiment names are found: as written, else relative to the project root."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def resolve_path(path: str) -> str:
    """A config path as written, or relative to the project root when it is not found from the cwd."""
    if Path(path).exists() or Path(path).is_absolute():
        return path
    alt = ROOT / path
    return str(alt) if alt.exists() else path
