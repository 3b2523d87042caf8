"""What a report's figures say about their experiment: the title (dataset / network / methods) and, for a
reduced-budget run, the note that its numbers are not comparable with the paper's.

A run is reduced when its large model trained fewer epochs than the paper's schedule (160 on CIFAR,
90 on ImageNet; arXiv 1810.05270 Sec. 3), its network is narrower than the paper's, or its description
says so (``reduced``, ``subset``, ``mini``, ``tiny``, ``smoke``, ``demo``, ``not comparable``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pruning_lightning.cli.config import read
from pruning_lightning.core.errors import PruningError
from pruning_lightning.pipeline.names import method_label
from pruning_lightning.pipeline.paths import resolve_path

FAMILIES = {"vgg": "VGG", "resnet": "ResNet", "preresnet": "PreResNet", "densenet": "DenseNet"}
REDUCED_WORDS = re.compile(r"\b(reduced|subset|mini|tiny|smoke|demo|not comparable)\b", re.IGNORECASE)


def _dataset(exp: dict[str, Any]) -> str:
    """The dataset the data configs name (their last ``data.init_args.name``, else the first file's name)."""
    paths = [resolve_path(p) for p in exp.get("data") or []]
    present = [p for p in paths if Path(p).is_file()]
    try:
        name = read(present)[-1][1].get("data.init_args.name") if present else None
    except PruningError:  # a label must never fail a report
        name = None
    name = name or (Path(paths[0]).stem if paths else None)
    return {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet": "ImageNet"}.get(str(name), str(name or "?"))


def _large(run_dir: Path) -> dict[str, Any] | None:
    for p in sorted(run_dir.glob("seed*/large/result.json")) + sorted(run_dir.glob("seed*/*/large/result.json")):
        try:
            return json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue
    return None


def _network(arch: dict[str, Any] | None) -> tuple[str, bool]:
    """(``VGG-19``, narrower than the paper's network?) from a result's arch dict."""
    if not arch:
        return "?", False
    family = str(arch["family"])
    name = f"{FAMILIES.get(family.split('_')[0], family)}-{arch['depth']}"
    # pruning_lightning.models imports torch: imported on use (start-up time)
    from pruning_lightning.models import resolve
    from pruning_lightning.models.spec import ArchSpec

    try:
        full = resolve(ArchSpec(arch["family"], arch["depth"], variant=arch.get("variant", "default"),
                                options=arch.get("options") or {}))  # fmt: skip
        widths = [c for c in arch.get("cfg") or [] if isinstance(c, int)]
        ref = [c for c in full.cfg or [] if isinstance(c, int)]
        narrow = len(widths) == len(ref) and sum(widths) < sum(ref)
    except Exception:  # noqa: BLE001 - a label must never fail a report
        narrow = False
    return name + (" (narrowed)" if narrow else ""), narrow


def labels(exp: dict[str, Any], run_dir: Path) -> dict[str, str | None]:
    """``{"title": ..., "note": ...}`` for :func:`plots.plot_accuracy` (note None: paper-scale run)."""
    large = _large(run_dir)
    network, narrow = _network((large or {}).get("arch"))
    dataset = _dataset(exp)
    methods = ", ".join(method_label(m["name"]) for m in exp.get("methods") or [])
    reasons = []
    epochs = (large or {}).get("epochs")
    paper_epochs = 160 if dataset.startswith("CIFAR") or (large or {}).get("flops", 1e12) < 2e9 else 90
    if isinstance(epochs, int) and epochs < paper_epochs:
        reasons.append(f"large model {epochs} epochs (paper: {paper_epochs})")
    if narrow:
        reasons.append("narrower network than the paper's")
    if REDUCED_WORDS.search(exp.get("description") or ""):
        reasons.append("reduced setup per the experiment's description")
    note = None
    if reasons:
        note = "Reduced budget, not comparable with the paper: " + "; ".join(reasons)
    parts = [x for x in (dataset, network, methods) if x and x != "?"]
    return {"title": " / ".join(parts) or str(exp.get("name", "")), "note": note}
