"""Read a Lightning checkpoint of ours back into (arch, class count, network) without the LightningModule.

Its hyper-parameters hold the ``arch`` and, beside it, ``num_classes``; a checkpoint written while the spec held
the class count has it inside ``arch`` instead (:func:`checkpoint_classes` reads both).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.models.spec import ArchSpec, split_classes
from pruning_lightning.utils.finite import check_finite


def read_torch_file(path: str | os.PathLike, what: str, hint: str = "") -> Any:
    """``torch.load(path, weights_only=True)`` on CPU, with one clear error for a missing or broken file.

    Args:
        path: the file.
        what: what it is, for the message ("checkpoint", "pruned artifact", ...).
        hint: appended to the message (what to do about it).
    """
    p = Path(path)
    if not p.is_file():
        raise PruningError(f"{what} not found: {p}{hint}")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, pickle error, ...
        raise PruningError(f"{what} {p} is unreadable or truncated ({type(e).__name__}){hint}") from e


def checkpoint_classes(hparams: dict[str, Any], path: str | os.PathLike) -> tuple[ArchSpec, int]:
    """``(arch, num_classes)`` of a checkpoint's hyper-parameters (either layout, see the module docstring).

    Raises:
        PruningError: no arch, no class count, or two that disagree.
    """
    if "arch" not in hparams:
        raise PruningError(f"{path} is not a pruning-lightning checkpoint (no hyper_parameters.arch)")
    arch, classes = split_classes(hparams["arch"], hparams.get("num_classes"), str(path))
    if classes is None:
        raise PruningError(f"{path} records no class count (hyper_parameters.num_classes); re-run its stage")
    return resolve(arch), classes


def upgrade_hparams(hparams: dict[str, Any], path: str | os.PathLike) -> dict[str, Any]:
    """A copy of a checkpoint's hyper-parameters with ``num_classes`` beside ``arch`` (either layout read)."""
    if "arch" not in hparams:
        return dict(hparams)
    arch, classes = split_classes(hparams["arch"], hparams.get("num_classes"), str(path))
    return {**hparams, "arch": arch, **({"num_classes": classes} if classes is not None else {})}


def network_from(ckpt: Any, path: str | os.PathLike) -> tuple[ArchSpec, int, nn.Module]:
    """Rebuild the network of an already-read Lightning checkpoint dict (``path`` is for messages)."""
    try:
        arch, classes = checkpoint_classes(ckpt["hyper_parameters"], path)
        state = {k[4:]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    except (KeyError, TypeError) as e:
        raise PruningError(f"{path} is not a pruning-lightning checkpoint (no {e} entry)") from e
    check_finite(state, f"checkpoint {path}")
    net = build_arch(arch, classes)
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise PruningError(f"weights in {path} do not fit its architecture: {str(e).splitlines()[0]}") from e
    return arch, classes, net


def origin(ckpt: Any, path: str | os.PathLike) -> str:
    """Where a checkpoint's state comes from, for messages and records: file, epoch count, global step."""
    epoch, step = ckpt.get("epoch"), ckpt.get("global_step")
    if ckpt.get("imported_from"):  # `pruning-lightning zoo`: model-zoo weights, not a run of ours
        return f"{path} (imported from {ckpt['imported_from']})"
    if epoch is None:
        return str(path)
    return f"{path} (after epoch {int(epoch) + 1}, global step {step})"


def load_network(path: str | os.PathLike) -> tuple[ArchSpec, int, nn.Module, str]:
    """Rebuild the (possibly pruned) network stored in a checkpoint, under ``weights_only=True``.

    Returns the architecture, the class count, the network and :func:`origin` of the checkpoint.
    """
    ckpt = read_torch_file(path, "checkpoint", "; re-run its stage")
    arch, classes, net = network_from(ckpt, path)
    return arch, classes, net, origin(ckpt, path)
