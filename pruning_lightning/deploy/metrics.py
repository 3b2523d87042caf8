"""Metrics of the shipped model (``pruning-lightning info --deploy``): the exported ONNX file as it is deployed.

* file size of ``model.onnx`` and its gzip-compressed size (level 9): zeros of unstructured pruning compress;
* for unstructured sparsity, what a sparse format stores for the conv/linear weights (every other tensor dense):
  **bitmask + values** (1 bit per element + the non-zero float32 values) and **CSR** (values + int32 column
  index per non-zero + int32 row pointers, the weight viewed as ``out x rest``); each tensor counts at the
  smaller of its dense and sparse size. Dense runtimes (ONNX Runtime, PyTorch) do **not** run such a model
  faster: a zero weight costs the same multiply-add as any other; only storage and transfer shrink;
* peak memory in ONNX Runtime: the resident-set high-water mark (``VmHWM``) of a fresh process that loads the
  file and runs one batch (input included), minus its resident set after importing ONNX Runtime, with the
  high-water mark reset there (``/proc/self/clear_refs``, Linux): weights, arena, activations and the runtime's own
  allocations, at page granularity;
* energy per image: NVML board energy when a GPU is visible (ONNX Runtime runs on CPU here, so the PyTorch
  model on the GPU is measured), else the RAPL package counter ``/sys/class/powercap/intel-rapl:0/energy_uj``
  over repeated batch-64 runs in ONNX Runtime (the whole CPU package: other processes' work counts too);
  where neither is readable, "not measurable here" and why.
"""

from __future__ import annotations

import copy
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pruning_lightning.deploy.export import onnx_export, onnx_session, require
from pruning_lightning.deploy.simplify import simplify

RAPL = Path("/sys/class/powercap/intel-rapl:0/energy_uj")
_PEAK_SCRIPT = """
import json, sys
import numpy as np
import onnxruntime as ort

def kb(key):
    return int(next(ln.split()[1] for ln in open("/proc/self/status") if ln.startswith(key + ":")))

with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets the peak resident set (VmHWM) to the current one: the imports' peak is forgotten
base = kb("VmRSS")
s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
x = np.zeros([int(v) for v in sys.argv[2:]], dtype=np.float32)
s.run(None, {s.get_inputs()[0].name: x})
print(json.dumps({"base_kb": base, "peak_kb": kb("VmHWM")}))
"""


def sparse_bytes(tensors: dict[str, torch.Tensor]) -> dict[str, int]:
    """Bytes of dense float32 storage, of bitmask + values, and of CSR, over ``tensors`` (see module docstring)."""
    dense = bitmask = csr = 0
    for t in tensors.values():
        n, nnz = t.numel(), int((t != 0).sum())
        size = n * t.element_size()
        dense += size
        is_weight = t.dim() >= 2 and t.is_floating_point()
        bitmask += min(size, (n + 7) // 8 + nnz * t.element_size()) if is_weight else size
        csr += min(size, nnz * (t.element_size() + 4) + (t.shape[0] + 1) * 4) if is_weight else size
    return {"dense": dense, "bitmask_values": bitmask, "csr": csr}


def ort_peak_mb(path: Path, shape: tuple[int, ...]) -> float:
    """Resident-set growth (MB) of a fresh process running one batch of ``shape`` through ``path``."""
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, str(path), *map(str, shape)], capture_output=True, text=True, timeout=600
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed")
    kb = json.loads(out.stdout.strip().splitlines()[-1])
    return (kb["peak_kb"] - kb["base_kb"]) * 1024 / 1e6


def energy_per_image(path: Path, net: nn.Module, shape: tuple[int, ...], min_seconds: float = 1.0) -> tuple[Any, str]:
    """(joules per image, how) or ("not measurable here", why)."""
    if torch.cuda.is_available():
        from pruning_lightning.utils.profile import _gpu_energy

        gpu = copy.deepcopy(net).cuda().eval()
        return _gpu_energy(gpu, torch.zeros(*shape, device="cuda"), min_seconds)
    try:
        RAPL.read_text()
    except OSError as e:
        why = "does not exist" if isinstance(e, FileNotFoundError) else f"is not readable ({e.strerror})"
        return "not measurable here", f"no GPU for NVML, and the RAPL counter {RAPL} {why} (containers/VMs hide it)"
    session, x = onnx_session(path), torch.zeros(*shape).numpy()
    feed = {session.get_inputs()[0].name: x}
    session.run(None, feed)
    e0, t0, n = int(RAPL.read_text()), time.perf_counter(), 0
    while n < 3 or time.perf_counter() - t0 < min_seconds:
        session.run(None, feed)
        n += 1
    e1 = int(RAPL.read_text())
    if e1 < e0:
        return "not measurable here", "the RAPL counter wrapped during the measurement; run again"
    return (e1 - e0) / 1e6 / (n * shape[0]), f"RAPL CPU package energy over {n} batches of {shape[0]} in ONNX Runtime"


def shipped_metrics(
    net: nn.Module, input_size: tuple[int, ...], masks: dict[str, torch.Tensor] | None = None, energy: bool = True
) -> dict[str, Any]:
    """Export ``net`` (simplified) to ONNX in a temporary folder and measure the file (see module docstring)."""
    require("onnxruntime")
    deploy = copy.deepcopy(net).eval()
    example = torch.zeros(2, *input_size)
    simplify(deploy, example, masks)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        out["exporter"] = onnx_export(deploy, example, path)
        data = path.read_bytes()
        out["onnx_bytes"], out["onnx_gzip_bytes"] = len(data), len(gzip.compress(data, 9))
        if masks:
            out["sparse"] = sparse_bytes({k: v.detach() for k, v in deploy.state_dict().items()})
        for batch in (1, 64):
            try:
                out[f"ort_peak_mb_bs{batch}"] = ort_peak_mb(path, (batch, *input_size))
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                out[f"ort_peak_mb_bs{batch}"] = f"not measured ({type(e).__name__}: {e})"
        if energy:
            out["energy_j_per_image"], out["energy_note"] = energy_per_image(path, deploy, (64, *input_size))
        else:
            out["energy_j_per_image"], out["energy_note"] = "not measured", "--no-latency"
    return out
