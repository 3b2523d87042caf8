"""Files and folders that appear whole or not at all (see :mod:`pruning_lightning.formats.run_dir`).

* :func:`fresh_folder`: ``write(tmp)`` fills a hidden sibling folder, which is renamed to ``--out`` when
  ``write`` returns; on any failure the sibling and every parent folder it created are removed.
* :func:`fresh_file` and :func:`write_json`: the same for one file (a temporary file, then ``os.replace``).
* :func:`check_output_dir`: the checks of an ``--out`` folder, made before any work.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pruning_lightning.core.errors import PruningError

T = TypeVar("T")


def check_output_dir(out: Path, overwrite: bool = False) -> None:
    """Refuse an ``--out`` that exists (unless ``overwrite``), sits below a file, or in an unwritable folder.

    Called before any work, so that a bad ``--out`` fails at once (and leaves nothing behind).
    """
    if out.exists() and not out.is_dir():
        raise PruningError(f"--out {out} is an existing file, not a folder; choose another --out")
    if out.exists() and not overwrite:
        raise PruningError(f"output directory {out} already exists; choose another --out or pass --overwrite true")
    _check_parent(out)


def check_output_file(out: Path, overwrite: bool = False) -> None:
    """:func:`check_output_dir` for an ``--out`` that names a file (a folder there, or an existing file unless
    ``overwrite``, is refused)."""
    if out.is_dir():
        raise PruningError(f"--out {out} is a folder; give a checkpoint file name (e.g. {out}/large.ckpt)")
    if out.exists() and not overwrite:
        raise PruningError(f"--out {out} exists; pass --overwrite to replace it")
    _check_parent(out)


def _check_parent(out: Path) -> None:
    """The nearest existing folder above ``out`` must be a writable folder."""
    parent = next((p for p in out.parents if p.exists()), Path("."))
    if not parent.is_dir():
        raise PruningError(f"--out {out} lies below {parent}, which is a file; choose another --out")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PruningError(f"--out {out}: folder {parent} is not writable; choose another --out")


def _first_missing(folder: Path) -> Path | None:
    """The outermost of ``folder`` and its parents that does not exist yet (what creating it would create)."""
    return next((p for p in [*reversed(folder.parents), folder] if not p.exists()), None)


def fresh_folder(out: Path, write: Callable[[Path], T], overwrite: bool = False, merge: bool = False) -> T:
    """Run ``write(tmp)`` in a hidden sibling of ``out``, then rename it to ``out``; returns what ``write`` returns.

    ``overwrite``: an existing ``out`` is replaced whole. ``merge``: an existing ``out`` is kept and each new
    file replaces its namesake there (a folder the user named may hold other files). Without either, an
    existing ``out`` is refused (:func:`check_output_dir`).

    Raises:
        PruningError: a bad ``out``, or its folder cannot be created.
    """
    if not merge or not out.is_dir():
        check_output_dir(out, overwrite or merge)
    created = _first_missing(out.parent)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; colleagues get what the user's umask allows
    except OSError as e:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise PruningError(f"cannot create --out {out}: {e.strerror or type(e).__name__} ({e.filename})") from None
    try:
        result = write(tmp)
        if merge and out.is_dir():
            for p in sorted(tmp.iterdir()):
                old = out / p.name
                if old.is_dir() and not old.is_symlink():
                    shutil.rmtree(old)
                os.replace(p, old)
            tmp.rmdir()
        else:
            if out.exists():
                shutil.rmtree(out)
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise
    return result


def fresh_file(out: Path, write: Callable[[Path], Any]) -> None:
    """Run ``write(tmp)`` on a temporary file beside ``out``, then ``os.replace`` it onto ``out``.

    On any failure the temporary file and every parent folder this call created are removed.
    """
    created = _first_missing(out.parent)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic write: a marker is either complete or absent."""
    fresh_file(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1, default=str)))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
