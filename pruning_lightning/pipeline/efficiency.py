"""Efficiency of every model of a run beside its accuracy (``pruning-lightning report RUN_DIR --efficiency``).

One row per model: the large model (``seed{s}/large/checkpoints/last.ckpt``) and each method's pruned network
(``seed{s}/<method>/prune/pruned.pt``), both of the first seed (other seeds prune to near-identical widths):
params and FLOPs (the prune stage's measurement, sparse-aware under masks), the exported ONNX file and its gzip
size (``pruning_lightning/deploy``: simplified, masks baked in), median latency of a batch-1 forward in
ONNX Runtime (CPU, all threads) and eager PyTorch, and the best-epoch top-1 (mean over seeds) of every regime.
"""

from __future__ import annotations

import copy
import gzip
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from pruning_lightning.deploy.export import onnx_export, onnx_session, run_onnx
from pruning_lightning.deploy.simplify import simplify
from pruning_lightning.deploy.sources import from_artifact, from_checkpoint
from pruning_lightning.formats.run_dir import RunDir
from pruning_lightning.models import input_size
from pruning_lightning.pipeline.results import Row
from pruning_lightning.utils.table import human, markdown_table

NOTE = (
    "Exported = `pruning-lightning export`'s ONNX file (BN folded, selections folded, masks baked in); latency = "
    "median of {runs} batch-1 forwards after 2 warm-up runs, on this machine at report time ({threads} threads); "
    "dense runtimes gain nothing from unstructured zeros, which only the gzip size shows."
)


def median_ms(fn: Callable[[torch.Tensor], Any], x: torch.Tensor, runs: int) -> float:
    times = []
    for i in range(runs + 2):
        t0 = time.perf_counter()
        fn(x)
        if i >= 2:
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def measure(source: Path, runs: int = 5) -> dict[str, Any]:
    """Exported size and latencies of the network in ``source`` (a ``.ckpt`` or an artifact folder)."""
    load = from_checkpoint if source.suffix == ".ckpt" else from_artifact
    arch, net, masks, _ = load(str(source))
    size = input_size(arch)
    x = torch.zeros(1, *size)
    deploy = copy.deepcopy(net).eval()
    simplify(deploy, torch.zeros(2, *size), masks)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        onnx_export(deploy, torch.zeros(2, *size), path)
        data = path.read_bytes()
        session = onnx_session(path)
        ort_ms = median_ms(lambda t: run_onnx(session, t), x, runs)
    with torch.inference_mode():
        torch_ms = median_ms(net.eval(), x, runs)
    return {"onnx_mb": len(data) / 1e6, "gzip_mb": len(gzip.compress(data, 9)) / 1e6, "ort_ms": ort_ms,
            "torch_ms": torch_ms}  # fmt: skip


def efficiency_markdown(run_dir: Path, rows: list[Row], runs: int = 5) -> str:
    """The ``## Efficiency`` section of report.md (see module docstring)."""
    regimes = list(dict.fromkeys(r.regime for r in rows if r.regime != "large"))
    acc = {(r.method, r.regime): r.best_mean for r in rows}
    head = ["model", "params", "FLOPs", "ONNX (MB)", "gzip (MB)", "ORT bs1 (ms)", "torch bs1 (ms)", "large top-1"]
    head += [f"{g} top-1" for g in regimes]
    body = []
    for r in rows:
        if r.regime not in ("large", regimes[0] if regimes else ""):
            continue  # one row per model: the large one, and each method's pruned network
        seed = min(r.seeds)
        if r.regime == "large":
            name, source = "large", RunDir(run_dir).stage(seed, None, "large").last_ckpt
        else:
            name, source = r.method, RunDir(run_dir).stage(seed, r.method, "prune").path
        cells = [name, human(r.params), human(r.flops)]
        try:
            m = measure(source, runs)
            cells += [f"{m['onnx_mb']:.3f}", f"{m['gzip_mb']:.3f}", f"{m['ort_ms']:.2f}", f"{m['torch_ms']:.2f}"]
        except Exception as e:  # a run without the file (pruned.pt removed, checkpoints cleaned up): say so
            cells += [f"- ({type(e).__name__})", "-", "-", "-"]
        large = acc.get(("-", "large"), float("nan"))
        cells.append(f"{large:.2f}" if large == large else "-")
        for g in regimes:
            a = acc.get((r.method, g), float("nan")) if r.regime != "large" else float("nan")
            cells.append(f"{a:.2f}" if a == a else "-")
        body.append(cells)
    note = NOTE.format(runs=runs, threads=torch.get_num_threads())
    return "\n\n## Efficiency of the shipped models\n\n" + markdown_table(head, body) + "\n\n" + note + "\n"
