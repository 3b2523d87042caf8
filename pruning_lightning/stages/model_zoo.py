"""Model-zoo starting points: torchvision ImageNet weights in our ``resnet_imagenet`` / ``vgg_imagenet`` nets.

The reference code does not train the ImageNet large models of L1-norm ResNet-34 and of weight-level
ResNet-50 / VGG-16-BN: it loads the PyTorch model-zoo weights (``pretrained=True``, arXiv 1810.05270
Tables 1 and 6). :func:`zoo_network` builds the unpruned network of an ``ArchSpec`` and fills it from

* a local torchvision-format state dict (``weights_file``: what ``torchvision.models.resnet50(...)
  .state_dict()`` saves, or the ``.pth`` file torchvision downloads), or
* torchvision's weights API (``IMAGENET1K_V1``, the weights ``pretrained=True`` gave; needs network
  once, then torch hub's cache).

Key maps (torchvision -> ours), one per family, registered as its ``Family.zoo`` (``models/registry.py``):

* ``resnet_imagenet``: identical names (the family keeps torchvision's layout).
* ``vgg_imagenet``: ``features.{i}`` (the i-th module of torchvision's ``Sequential``) -> ``features.conv{j}`` /
  ``features.bn{j}``; ``classifier.{0,3,6}`` -> ``classifier.fc{1,2,3}``.
  The ``slimming`` VGG-11-BN head has BatchNorm1d after ``fc1`` / ``fc2`` that torchvision's ``vgg11_bn``
  lacks (and no dropout): they are set to the identity in eval mode (gamma 1, beta 0, running mean 0,
  running var 1 - eps), so the eval-mode outputs equal torchvision's; in training mode these BNs normalise.

:func:`zoo_checkpoint` wraps the network in the checkpoint format ``fit`` writes (``LargeModule``
hyper-parameters with the ``arch`` and ``num_classes`` = 1000, ``net.``-prefixed state dict, ``epoch`` /
``global_step``), so ``prune --ckpt`` and ``info --ckpt`` read it like a trained large model.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import lightning
import torch
from torch import nn

from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.checkpoint import read_torch_file
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.models.registry import ARCHS, ZooKeys
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.modules import ClassificationModule

WEIGHTS_TAG = "IMAGENET1K_V1"  # the weights of torchvision's `pretrained=True`, which the reference loaded
ZOO_CLASSES = 1000  # torchvision's ImageNet weights: ImageNet-1k heads


def torchvision_name(arch: ArchSpec) -> str:
    """torchvision builder of ``arch`` (``resnet50``, ``vgg16_bn``, ...); only the unpruned torchvision layouts."""
    arch = resolve(arch)
    zoo = _zoo(arch.family)
    if arch.cfg != resolve(arch.replace(cfg=None)).cfg or arch.options:
        raise PruningError(
            f"model-zoo weights fit only the unpruned {arch.family}-{arch.depth} (default cfg, no options); "
            "use the unpruned arch config"
        )
    return zoo.name(arch)


def _zoo(family: str) -> ZooKeys:
    """The model-zoo hook that ``family`` registers (``Family.zoo``)."""
    zoo = ARCHS[family].zoo if family in ARCHS else None
    if zoo is None:
        able = " and ".join(sorted(f for f, fam in ARCHS.items() if fam.zoo is not None))
        raise PruningError(f"model-zoo import covers {able}, not {family!r}")
    return zoo


def key_map(arch: ArchSpec) -> dict[str, str]:
    """torchvision state-dict prefix -> our prefix (module level: ``.weight`` etc. follow unchanged)."""
    arch = resolve(arch)
    torchvision_name(arch)
    return _zoo(arch.family).key_map(arch)


def convert(arch: ArchSpec, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A torchvision state dict renamed to our keys (unmapped keys are kept, for the error message)."""
    mapping = key_map(arch)
    out = {}
    for k, v in state.items():
        prefix = next((p for p in mapping if k.startswith(p)), None)
        out[mapping[prefix] + k[len(prefix) :] if prefix else k] = v
    return out


