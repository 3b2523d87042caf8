"""What the Lightning subcommands check before anything runs, and what a failed run leaves behind.

* :func:`check_config` (called by :class:`~pruning_lightning.cli.lightning_cli.PruningCLI` before any class is built):
  a bad learning rate, batch size or accelerator is one :class:`PruningError` naming the flag, instead of
  a traceback from deep inside the optimiser, the data loader or Lightning.
* :class:`OutputGuard` records the stage folders a run writes to; when the run fails before it wrote any
  checkpoint, everything the run created there (config.yaml, hparams.yaml, metrics.csv, log folders, the folder
  itself) is removed and files it overwrote are restored, so a failed command leaves the file system as it found
  it. :func:`guarded_outputs` makes one (the console's :func:`pruning_lightning.main.main` and the pipeline's
  in-process fit); it is passed down through ``stages.run_stage`` to the ``PruningCLI``, which shows it the
  parsed folders (no module global: the LightningCLI object is built by us, so it can carry the guard).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.run_dir import StageDir
from pruning_lightning.utils.schedule import MAX_EPOCHS

_MAX_BACKUP = 64 << 20


def _positive(value: Any, flag: str, strict: bool = True, integer: bool = False) -> None:
    if value is None:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    ok = ok and (value > 0 if strict else value >= 0) and (not integer or float(value).is_integer())
    if not ok:
        kind = ("a positive" if strict else "a non-negative") + (" integer" if integer else " number")
        raise PruningError(f"--{flag} must be {kind}, got {value!r}")


def check_config(cfg: Any, hardware: bool = True) -> None:
    """Refuse values that would only fail deep inside training (flags named as on the command line).

    ``hardware=False`` skips the accelerator check (a Slurm submission is checked on a login node).
    """
    model = (cfg.get("model") or {}).get("init_args") or {}
    for key, strict in (("lr", True), ("momentum", False), ("weight_decay", False), ("lr_gamma", True)):
        _positive(model.get(key), f"model.init_args.{key}", strict)
    if model.get("momentum") is not None and isinstance(model.get("momentum"), (int, float)) and model["momentum"] >= 1:
        raise PruningError(f"--model.init_args.momentum must be below 1, got {model['momentum']!r}")
    data = (cfg.get("data") or {}).get("init_args") or {}
    for key in ("batch_size", "eval_batch_size", "num_samples", "subset"):
        _positive(data.get(key), f"data.init_args.{key}", integer=True)
    _positive(data.get("num_workers"), "data.init_args.num_workers", strict=False, integer=True)
    trainer = cfg.get("trainer") or {}
    epochs = trainer.get("max_epochs")
    if epochs is not None and (not isinstance(epochs, int) or epochs < -1 or epochs == 0 or epochs > MAX_EPOCHS):
        raise PruningError(
            f"--trainer.max_epochs must be a positive integer up to {MAX_EPOCHS} (or -1: no limit), got {epochs!r}"
        )
    if hardware:
        _check_accelerator(trainer.get("accelerator"))


def _check_accelerator(accelerator: Any) -> None:
    import torch  # on use: the console checks arguments before it pays for torch

    name = str(accelerator).lower() if isinstance(accelerator, str) else None
    if name in ("gpu", "cuda") and not torch.cuda.is_available():
        raise PruningError(
            f"--trainer.accelerator {accelerator}: no CUDA GPU is visible on this machine; "
            "use --trainer.accelerator cpu (or auto)"
        )
    if name == "mps" and not torch.backends.mps.is_available():
        raise PruningError("--trainer.accelerator mps: MPS is not available here; use --trainer.accelerator cpu")


class OutputGuard:
    """Record stage folders before a run; :meth:`rollback` undoes what a failed run wrote there."""

    def __init__(self) -> None:
        self.roots: dict[Path, tuple[Path | None, set[str], dict[str, bytes]]] = {}
        self.keep: set[Path] = set()
        self.ckpts: dict[Path, float] = {}

    def watch_config(self, cfg: Any) -> None:
        trainer = cfg.get("trainer") or {}
        dirs = [trainer.get("default_root_dir") or "."]
        dirs.append((cfg.get("checkpoint") or {}).get("dirpath"))
        loggers = trainer.get("logger")
        for lg in loggers if isinstance(loggers, list) else [loggers]:
            if lg is not None and hasattr(lg, "get") and lg.get("init_args") is not None:
                dirs.append(lg.init_args.get("save_dir"))
        data_dir = ((cfg.get("data") or {}).get("init_args") or {}).get("data_dir")
        if data_dir:
            self.keep.add(Path(str(data_dir)).resolve())
        for d in dirs:
            if d:
                self.watch(Path(str(d)))

    def watch(self, root: Path) -> None:
        root = root.resolve()
        if root in self.roots:
            return
        created = next((p for p in [*reversed(root.parents), root] if not p.exists()), None)
        entries: set[str] = set()
        backups: dict[str, bytes] = {}
        if root.is_dir():
            entries = set(os.listdir(root))
            for name in StageDir.RESTORED:
                f = root / name
                if f.is_file() and f.stat().st_size <= _MAX_BACKUP:
                    backups[name] = f.read_bytes()
        self.roots[root] = (created, entries, backups)
        self.ckpts.update(StageDir(root).checkpoint_files())

    def trained(self) -> bool:
        """Whether the run wrote a checkpoint (then its outputs are worth keeping for a resume)."""
        now: dict[Path, float] = {}
        for root in self.roots:
            now.update(StageDir(root).checkpoint_files())
        return any(self.ckpts.get(p) != t for p, t in now.items())

    def rollback(self) -> None:
        if self.trained():
            return
        for root, (created, entries, backups) in reversed(list(self.roots.items())):
            if created is not None:
                if created.exists() and not any(k == created or created in k.parents for k in self.keep):
                    shutil.rmtree(created, ignore_errors=True)
                continue
            if not root.is_dir():
                continue
            for name in set(os.listdir(root)) - entries:
                p = root / name
                if p.resolve() in self.keep:
                    continue
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink()
            for name, data in backups.items():
                if (root / name).is_file() and (root / name).read_bytes() != data:
                    (root / name).write_bytes(data)


@contextmanager
def guarded_outputs() -> Iterator[OutputGuard]:
    """A guard for the Lightning run inside (pass it to ``run_stage``); its outputs are rolled back if it raises."""
    guard = OutputGuard()
    try:
        yield guard
    except Exception:
        guard.rollback()
        raise
