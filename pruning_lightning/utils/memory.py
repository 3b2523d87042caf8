"""Size and memory of a network: bytes on disk (dense and bitmask-sparse), peak inference memory.

Definitions of the figures: :mod:`pruning_lightning.utils.profile`.
"""

from __future__ import annotations

import copy
import io
import weakref
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

MB = 1e6


def saved_bytes(obj: Any) -> int:
    """Bytes ``torch.save`` writes for ``obj``."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getbuffer().nbytes


def encode_bitmask(t: torch.Tensor) -> dict[str, torch.Tensor]:
    """``{"shape", "bitmask" (uint8, 8 elements per byte, MSB first), "values" (non-zeros)}``."""
    flat = t.detach().flatten().cpu()
    nz = flat != 0
    bits = torch.nn.functional.pad(nz.to(torch.uint8), (0, (-flat.numel()) % 8)).view(-1, 8)
    weights = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8)
    packed = (bits * weights).sum(1, dtype=torch.uint8)
    return {"shape": torch.tensor(t.shape), "bitmask": packed, "values": flat[nz].clone()}


def decode_bitmask(enc: dict[str, torch.Tensor]) -> torch.Tensor:
    """Inverse of :func:`encode_bitmask`."""
    shape = torch.Size(enc["shape"].tolist())
    shifts = torch.arange(7, -1, -1, dtype=torch.uint8)
    nz = ((enc["bitmask"].unsqueeze(1) >> shifts) & 1).flatten()[: shape.numel()].bool()
    out = torch.zeros(shape.numel(), dtype=enc["values"].dtype)
    out[nz] = enc["values"]
    return out.view(shape)


def sparse_state_dict(net: nn.Module) -> dict[str, Any]:
    """State dict with each floating parameter bitmask-encoded where that is smaller."""
    params = {n for n, _ in net.named_parameters()}
    out: dict[str, Any] = {}
    for name, t in net.state_dict().items():
        if name in params and t.is_floating_point():
            nnz = int(torch.count_nonzero(t))
            if (t.numel() + 7) // 8 + nnz * t.element_size() < t.numel() * t.element_size():
                out[name] = encode_bitmask(t)
                continue
        out[name] = t
    return out


# --- peak memory ------------------------------------------------------------------------------


class LiveBytes(TorchDispatchMode):
    """Tracks the bytes of live tensor storages created by operators under this mode, and their peak.

    Storages are keyed by identity, so views and in-place results are not counted twice; a storage
    is released when the last tensor seen on it is garbage-collected.
    """

    def __init__(self, ignore: Sequence[torch.Tensor] = ()) -> None:
        super().__init__()
        self.ignore = {t.untyped_storage()._cdata for t in ignore}
        self.refs: dict[int, int] = {}
        self.sizes: dict[int, int] = {}
        self.live = self.peak = 0

    def _release(self, key: int) -> None:
        self.refs[key] -= 1
        if self.refs[key] == 0:
            del self.refs[key]
            self.live -= self.sizes.pop(key)

    def track(self, t: torch.Tensor) -> None:
        """Count ``t``'s storage as live until ``t`` (and every other tracked view on it) dies."""
        key = t.untyped_storage()._cdata
        if key in self.ignore:
            return
        if key not in self.refs:
            self.refs[key] = 0
            self.sizes[key] = t.untyped_storage().nbytes()
            self.live += self.sizes[key]
            self.peak = max(self.peak, self.live)
        self.refs[key] += 1
        weakref.finalize(t, self._release, key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self.track(t)
        return out


def weight_bytes(net: nn.Module) -> int:
    """Bytes of all distinct parameter and buffer storages."""
    seen: dict[int, int] = {}
    for t in [*net.parameters(), *net.buffers()]:
        seen[t.untyped_storage()._cdata] = t.untyped_storage().nbytes()
    return sum(seen.values())


def _live_peak(model: nn.Module, input_size: tuple[int, ...], batch: int, device: torch.device) -> int:
    with torch.no_grad(), LiveBytes(ignore=[*model.parameters(), *model.buffers()]) as mode:
        model(torch.zeros(batch, *input_size, device=device))
    return mode.peak


def peak_activation_bytes(net: nn.Module, input_size: tuple[int, ...], batch: int) -> int:
    """Peak live bytes of input + activations of one eval forward (exact tensor-size count).

    Runs on the meta device (shapes only); an operator without a meta kernel falls back to a real
    CPU forward, which gives the same count.
    """
    try:
        return _live_peak(copy.deepcopy(net).eval().to("meta"), input_size, batch, torch.device("meta"))
    except (NotImplementedError, RuntimeError):
        return _live_peak(copy.deepcopy(net).eval().cpu(), input_size, batch, torch.device("cpu"))


def peak_memory_mb(net: nn.Module, input_size: tuple[int, ...], batch: int) -> float:
    """Weights + peak live activations of one eval forward at ``batch``, in MB."""
    was_training = net.training
    try:
        return (weight_bytes(net) + peak_activation_bytes(net, input_size, batch)) / MB
    finally:
        net.train(was_training)


def cuda_peak_memory_mb(net: nn.Module, input_size: tuple[int, ...], batch: int) -> float:
    """``max_memory_allocated`` of copying ``net`` to the GPU and one eval forward at ``batch``, in MB."""
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    model = copy.deepcopy(net).to("cuda").eval()
    with torch.inference_mode():
        model(torch.zeros(batch, *input_size, device="cuda"))
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    del model
    torch.cuda.empty_cache()
    return peak / MB