def _download(arch: ArchSpec) -> dict[str, torch.Tensor]:
    from torchvision.models import get_model_weights  # torchvision.models: on use (only zoo imports need it)

    name = torchvision_name(arch)
    weights = get_model_weights(name)[WEIGHTS_TAG]
    try:
        return weights.get_state_dict(progress=True)
    except Exception as e:  # URLError, socket errors, HTTP errors: all "no usable network"
        why = str(e).splitlines()[0] if str(e) else "no network"
        raise PruningError(
            f"cannot download the torchvision weights {type(weights).__name__}.{WEIGHTS_TAG} ({type(e).__name__}: "
            f"{why}); fetch {weights.url} elsewhere and pass --weights FILE"
        ) from None


def _read(path: str | os.PathLike) -> dict[str, torch.Tensor]:

    data = read_torch_file(path, "torchvision weights file", "; pass a torchvision-format state dict")
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise PruningError(f"{path} is not a state dict (name -> tensor) of a torchvision model")
    return data


def _identity_head_bns(net: nn.Module) -> None:
    """The slimming head's BatchNorm1d as eval-mode identities (see the module docstring)."""
    for m in net.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.weight.data.fill_(1.0)
            m.bias.data.zero_()
            # the head's BatchNorm1d are built with the default track_running_stats=True
            assert m.running_mean is not None and m.running_var is not None
            m.running_mean.zero_()
            m.running_var.fill_(1.0 - m.eps)


def zoo_network(arch: ArchSpec, weights_file: str | os.PathLike | None = None) -> tuple[ArchSpec, nn.Module, str]:
    """The unpruned network of ``arch`` with model-zoo weights; also returns where they came from."""
    arch = resolve(arch)
    name = torchvision_name(arch)
    state = _read(weights_file) if weights_file else _download(arch)
    source = str(weights_file) if weights_file else f"torchvision {name} {WEIGHTS_TAG}"
    net = build_arch(arch, ZOO_CLASSES)
    own = net.state_dict()
    ours = convert(arch, state)
    if arch.variant == "slimming":
        _identity_head_bns(net)
        ours = {**{k: v for k, v in net.state_dict().items() if ".bn_fc" in k}, **ours}
    missing = sorted(set(own) - set(ours))
    extra = sorted(set(ours) - set(own))
    bad = [k for k in own if k in ours and ours[k].shape != own[k].shape]
    if missing or extra or bad:
        what = (f"missing {missing[0]}" if missing else f"unexpected {extra[0]}" if extra else
                f"{bad[0]} has shape {tuple(ours[bad[0]].shape)}, not {tuple(own[bad[0]].shape)}")  # fmt: skip
        raise PruningError(f"{source} does not fit torchvision {name} ({what}); pass the weights of {name}")
    net.load_state_dict(ours)
    return arch, net, source


def large_hparams(arch: ArchSpec) -> dict[str, Any]:
    """``LargeModule`` hyper-parameters as ``fit`` records them (defaults; the ``arch`` as plain data)."""
    sig = inspect.signature(ClassificationModule.__init__)
    hp: dict[str, Any] = {
        "_class_path": "pruning_lightning.modules.LargeModule",
        "arch": resolve(arch).to_dict(),
        "num_classes": ZOO_CLASSES,
    }
    for k, p in sig.parameters.items():
        if k not in ("self", "arch", "num_classes") and p.default is not inspect.Parameter.empty:
            hp[k] = list(p.default) if isinstance(p.default, tuple) else p.default
    return hp


def zoo_checkpoint(arch: ArchSpec, net: nn.Module, source: str) -> dict[str, Any]:
    """A checkpoint in ``fit``'s format holding ``net`` (``imported_from`` records the weights' origin)."""
    return {
        "pytorch-lightning_version": lightning.__version__,
        "hyper_parameters": large_hparams(arch),
        "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
        "epoch": 0,
        "global_step": 0,
        "imported_from": source,
    }
