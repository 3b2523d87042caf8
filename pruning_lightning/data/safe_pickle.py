"""Read the CIFAR "python version" batch files without running code from them.

A CIFAR batch is a pickle of a dict of bytes/str keys, lists of ints/strings and one uint8 numpy
array. ``pickle.load`` would call whatever callable a tampered file names (the classic pickle
payload), so these files are read with an unpickler that can only build plain containers and numpy
arrays: the only globals it resolves are numpy's array reconstructor, ``ndarray``, ``dtype`` and
``_codecs.encode`` (how Python 3 pickles ``bytes`` at protocol 2). Anything else is refused before
it is called, whatever the checksum setting.
"""

from __future__ import annotations

import codecs
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from pruning_lightning.core.errors import PruningError

_RECONSTRUCT = np.ndarray((0,)).__reduce__()[0]  # numpy's array reconstructor, whatever its module path
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals of a numpy-arrays-in-a-dict pickle."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to load {module}.{name} (not plain data)") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refused a persistent reference (not plain data)")


def loads(data: bytes) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler` (``latin1`` for Python 2 strings)."""
    return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()


def _plain(value: Any) -> bool:
    if isinstance(value, (str, bytes, int, float, np.ndarray)):
        return not isinstance(value, np.ndarray) or value.dtype != object
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, (str, bytes)) and _plain(v) for k, v in value.items())
    return value is None


def load_batch(path: str | Path, hint: str = "") -> dict[str, Any]:
    """Read one CIFAR batch/meta file as a dict with ``str`` keys; a bad file is one :class:`PruningError`."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise PruningError(f"cannot read CIFAR file {p} ({e.strerror or type(e).__name__}){hint}") from None
    try:
        entry = loads(data)
    except pickle.UnpicklingError as e:
        raise PruningError(f"CIFAR file {p} is corrupt or not plain data ({e}){hint}") from None
    except Exception as e:  # truncated (EOFError), garbage bytes (ValueError, KeyError, ...)
        raise PruningError(f"CIFAR file {p} is truncated or corrupt ({type(e).__name__}){hint}") from None
    if not isinstance(entry, dict) or not _plain(entry):
        raise PruningError(f"CIFAR file {p} does not hold a CIFAR batch (a dict of arrays and lists){hint}")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in entry.items()}
