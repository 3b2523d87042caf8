"""One writer per run folder, and a failed start leaves the folder as it was.

:func:`run_guard` wraps everything ``pipeline`` does to a run folder:

* an OS file lock (``fcntl.flock`` on ``RUN_DIR/.lock``, released by the kernel when the process ends, however
  it ends) refuses a second pipeline on the same folder at once; the children of ``pipeline --jobs N`` run
  under their parent's lock (``PRUNING_LIGHTNING_RUN_LOCK`` names the folder it holds), and Slurm jobs
  (``SLURM_JOB_ID`` set) take none: ``--launcher slurm`` gives every stage its own job, chained by the scheduler;
* when the run fails before any stage produced a result, checkpoint or artifact, every file and folder it
  created there (the run's record, empty stage folders, the run folder itself) is removed; what counts as
  produced is :data:`~pruning_lightning.formats.run_dir.PRODUCED`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.run_dir import PRODUCED

ENV = "PRUNING_LIGHTNING_RUN_LOCK"
KEPT = ("logs",)  # the children's logs of `pipeline --jobs` explain a failure: never rolled back


def _files(root: Path) -> set[Path]:
    return set(root.rglob("*")) if root.is_dir() else set()


def _rollback(root: Path, created: Path | None, before: set[Path]) -> None:
    new = _files(root) - before
    if any(p.match(pattern) for p in new for pattern in PRODUCED):
        return  # work was done: it stays for the resume
    if created is not None:
        if not any(p.relative_to(root).parts[:1] in [(k,) for k in KEPT] for p in new):
            shutil.rmtree(created, ignore_errors=True)
        return
    for p in sorted(new, key=lambda p: len(p.parts), reverse=True):
        if p.relative_to(root).parts[0] in KEPT:
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists() or p.is_symlink():
            p.unlink()


@contextmanager
def run_guard(root: Path) -> Iterator[None]:
    """Hold ``root``'s lock while the body runs; undo what a body that failed before producing anything wrote.

    Raises:
        PruningError: another process holds the lock, or ``root`` cannot be created.
    """
    key = str(root.resolve())
    if os.environ.get(ENV) == key or "SLURM_JOB_ID" in os.environ:  # see the module docstring
        yield
        return
    if root.exists() and not root.is_dir():
        raise PruningError(f"run_dir {root} is an existing file, not a folder; set another run_dir (or --run_dir)")
    created = next((p for p in [*reversed(root.parents), root] if not p.exists()), None)
    before = _files(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        raise PruningError(f"cannot create run_dir {root}: {e.strerror or type(e).__name__}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise PruningError(
            f"run folder {root} is in use by another pipeline (it holds {root / '.lock'}); wait for it to finish "
            "(the lock is released when it exits, even if killed), or set another run_dir"
        ) from None
    old = os.environ.get(ENV)
    os.environ[ENV] = key
    try:
        yield
    except Exception:
        _rollback(root, created, before)
        raise
    finally:
        if old is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = old
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
