"""Export a (pruned) network to ONNX and to a ``torch.export`` program, and check both against PyTorch.

``pruning-lightning export`` writes ``model.onnx``, ``model.pt2`` and ``export.yaml`` into a fresh folder,
atomically (``formats.fresh.fresh_folder``: a temporary folder renamed at the end: all files or none). The batch
dimension is dynamic in both.

ONNX: ``torch.onnx.export(..., dynamo=True)`` (the ``torch.export``-based exporter, needs ``onnxscript``); when it
fails, the TorchScript exporter (``dynamo=False``) at the same opset. The report names the exporter and the opset.
Checks: the ONNX file in ONNX Runtime (CPU execution provider) and the ``.pt2`` after ``torch.export.load``, each
against the *unsimplified* PyTorch network on the same inputs: max |logit difference| and top-1 agreement.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from pruning_lightning.core.errors import PruningError
from pruning_lightning.deploy.simplify import Fold, simplify

OPSET = 18
RUNTIMES = {"onnx": "onnx", "onnxruntime": "onnxruntime", "onnxscript": "onnxscript"}
INSTALL_HINT = "pip install -e '.[deploy]' (or: pip install onnx onnxruntime onnxscript)"


def require(module: str) -> Any:
    """Import ``module`` or fail with one clear line naming what to install."""
    try:
        return import_module(module)
    except ImportError:
        raise PruningError(f"{module} is not installed, and export needs it; {INSTALL_HINT}") from None


@dataclass
class Check:
    """One exported model against the PyTorch network."""

    max_abs_diff: float
    top1_agreement: float
    inputs: int

    def line(self, what: str) -> str:
        return (
            f"{what}: max |logit diff| {self.max_abs_diff:.3g}, top-1 agreement {self.top1_agreement:.1%} "
            f"on {self.inputs} inputs"
        )


@dataclass
class ExportReport:
    exporter: str
    opset: int
    onnx: Check
    pt2: Check
    simplified: dict[str, Any] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)


def compare(reference: torch.Tensor, got: torch.Tensor) -> Check:
    got = got.to(reference.dtype)
    diff = float((reference - got).abs().max()) if reference.numel() else 0.0
    agree = float((reference.argmax(1) == got.argmax(1)).float().mean())
    return Check(diff, agree, int(reference.shape[0]))


def onnx_export(net: nn.Module, x: torch.Tensor, path: Path, opset: int = OPSET) -> str:
    """Write ``net`` to ``path``; returns the exporter used ("dynamo" or "torchscript")."""
    require("onnx")
    batch = torch.export.Dim("batch", min=1, max=65536)
    try:
        require("onnxscript")
        torch.onnx.export(
            net,
            (x,),
            str(path),
            dynamo=True,
            opset_version=opset,
            dynamic_shapes=({0: batch},),
            input_names=["input"],
            output_names=["logits"],
            external_data=False,
            verbose=False,
        )
        return "dynamo"
    except PruningError:
        raise
    except Exception:  # a graph the dynamo exporter cannot take: the TorchScript exporter
        path.unlink(missing_ok=True)
        torch.onnx.export(
            net,
            (x,),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
        return "torchscript"


def onnx_opset(path: Path) -> int:
    model = require("onnx").load(str(path), load_external_data=False)
    return int(next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")))


def onnx_session(path: Path, threads: int = 0) -> Any:
    ort = require("onnxruntime")
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def run_onnx(session: Any, x: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])


def pt2_export(net: nn.Module, x: torch.Tensor, path: Path) -> None:
    batch = torch.export.Dim("batch", min=1, max=65536)
    program = torch.export.export(net, (x,), dynamic_shapes=({0: batch},), strict=False)
    torch.export.save(program, str(path))


def run_pt2(path: Path, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return torch.export.load(str(path)).module()(x)


def export_model(
    net: nn.Module,
    inputs: torch.Tensor,
    out: Path,
    masks: dict[str, torch.Tensor] | None = None,
    fold_bn: bool = True,
    opset: int = OPSET,
    fold: Fold = "cheaper",
) -> ExportReport:
    """Simplify a copy of ``net``, write ``model.onnx`` and ``model.pt2`` into ``out`` (exists) and check them."""
    require("onnxruntime")
    reference = copy.deepcopy(net).eval()
    if masks:  # the reference is the masked network: what the regimes train and evaluate
        with torch.no_grad():
            params = dict(reference.named_parameters())
            for k, m in masks.items():
                params[k].mul_(m.to(params[k].dtype))
    with torch.inference_mode():
        expected = reference(inputs)
    deploy = copy.deepcopy(reference)
    example = inputs[:2] if inputs.shape[0] >= 2 else inputs.repeat(2, 1, 1, 1)
    done = simplify(deploy, example, masks, fold_bn=fold_bn, fold=fold)
    exporter = onnx_export(deploy, example, out / "model.onnx", opset)
    pt2_export(deploy, example, out / "model.pt2")
    files = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    return ExportReport(
        exporter=exporter,
        opset=onnx_opset(out / "model.onnx"),
        onnx=compare(expected, run_onnx(onnx_session(out / "model.onnx"), inputs)),
        pt2=compare(expected, run_pt2(out / "model.pt2", inputs)),
        simplified=done.as_dict(),
        files=files,
    )


def write_report(path: Path, report: ExportReport, extra: dict[str, Any]) -> None:
    body = {
        **extra,
        "exporter": report.exporter,
        "opset": report.opset,
        "files_bytes": report.files,
        "onnxruntime_check": vars(report.onnx),
        "torch_export_check": vars(report.pt2),
        "simplified": report.simplified,
    }
    path.write_text(yaml.safe_dump(body, sort_keys=False))
