"""Inference-time simplifications of a trained (possibly pruned) network, before export.

Every pass works on module types and on the data flow of a ``torch.export`` graph of the network, never
on family names, and leaves the network's function unchanged (up to float rounding):

1. **masks baked in**: ``weight *= mask`` for every unstructured mask (magnitude / lottery,
   ``pruning_lightning/callbacks/masks.py``), so the exported zeros are exact zeros.
2. **dropout removed**: every ``nn.Dropout*`` becomes ``nn.Identity`` (a no-op in eval anyway).
3. **channel selections** (``ChannelSelection`` of the slimming PreResNet / DenseNet and of pruned ImageNet
   ResNets, arXiv 1810.05270 Table 4) become the cheapest equivalent:

   * all channels selected: removed;
   * the selection reaches one conv/linear through channel-wise ops only (ReLU, pooling, a flatten of
     1x1 maps) and zero-padding that layer's input weights costs fewer multiply-adds than the gather
     copies (``fold="cheaper"``, the default; ``fold="always"``: whatever it costs): the kept indices are
     **folded into that layer** (its weights scattered to the full width, zeros elsewhere; a dropped channel
     then meets a zero weight, so it adds exactly nothing; ``docs/benchmarks.md``, deploy_latency, times both);
   * otherwise **one** ``index_select`` (:class:`Gather`); when the selection reads a BatchNorm that
     nothing else reads, the gather moves in front of it and the BatchNorm shrinks to the kept channels.
4. **BatchNorm folded** into the conv/linear right before it (``torch.nn.utils.fusion``), where the
   BatchNorm is the only reader of that layer's output. Pre-activation BNs (after a sum or a concatenation)
   have no such layer and stay.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import fx, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models.layers import ChannelSelection

aten = torch.ops.aten
BATCH_NORMS = {aten.batch_norm.default, aten._native_batch_norm_legit_no_training.default}
LAYERS = {aten.conv2d.default, aten.linear.default}
# Ops that act on each channel separately (the channel stays at dim 1): a dropped channel stays apart.
CHANNELWISE = {
    aten.relu.default,
    aten.relu_.default,
    aten.avg_pool2d.default,
    aten.max_pool2d.default,
    aten.adaptive_avg_pool2d.default,
    aten.clone.default,
}
FLATTENS = {aten.flatten.using_ints, aten.view.default, aten.reshape.default}
FOLDS = ("cheaper", "always")
Fold = Literal["cheaper", "always"]


class Gather(nn.Module):
    """Keep the channels ``index`` of dim 1: one ``index_select`` (export-friendly: a plain index buffer)."""

    index: torch.Tensor

    def __init__(self, index: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("index", index.detach().flatten().long().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.index_select(x, 1, self.index)

    def extra_repr(self) -> str:
        return f"{self.index.numel()} channels"


@dataclass
class Simplified:
    """What :func:`simplify` did, for the export report."""

    masks_baked: int = 0
    dropouts_removed: int = 0
    selections_removed: list[str] = field(default_factory=list)
    selections_folded: list[str] = field(default_factory=list)
    gathers: list[str] = field(default_factory=list)
    bn_folded: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _set(net: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(net.get_submodule(parent) if parent else net, name, module)


def bake_masks(net: nn.Module, masks: dict[str, torch.Tensor]) -> int:
    """``param *= mask`` for every mask (keyed by parameter name); returns how many."""
    params = dict(net.named_parameters())
    with torch.no_grad():
        for name, mask in masks.items():
            params[name].mul_(mask.to(params[name].dtype))
    return len(masks)


def remove_dropout(net: nn.Module) -> int:
    found = [n for n, m in net.named_modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    for name in found:
        _set(net, name, nn.Identity())
    return len(found)


def _graph(net: nn.Module, x: torch.Tensor) -> fx.Graph:
    return torch.export.export(net, (x,), strict=False).graph


def _owner(node: fx.Node) -> str:
    """Module path of the innermost module that issued ``node`` ("" for the top level)."""
    stack = node.meta.get("nn_module_stack") or {}
    return str(list(stack.values())[-1][0]) if stack else ""


def _shape(node: Any) -> tuple[int, ...]:
    val = node.meta.get("val") if isinstance(node, fx.Node) else None
    return tuple(int(s) for s in val.shape) if val is not None and hasattr(val, "shape") else ()


def _only_user(node: fx.Node) -> fx.Node | None:
    return next(iter(node.users)) if len(node.users) == 1 else None


def _consumer(node: fx.Node) -> fx.Node | None:
    """The conv/linear that alone reads ``node`` through channel-wise ops, or None."""
    cur = node
    while (user := _only_user(cur)) is not None and user.args and user.args[0] is cur:
        if user.target in LAYERS:
            return user
        flat_ok = user.target in FLATTENS and all(s == 1 for s in _shape(cur)[2:]) and len(_shape(user)) == 2
        if user.target not in CHANNELWISE and not flat_ok:
            return None
        cur = user
    return None


def _widened(layer: nn.Module, index: torch.Tensor, full: int) -> nn.Module:
    """A copy of ``layer`` that reads ``full`` input channels: its weights at ``index``, zeros elsewhere."""
    new = copy.deepcopy(layer)
    weight = layer.weight
    assert isinstance(weight, torch.Tensor)
    wide = weight.detach().new_zeros((weight.shape[0], full, *weight.shape[2:]))
    wide[:, index] = weight.detach()
    new.weight = nn.Parameter(wide)
    setattr(new, "in_features" if isinstance(new, nn.Linear) else "in_channels", full)
    return new


def _fold_cost(layer: nn.Module, consumer: fx.Node, dropped: int) -> int:
    """Multiply-adds per image that zero-padding ``layer``'s input by ``dropped`` channels adds."""
    if isinstance(layer, nn.Linear):
        return dropped * layer.out_features
    if isinstance(layer, nn.Conv2d) and layer.groups == 1:
        return dropped * layer.out_channels * math.prod(layer.kernel_size) * math.prod(_shape(consumer)[2:])
    return -1  # grouped conv: not folded


