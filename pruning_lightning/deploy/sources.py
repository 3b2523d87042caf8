"""The network to deploy, with its unstructured masks, from a pruned artifact or a Lightning checkpoint."""

from __future__ import annotations

import torch

from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.artifact import load_artifact
from pruning_lightning.formats.checkpoint import network_from, origin, read_torch_file
from pruning_lightning.models import build_arch
from pruning_lightning.models.spec import ArchSpec

MASK_BUFFERS = "weight_masks."


def from_artifact(path: str) -> tuple[ArchSpec, torch.nn.Module, dict[str, torch.Tensor], str]:
    art = load_artifact(path)
    net = build_arch(art.arch, art.num_classes)
    masks = {k[5:]: v for k, v in art.structure.items() if k.startswith("mask:")}
    missing, unexpected = net.load_state_dict({**art.structure, **art.weights}, strict=False)
    unexpected = [k for k in unexpected if not k.startswith("mask:")]
    if unexpected or any(not k.endswith("indexes") for k in missing):
        raise PruningError(f"weights in {path} do not fit its architecture ({(unexpected or missing)[0]})")
    return art.arch, net, masks, f"{path} (pruned by {art.method})"


def from_checkpoint(path: str) -> tuple[ArchSpec, torch.nn.Module, dict[str, torch.Tensor], str]:
    ckpt = read_torch_file(path, "checkpoint", "; give a .ckpt written by `pruning-lightning fit`")
    if not isinstance(ckpt, dict):
        raise PruningError(f"{path} is not a pruning-lightning checkpoint (a {type(ckpt).__name__}, not a dict)")
    arch, _, net = network_from(ckpt, path)
    state = ckpt.get("state_dict") or {}
    masks = {k[len(MASK_BUFFERS) :].replace("/", "."): v for k, v in state.items() if k.startswith(MASK_BUFFERS)}
    return arch, net, masks, origin(ckpt, path)
