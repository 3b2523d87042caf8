"""Time of the pruning step of every method, on CIFAR VGG-16 (random init; pruning time barely depends on it).

Each method runs the shared ``prune()`` once with its ``configs/prune/*.yaml`` settings: ``select`` is
the method's own decision (sampling, LASSO, least squares for the data-driven ones), timed inside
``prune()``, which adds the surgery and the FLOPs/params counting. ThiNet and regression sample the
first ``num_images`` images of the bundled digits data (real images, no download). SSS does not
apply to VGG; it is timed on CIFAR ResNet-56 with every third block scale set to zero.

    python benchmarks/prune_time.py            # VGG-16, config sample counts (each method < 2 min on 2 cores)
    python benchmarks/prune_time.py --smoke    # tiny VGG, a few images; seconds (what the test suite runs)

Times are wall and process-CPU seconds; on a shared machine the wall time also measures the neighbours.
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from pruning_lightning.data.digits import DigitsDataModule
from pruning_lightning.data.synthetic import RandomImageDataModule
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.base import Pruner, prune
from pruning_lightning.utils.table import human, markdown_table

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "prune"
VGG_METHODS = {
    "slimming": "slimming_50.yaml",
    "l1_norm": "l1_norm_vgg16_a.yaml",
    "uniform_channel": "uniform_channel_50.yaml",
    "magnitude": "magnitude_50.yaml",
    "thinet": "thinet_vgg16_50.yaml",
    "regression": "regression_vgg16_50.yaml",
}
TINY_VGG16 = [8, 8, "M", 16, 16, "M", 16, 16, 16, "M", 32, 32, 32, "M", 32, 32, 32]


def load_pruner(config: str, **overrides: Any) -> Pruner:
    """Instantiate ``pruner`` of a prune config (``class_path`` + ``init_args``, plus overrides)."""
    spec = yaml.safe_load((CONFIGS / config).read_text())["pruner"]
    module, _, cls = spec["class_path"].rpartition(".")
    return getattr(importlib.import_module(module), cls)(**{**spec.get("init_args", {}), **overrides})


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def time_method(name: str, net: torch.nn.Module, arch: ArchSpec, pruner: Pruner, data: Any) -> dict[str, Any]:
    """One timed ``prune()``; its ``select`` (the method's own decision) is timed separately inside it."""
    loader = data.train_dataloader() if pruner.needs_data else None
    inner: list[tuple[float, float]] = []
    select = pruner.select

    def timed_select(*a: Any, **kw: Any) -> Any:
        inner.append(_clock())
        plan = select(*a, **kw)
        inner.append(_clock())
        return plan

    pruner.select = timed_select  # type: ignore[method-assign]
    t0 = _clock()
    art = prune(net, arch, pruner, loader)
    t1 = _clock()
    return {
        "method": name,
        "model": f"{arch.family}-{arch.depth}",
        "select_wall_s": inner[1][0] - inner[0][0],
        "select_cpu_s": inner[1][1] - inner[0][1],
        "prune_wall_s": t1[0] - t0[0],
        "prune_cpu_s": t1[1] - t0[1],
        "flops_ratio": art.stats["flops_ratio"],
        "params_after": art.stats["params_after"],
    }


def sss_model(smoke: bool) -> tuple[torch.nn.Module, ArchSpec]:
    """CIFAR ResNet (56, or 20 in smoke mode) with block scales, every third one zero."""
    arch = resolve(ArchSpec("resnet_cifar", 20 if smoke else 56, options={"block_scale": True}))
    net = build_arch(arch, 10)
    with torch.no_grad():
        for i, (_, p) in enumerate(n for n in net.named_parameters() if n[0].endswith(".scale")):
            p.fill_(0.0 if i % 3 == 0 else 1.0)
    return net, arch


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny VGG-16 and a few sampled images (test suite)")
    p.add_argument("--methods", nargs="*", default=[*VGG_METHODS, "sss"], help="subset of methods to time")
    p.add_argument("--num_images", type=int, default=None, help="override the configs' ThiNet/regression images")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse(argv)
    torch.manual_seed(0)
    arch = resolve(ArchSpec("vgg", 16, cfg=TINY_VGG16 if args.smoke else None, variant="l1"))
    net = build_arch(arch, 10).eval()
    with torch.no_grad():  # spread the BN scales (init is a constant), so slimming has something to rank
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.1, 1.0)
    if args.smoke:
        data: Any = RandomImageDataModule(num_samples=32, batch_size=16)
        sampling = {"num_images": 16, "locations_per_image": 4}
    else:
        data = DigitsDataModule(batch_size=64, augment=False)
        sampling = {} if args.num_images is None else {"num_images": args.num_images}
    data.setup("fit")
    rows = []
    for name in args.methods:
        if name == "sss":
            sss_net, sss_arch = sss_model(args.smoke)
            rows.append(time_method(name, sss_net, sss_arch, load_pruner("sss.yaml"), None))
            continue
        extra = sampling if name in ("thinet", "regression") else {}
        if name == "thinet":  # time the selection alone, as docs/benchmarks.md reports (no fine-tune between layers)
            extra = {**extra, "finetune_steps": 0}
        rows.append(time_method(name, net, arch, load_pruner(VGG_METHODS[name], **extra), data))
        print(f"  {name}: select {rows[-1]['select_wall_s']:.1f} s", flush=True)
    headers = [
        "method",
        "model",
        "select wall s",
        "select CPU s",
        "prune() wall s",
        "prune() CPU s",
        "FLOPs ratio",
        "params after",
    ]
    table = [
        [
            r["method"],
            r["model"],
            f"{r['select_wall_s']:.2f}",
            f"{r['select_cpu_s']:.2f}",
            f"{r['prune_wall_s']:.2f}",
            f"{r['prune_cpu_s']:.2f}",
            f"{r['flops_ratio']:.2f}x",
            human(r["params_after"]),
        ]
        for r in rows
    ]
    print(f"\nPruning step on {'tiny ' if args.smoke else ''}VGG-16 (CIFAR), torch threads {torch.get_num_threads()}\n")
    print(markdown_table(headers, table))
    return rows


if __name__ == "__main__":
    main()