def selections(net: nn.Module, x: torch.Tensor, report: Simplified, fold: Fold = "cheaper") -> None:
    """Pass 3 of the module docstring (``net`` is changed in place)."""
    for name, m in list(net.named_modules()):
        if isinstance(m, ChannelSelection):
            keep = torch.nonzero(m.indexes).flatten()
            if keep.numel() == m.indexes.numel():
                _set(net, name, nn.Identity())
                report.selections_removed.append(name)
            else:
                _set(net, name, Gather(keep))
    gathers = {n: m for n, m in net.named_modules() if isinstance(m, Gather)}
    if not gathers:
        return
    calls = [n for n in _graph(net, x).nodes if n.op == "call_function" and _owner(n) in gathers]
    counts = {n: sum(_owner(c) == n for c in calls) for n in gathers}
    for node in calls:
        name, gather = _owner(node), gathers[_owner(node)]
        if counts[name] != 1 or node.target != aten.index_select.default:
            report.gathers.append(name)
            continue
        src = node.args[0]
        assert isinstance(src, fx.Node)
        full, kept = _shape(src)[1], gather.index.numel()
        consumer = _consumer(node)
        if consumer is not None:
            layer = net.get_submodule(_owner(consumer))
            cost = _fold_cost(layer, consumer, full - kept)
            copies = kept * math.prod(_shape(node)[2:])  # elements the gather copies per image
            if cost >= 0 and (fold == "always" or cost <= copies):
                _set(net, _owner(consumer), _widened(layer, gather.index, full))
                _set(net, name, nn.Identity())
                report.selections_folded.append(f"{name} -> {_owner(consumer)}")
                continue
        bn = net.get_submodule(_owner(src)) if src.target in BATCH_NORMS else None
        if isinstance(bn, nn.BatchNorm2d) and len(src.users) == 1:
            _set(net, _owner(src), nn.Sequential(gather, _shrunk_bn(bn, gather.index)))
            _set(net, name, nn.Identity())
            name = f"{name} (before {_owner(src)})"
        report.gathers.append(name)


def _shrunk_bn(bn: nn.BatchNorm2d, index: torch.Tensor) -> nn.BatchNorm2d:
    new = nn.BatchNorm2d(index.numel(), eps=bn.eps, affine=bn.affine).eval()
    with torch.no_grad():
        for key in ("weight", "bias", "running_mean", "running_var"):
            if getattr(bn, key) is not None:
                getattr(new, key).copy_(getattr(bn, key)[index])
    return new.to(bn.running_mean.dtype if bn.running_mean is not None else torch.float32)


def fold_batchnorms(net: nn.Module, x: torch.Tensor, report: Simplified) -> None:
    """Pass 4 of the module docstring (``net`` is changed in place)."""
    nodes = [n for n in _graph(net, x).nodes if n.op == "call_function"]
    calls: dict[str, int] = {}
    for n in nodes:
        calls[_owner(n)] = calls.get(_owner(n), 0) + 1
    for bn_node in nodes:
        src = bn_node.args[0] if bn_node.target in BATCH_NORMS else None
        if not isinstance(src, fx.Node) or src.target not in LAYERS or len(src.users) != 1:
            continue
        layer_name, bn_name = _owner(src), _owner(bn_node)
        layer, bn = net.get_submodule(layer_name), net.get_submodule(bn_name)
        if calls[layer_name] != 1 or calls[bn_name] != 1 or not isinstance(bn, nn.modules.batchnorm._BatchNorm):
            continue
        if isinstance(layer, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            fused: nn.Module = fuse_conv_bn_eval(layer, bn)
        elif isinstance(layer, nn.Linear) and isinstance(bn, nn.BatchNorm1d):
            fused = fuse_linear_bn_eval(layer, bn)
        else:
            continue
        _set(net, layer_name, fused)
        _set(net, bn_name, nn.Identity())
        report.bn_folded.append(f"{bn_name} -> {layer_name}")


def simplify(
    net: nn.Module,
    x: torch.Tensor,
    masks: dict[str, torch.Tensor] | None = None,
    fold_bn: bool = True,
    fold: Fold = "cheaper",
) -> Simplified:
    """Apply the passes of the module docstring to ``net`` (eval mode, changed in place) for inputs like ``x``;
    ``fold`` ("cheaper" / "always") picks the selections folded into the layer they feed (pass 3)."""
    if fold not in FOLDS:
        raise PruningError(f"fold must be one of {', '.join(FOLDS)}, got {fold!r}")
    net.eval()
    report = Simplified(masks_baked=bake_masks(net, masks or {}), dropouts_removed=remove_dropout(net))
    selections(net, x, report, fold)
    if fold_bn:
        fold_batchnorms(net, x, report)
    return report
