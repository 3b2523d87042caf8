"""``pruning-lightning export``: a checkpoint or pruned artifact as ONNX + ``torch.export`` files, checked.

Writes ``--out`` (a new folder): ``model.onnx`` (ONNX, dynamic batch), ``model.pt2`` (``torch.export``
program, ``torch.export.load``) and ``export.yaml`` (exporter, opset, simplifications, checks).
Before export the network is simplified for inference (``pruning_lightning/deploy/simplify.py``: masks baked
in, dropout removed, channel selections folded or made one gather, BatchNorm folded into the conv before it).
Both files are then run (ONNX Runtime, CPU; ``torch.export.load``) against the PyTorch network on the same
inputs; a max |logit difference| above ``--tolerance`` fails the command and writes nothing.
Examples::

    pruning-lightning export --ckpt runs/x/large/checkpoints/last.ckpt --out runs/x/deploy
    pruning-lightning export --artifact runs/x/prune --out runs/x/deploy_pruned --data configs/data/cifar10.yaml
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from jsonargparse import ArgumentParser

from pruning_lightning.cli.config import data_module, read
from pruning_lightning.core.errors import PruningError
from pruning_lightning.deploy.export import OPSET, export_model, require, write_report
from pruning_lightning.deploy.simplify import FOLDS
from pruning_lightning.deploy.sources import from_artifact, from_checkpoint
from pruning_lightning.formats.fresh import check_output_dir, fresh_folder
from pruning_lightning.models import classes_of, input_size
from pruning_lightning.models.spec import ArchSpec


def inputs_for(arch: ArchSpec, data: str | None, n: int) -> tuple[torch.Tensor, str]:
    """``n`` validation images of the ``--data`` config, else ``n`` N(0, 1) images (the shape of normalised ones)."""
    if not data:
        g = torch.Generator().manual_seed(0)
        return torch.randn(n, *input_size(arch), generator=g), f"{n} N(0,1) images (give --data for real ones)"
    dm = data_module(read([data])[-1][1])
    if dm is None:
        raise PruningError(f"--data {data} configures no data module (expected a `data:` section)")
    dm.setup("validate")
    images = []
    for batch in dm.val_dataloader():
        images.append(batch[0])
        if sum(len(b) for b in images) >= n:
            break
    x = torch.cat(images)[:n].float()
    if tuple(x.shape[1:]) != tuple(input_size(arch)):
        raise PruningError(
            f"--data {data} gives images of shape {tuple(x.shape[1:])}, the model takes {input_size(arch)}"
        )
    return x, f"{len(x)} validation images of {data}"


def main(argv: list[str]) -> None:
    parser = ArgumentParser(
        prog="pruning-lightning export", description=__doc__.splitlines()[0], exit_on_error=False, allow_abbrev=False
    )
    parser.add_argument("--ckpt", default=None, help="Lightning checkpoint (.ckpt) of fit")
    parser.add_argument("--artifact", default=None, help="pruned artifact (folder or pruned.pt) of prune")
    parser.add_argument("--out", required=True, help="new output folder")
    parser.add_argument("--data", default=None, help="data config: check on its validation images")
    parser.add_argument("--inputs", type=int, default=64, help="images the checks run on")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max |logit difference| allowed")
    parser.add_argument("--opset", type=int, default=OPSET, help="ONNX opset")
    parser.add_argument(
        "--fold-bn", action=argparse.BooleanOptionalAction, default=True, help="fold BatchNorm into the conv before it"
    )
    parser.add_argument(
        "--fold_selections",
        choices=list(FOLDS),
        default="cheaper",
        help="channel selections folded into the layer they feed as zero input columns: where cheaper than a "
        "gather (default) or always (no gathers before a conv/linear; faster in ONNX Runtime on CPU, see "
        "docs/benchmarks.md)",
    )
    cfg = parser.parse_args(argv)
    if bool(cfg.ckpt) == bool(cfg.artifact):
        raise PruningError("give exactly one of --ckpt FILE (from fit) or --artifact DIR (from prune)")
    if cfg.inputs < 1 or not cfg.tolerance > 0:
        raise PruningError(f"--inputs must be >= 1 and --tolerance > 0 (got {cfg.inputs}, {cfg.tolerance})")
    out = Path(cfg.out)
    check_output_dir(out)
    for module in ("onnx", "onnxruntime"):
        require(module)
    arch, net, masks, source = from_artifact(cfg.artifact) if cfg.artifact else from_checkpoint(cfg.ckpt)
    x, described = inputs_for(arch, cfg.data, cfg.inputs)
    print(f"exporting {arch.family}-{arch.depth} ({arch.variant}) of {source}")

    def write(folder: Path) -> Any:
        rep = export_model(net, x, folder, masks, fold_bn=cfg.fold_bn, opset=cfg.opset, fold=cfg.fold_selections)
        write_report(
            folder / "export.yaml",
            rep,
            {
                "source": source,
                "arch": arch.to_dict(),
                "num_classes": classes_of(net),
                "inputs": described,
                "tolerance": cfg.tolerance,
            },
        )
        worst = max(rep.onnx.max_abs_diff, rep.pt2.max_abs_diff)
        if not worst <= cfg.tolerance:  # NaN fails too
            raise PruningError(
                f"exported model differs from PyTorch by {worst:.3g} > --tolerance {cfg.tolerance:g} "
                f"(ONNX {rep.onnx.max_abs_diff:.3g}, torch.export {rep.pt2.max_abs_diff:.3g}); "
                "nothing written"
            )
        return rep

    rep = fresh_folder(out, write)  # renamed into place when every check passed: a failure leaves no folder
    s = rep.simplified
    print(
        f"simplified: {s['masks_baked']} masks baked, {s['dropouts_removed']} dropouts removed, "
        f"{len(s['bn_folded'])} BatchNorms folded, selections: {len(s['selections_removed'])} removed, "
        f"{len(s['selections_folded'])} folded into the next layer, {len(s['gathers'])} kept as one gather"
    )
    print(f"ONNX ({rep.exporter} exporter, opset {rep.opset}): {out / 'model.onnx'} ({rep.files['model.onnx']:,} B)")
    print(f"torch.export: {out / 'model.pt2'} ({rep.files['model.pt2']:,} B)")
    print(rep.onnx.line("ONNX Runtime (CPU) vs PyTorch"))
    print(rep.pt2.line("torch.export.load vs PyTorch"))
    print(f"inputs: {described}; tolerance {cfg.tolerance:g}: passed")
