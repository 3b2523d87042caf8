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
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from pruning_lightning.utils.flops import count_complexity
from pruning_lightning.utils.memory import (
    MB,
    cuda_peak_memory_mb,
    peak_memory_mb,
    saved_bytes,
    sparse_state_dict,
)


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
        import pynvml  # optional dependency (nvidia-ml-py): only where a GPU is measured
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
