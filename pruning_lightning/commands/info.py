"""``pruning-lightning info``: params and FLOPs of a configured architecture, checkpoint or artifact.

Examples::

    pruning-lightning info --config configs/arch/cifar/vgg19.yaml
    pruning-lightning info --config configs/data/cifar100.yaml --config configs/arch/cifar/vgg19.yaml
    pruning-lightning info --artifact runs/x/prune
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from pruning_lightning.errors import PruningError
from pruning_lightning.models import build_arch, input_size, resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.utils.flops import count_complexity
from pruning_lightning.utils.table import human, markdown_table

_DATA_CLASSES = {"cifar10": 10, "cifar100": 100}


def arch_from_configs(paths: list[str]) -> ArchSpec:
    """Merge ``model.init_args.arch`` from fit-style config files (later files win)."""
    merged: dict[str, Any] = {}
    classes: int | None = None
    for p in paths:
        if not Path(p).is_file():
            raise PruningError(f"config file not found: {p}")
        doc = yaml.safe_load(Path(p).read_text()) or {}
        arch = ((doc.get("model") or {}).get("init_args") or {}).get("arch")
        if arch:
            merged.update(arch)
        data = (doc.get("data") or {}).get("init_args") or {}
        if data.get("name") in _DATA_CLASSES:
            classes = _DATA_CLASSES[data["name"]]
        elif "num_classes" in data:
            classes = int(data["num_classes"])
    if not merged:
        raise PruningError(f"no model.init_args.arch found in {paths}")
    if classes is not None:
        merged["num_classes"] = classes
    return ArchSpec.from_dict(merged)


def describe(arch: ArchSpec, sparse: bool = False, net: Any = None) -> str:
    arch = resolve(arch)
    net = net if net is not None else build_arch(arch)
    c = count_complexity(net, input_size(arch), sparse=sparse)
    rows = [
        ["architecture", f"{arch.family}-{arch.depth} ({arch.variant}), {arch.num_classes} classes"],
        ["params", f"{human(c.params)} ({c.params:,})"],
        ["params (non-zero)", f"{human(c.params_nonzero)} ({c.params_nonzero:,})"],
        ["MACs", f"{human(c.macs)} ({c.macs:,})"],
        ["FLOPs (paper convention)", f"{human(c.flops)} ({c.flops:,})"],
    ]
    return markdown_table(["", "value"], rows)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="pruning-lightning info", description=__doc__.splitlines()[0])
    parser.add_argument("--config", "-c", action="append", default=[], help="fit-style config file (repeatable)")
    parser.add_argument("--artifact", default=None, help="pruned artifact (dir or pruned.pt)")
    parser.add_argument("--ckpt", default=None, help="Lightning checkpoint")
    cfg = parser.parse_args(argv)
    paths = cfg.config
    if cfg.artifact:
        from pruning_lightning.artifact import load_artifact

        art = load_artifact(cfg.artifact)
        net = build_arch(art.arch)
        net.load_state_dict(art.weights, strict=False)
        print(describe(art.arch, sparse=any(k.startswith("mask:") for k in art.structure), net=net))
    elif cfg.ckpt:
        from pruning_lightning.checkpoint import load_network

        arch, net = load_network(cfg.ckpt)
        print(describe(arch, net=net))
    elif paths:
        print(describe(arch_from_configs(paths)))
    else:
        raise PruningError("give --config FILE (an arch config), --artifact DIR or --ckpt FILE")
