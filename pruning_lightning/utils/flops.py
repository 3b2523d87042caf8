"""Parameter and FLOP counting.

MACs come from ``torch.utils.flop_counter.FlopCounterMode`` (which counts 2 FLOPs per multiply-add
for convs and matmuls). The paper's convention (docs/protocol.md §5) adds to ``2 * MACs``: conv/linear
biases, BatchNorm (2 per input element), ReLU (1 per input element) and pooling *modules*
(k^2 per output element; inline functional pooling is not counted, as in the reference counter).

With ``sparse=True`` the conv and linear terms use the number of non-zero weights instead of the
dense count (the reference's weight-level counter), so masked networks get their real cost.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass(frozen=True)
class Complexity:
    """Size and cost of one forward pass of one image."""

    params: int
    params_nonzero: int
    macs: int
    flops: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def count_params(model: nn.Module) -> int:
    """All parameter elements (selection indexes and masks are buffers, so not counted)."""
    return sum(p.numel() for p in model.parameters())


def count_complexity(model: nn.Module, input_size: tuple[int, int, int], sparse: bool = False) -> Complexity:
    """Count params, MACs and paper-convention FLOPs of ``model`` on one ``input_size`` image.

    Args:
        model: the network (left in its original train/eval mode and device).
        input_size: (C, H, W) of one image.
        sparse: count only non-zero conv/linear weights (for masked, unstructured-pruned nets).
    """
    extra = 0
    sparse_saving = 0

    def hook(m: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal extra, sparse_saving
        x = inputs[0]
        if isinstance(m, nn.Conv2d):
            positions = out.shape[2] * out.shape[3]
            if m.bias is not None:
                extra += m.out_channels * positions
            if sparse:
                sparse_saving += (m.weight.numel() - int(torch.count_nonzero(m.weight))) * positions
        elif isinstance(m, nn.Linear):
            if m.bias is not None:
                extra += m.out_features
            if sparse:
                sparse_saving += m.weight.numel() - int(torch.count_nonzero(m.weight))
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            extra += 2 * x.numel()
        elif isinstance(m, (nn.ReLU, nn.ReLU6, nn.LeakyReLU)):
            extra += x.numel()
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
            extra += k * k * out.numel()
        elif isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            extra += x.numel()

    was_training = model.training
    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    param = next(model.parameters())
    try:
        model.eval()
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(torch.zeros(1, *input_size, device=param.device, dtype=param.dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    macs = counter.get_total_flops() // 2 - sparse_saving
    nonzero = sum(int(torch.count_nonzero(p)) for p in model.parameters())
    return Complexity(params=count_params(model), params_nonzero=nonzero, macs=macs, flops=2 * macs + extra)
