"""Read a Lightning checkpoint of ours back into (arch, network) without the LightningModule."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.models.spec import ArchSpec
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


def network_from(ckpt: Any, path: str | os.PathLike) -> tuple[ArchSpec, nn.Module]:
    """Rebuild the network of an already-read Lightning checkpoint dict (``path`` is for messages)."""
    try:
        arch = resolve(ckpt["hyper_parameters"]["arch"])
        state = {k[4:]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    except (KeyError, TypeError) as e:
        raise PruningError(f"{path} is not a pruning-lightning checkpoint (no {e} entry)") from e
    check_finite(state, f"checkpoint {path}")
    net = build_arch(arch)
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise PruningError(f"weights in {path} do not fit its architecture: {str(e).splitlines()[0]}") from e
    return arch, net


def origin(ckpt: Any, path: str | os.PathLike) -> str:
    """Where a checkpoint's state comes from, for messages and records: file, epoch count, global step."""
    epoch, step = ckpt.get("epoch"), ckpt.get("global_step")
    if ckpt.get("imported_from"):  # `pruning-lightning zoo`: model-zoo weights, not a run of ours
        return f"{path} (imported from {ckpt['imported_from']})"
    if epoch is None:
        return str(path)
    return f"{path} (after epoch {int(epoch) + 1}, global step {step})"


def load_network(path: str | os.PathLike) -> tuple[ArchSpec, nn.Module, str]:
    """Rebuild the (possibly pruned) network stored in a checkpoint, under ``weights_only=True``.

    Returns the architecture, the network and :func:`origin` of the checkpoint.
    """
    ckpt = read_torch_file(path, "checkpoint", "; re-run its stage")
    arch, net = network_from(ckpt, path)
    return arch, net, origin(ckpt, path)
