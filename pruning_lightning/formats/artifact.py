"""Pruned artifacts: save/load, ``torch.load(weights_only=True)``-safe.

A prune stage writes one directory::

    pruned.pt       {"format", "method", "arch", "reference_arch", "num_classes", "structure", "weights", "stats"}
    arch.yaml       model.init_args.arch fragment (and num_classes beside it), usable as one more ``--config``
    stats.yaml      params / FLOPs before and after, ratios, kept channels per layer
    scratch_b.yaml  trainer.max_epochs for Scratch-B, computed from the measured FLOPs ratio

``structure`` holds what every downstream regime needs (channel-selection indexes, weight masks);
``weights`` holds the surviving weights that only fine-tuning inherits. ``num_classes`` is the class count of
the pruned network (the data's, stored beside the specs, which hold none). A ``pruned-v1`` file, written while
the spec held the class count, is read too: its count moves out of the arch (both archs must agree on it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.checkpoint import read_torch_file
from pruning_lightning.formats.fresh import fresh_folder
from pruning_lightning.models.spec import ArchSpec, split_classes
from pruning_lightning.utils.finite import check_finite

FORMAT = "pruning-lightning/pruned-v2"
OLD_FORMATS = ("pruning-lightning/pruned-v1",)  # num_classes inside "arch" and "reference_arch"


@dataclass
class PrunedArtifact:
    """Everything a prune stage produces."""

    arch: ArchSpec
    reference_arch: ArchSpec
    method: str
    num_classes: int
    structure: dict[str, torch.Tensor] = field(default_factory=dict)
    weights: dict[str, torch.Tensor] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "method": self.method,
            "arch": self.arch.to_dict(),
            "reference_arch": self.reference_arch.to_dict(),
            "num_classes": self.num_classes,
            "structure": self.structure,
            "weights": self.weights,
            "stats": self.stats,
        }


def _artifact_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    return p / "pruned.pt" if p.is_dir() else p


def load_artifact(path: str | os.PathLike) -> PrunedArtifact:
    """Load ``pruned.pt`` (or the directory holding it) with ``weights_only=True``."""
    f = _artifact_file(path)
    payload = read_torch_file(f, "pruned artifact", " (run `pruning-lightning prune` first)")
    if not isinstance(payload, dict) or payload.get("format") not in (FORMAT, *OLD_FORMATS):
        raise PruningError(f"{f} is not a pruning-lightning artifact (expected format {FORMAT!r})")
    check_finite({"structure": payload["structure"], "weights": payload["weights"]}, f"pruned artifact {f}")
    arch, classes = split_classes(payload["arch"], payload.get("num_classes"), str(f))
    reference, ref_classes = split_classes(payload["reference_arch"], classes, f"{f} (reference_arch)")
    if ref_classes is None:
        raise PruningError(f"{f} records no class count; prune the checkpoint again to write a complete artifact")
    return PrunedArtifact(
        arch=ArchSpec.from_dict(arch),
        reference_arch=ArchSpec.from_dict(reference),
        method=payload["method"],
        num_classes=ref_classes,
        structure=payload["structure"],
        weights=payload["weights"],
        stats=payload["stats"],
    )


def write_artifact(artifact: PrunedArtifact, out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write the artifact directory atomically: all four files appear together or not at all
    (:func:`~pruning_lightning.formats.fresh.fresh_folder`: a hidden sibling, renamed when complete).

    Raises:
        PruningError: ``out_dir`` exists and ``overwrite`` is false.
    """
    out = Path(out_dir)

    def write(tmp: Path) -> None:
        torch.save(artifact.to_payload(), tmp / "pruned.pt")
        (tmp / "arch.yaml").write_text(artifact.arch.to_yaml(artifact.num_classes))
        (tmp / "stats.yaml").write_text(yaml.safe_dump(artifact.stats, sort_keys=False))
        epochs = artifact.stats["scratch_b_epochs"]
        (tmp / "scratch_b.yaml").write_text(
            "# Scratch-B budget: int(base_epochs x FLOPs ratio), computed at prune time.\n"
            + yaml.safe_dump({"trainer": {"max_epochs": epochs}, "model": {"init_args": {"budget": "B"}}})
        )

    fresh_folder(out, write, overwrite)
    return out
