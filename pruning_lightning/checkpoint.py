"""Read a Lightning checkpoint of ours back into (arch, network) without the LightningModule."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from pruning_lightning.errors import PruningError
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.models.spec import ArchSpec


def load_network(path: str | os.PathLike) -> tuple[ArchSpec, nn.Module]:
    """Rebuild the (possibly pruned) network stored in a checkpoint, under ``weights_only=True``."""
    p = Path(path)
    if not p.is_file():
        raise PruningError(f"checkpoint not found: {p}")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise PruningError(f"checkpoint {p} is unreadable or truncated ({type(e).__name__}); re-run its stage") from e
    try:
        arch = resolve(ckpt["hyper_parameters"]["arch"])
        state = {k[4:]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    except (KeyError, TypeError) as e:
        raise PruningError(f"{p} is not a pruning-lightning checkpoint (no {e} entry)") from e
    net = build_arch(arch)
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise PruningError(f"weights in {p} do not fit its architecture: {str(e).splitlines()[0]}") from e
    return arch, net
