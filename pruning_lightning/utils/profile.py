"""Efficiency profile of a network: size, FLOPs, peak inference memory, latency, energy.

What each figure means (MB = 10^6 bytes throughout):

* ``params`` / ``params_nonzero``, ``macs`` / ``flops`` (paper convention, docs/protocol.md §5): from
  :func:`count_complexity`, sparse-aware (only non-zero conv/linear weights) for masked nets.
* ``size_mb``: bytes of ``torch.save(net.state_dict())`` written to a memory buffer.
* ``sparse_size_mb`` (masked nets only): the same ``torch.save`` of a *bitmask + values* encoding:
  each floating-point parameter for which it is smaller is stored as a bit-packed ``uint8`` mask
  of its non-zeros (1 bit per element) plus the non-zero values; every other tensor stays dense.
  :func:`decode_bitmask` inverts it.
* ``peak_mem_mb_bs{N}``: peak inference memory of one forward at batch N = weight bytes (params +
  buffers) + the largest sum of live tensor bytes (input and activations) during the forward. It is
  an exact count of the tensors PyTorch's operators return, tracked by a ``TorchDispatchMode`` on
  the meta device (no compute, no real memory); kernels' internal scratch space is not visible.
  With a GPU, ``peak_mem_gpu_mb_bs{N}`` is ``torch.cuda.max_memory_allocated`` over that forward,
  minus what was allocated before the model was copied over (so it includes cuDNN workspaces).
* ``latency_cpu_ms`` (and ``latency_gpu_ms``): median wall time of a batch-1 forward under
  ``inference_mode``, after warm-up runs, with ``torch.get_num_threads()`` (``cpu_threads``) threads.
  On a loaded machine OpenMP threads contend and CPU figures can grow by orders of magnitude.
* ``energy_j_per_image``: GPU board energy from NVML's counter
  (``nvmlDeviceGetTotalEnergyConsumption``) over repeated batch-64 forwards, divided by images;
  it includes the board's idle draw while running. Without a GPU or ``pynvml``, the string "n/a".
"""

from __future__ import annotations

import copy
import io
import statistics
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from pruning_lightning.utils.flops import count_complexity

MB = 1e6


@dataclass
class Profile:
    """Efficiency figures of one network (see the module docstring for definitions)."""

    params: int
    params_nonzero: int
    macs: int
    flops: int
    size_mb: float
    sparse_size_mb: float | None = None
    peak_mem_mb: dict[int, float] = field(default_factory=dict)
    peak_mem_gpu_mb: dict[int, float] = field(default_factory=dict)
    latency_cpu_ms: float | None = None
    latency_gpu_ms: float | None = None
    energy_j_per_image: float | str = "n/a"
    energy_note: str = ""
    cpu_threads: int = field(default_factory=torch.get_num_threads)

    def as_dict(self) -> dict[str, Any]:
        """Flat, YAML-safe dict (for prune stats, reports and logger hparams)."""
        out: dict[str, Any] = {k: getattr(self, k) for k in ("params", "params_nonzero", "macs", "flops", "size_mb")}
        if self.sparse_size_mb is not None:
            out["sparse_size_mb"] = self.sparse_size_mb
        out.update({f"peak_mem_mb_bs{b}": v for b, v in self.peak_mem_mb.items()})
        out.update({f"peak_mem_gpu_mb_bs{b}": v for b, v in self.peak_mem_gpu_mb.items()})
        for k in ("latency_cpu_ms", "latency_gpu_ms"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        if self.latency_cpu_ms is not None:
            out["cpu_threads"] = self.cpu_threads
        out["energy_j_per_image"] = self.energy_j_per_image
        return out


# --- size on disk ---------------------------------------------------------------------------


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


# --- timing and energy ------------------------------------------------------------------------


def median_latency_ms(net: nn.Module, x: torch.Tensor, runs: int = 5, warmup: int = 2) -> float:
    """Median wall time of ``net(x)`` in ms (inference mode; synchronised on CUDA)."""
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    times = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            sync()
            t0 = time.perf_counter()
            net(x)
            sync()
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


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


def _nvml_handle(pynvml: Any) -> Any:
    # NVML numbers GPUs ignoring CUDA_VISIBLE_DEVICES, so match the current device by its UUID.
    dev = torch.cuda.current_device()
    uuid = getattr(torch.cuda.get_device_properties(dev), "uuid", None)
    if uuid is not None:
        try:
            return pynvml.nvmlDeviceGetHandleByUUID(f"GPU-{uuid}")
        except Exception:  # older pynvml wants bytes, or the format differs: fall back to the index
            pass
    return pynvml.nvmlDeviceGetHandleByIndex(dev)


def _gpu_energy(net: nn.Module, x: torch.Tensor, min_seconds: float = 1.0) -> tuple[float | str, str]:
    try:
        import pynvml
    except ImportError:
        return "n/a", "pynvml not installed"
    try:
        pynvml.nvmlInit()
        handle = _nvml_handle(pynvml)
        with torch.inference_mode():
            net(x)
            torch.cuda.synchronize()
            e0, t0, n = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle), time.perf_counter(), 0
            while n < 10 or time.perf_counter() - t0 < min_seconds:
                net(x)
                n += 1
            torch.cuda.synchronize()
            e1 = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        pynvml.nvmlShutdown()
        return (e1 - e0) / 1e3 / (n * x.shape[0]), f"NVML board energy over {n} batches of {x.shape[0]}"
    except Exception as e:  # NVML missing in the driver, counter unsupported on this GPU, ...
        return "n/a", f"NVML energy counter unavailable ({type(e).__name__})"


def efficiency_profile(
    net: nn.Module,
    input_size: tuple[int, int, int],
    sparse: bool = False,
    batch_sizes: Sequence[int] = (1, 64),
    latency: bool = True,
    runs: int = 5,
    warmup: int = 2,
) -> Profile:
    """Measure ``net`` (left in its mode and on its device). ``latency=False`` skips timing and energy."""
    c = count_complexity(net, input_size, sparse=sparse)
    prof = Profile(
        params=c.params,
        params_nonzero=c.params_nonzero,
        macs=c.macs,
        flops=c.flops,
        size_mb=saved_bytes(net.state_dict()) / MB,
        sparse_size_mb=saved_bytes(sparse_state_dict(net)) / MB if sparse else None,
        peak_mem_mb={b: peak_memory_mb(net, input_size, b) for b in batch_sizes},
    )
    if not latency and not torch.cuda.is_available():
        prof.energy_note = "no GPU"
        return prof
    cpu = copy.deepcopy(net).cpu().eval()
    if latency:
        prof.latency_cpu_ms = median_latency_ms(cpu, torch.zeros(1, *input_size), runs, warmup)
    if not torch.cuda.is_available():
        prof.energy_note = "no GPU"
        return prof
    prof.peak_mem_gpu_mb = {b: cuda_peak_memory_mb(cpu, input_size, b) for b in batch_sizes}
    if latency:
        gpu = copy.deepcopy(cpu).to("cuda")
        prof.latency_gpu_ms = median_latency_ms(gpu, torch.zeros(1, *input_size, device="cuda"), runs, warmup)
        prof.energy_j_per_image, prof.energy_note = _gpu_energy(gpu, torch.zeros(64, *input_size, device="cuda"))
        del gpu
        torch.cuda.empty_cache()
    else:
        prof.energy_note = "not measured without the latency runs"
    return prof
