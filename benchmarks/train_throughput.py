"""Training throughput: our LargeModule through the Lightning Trainer vs a bare PyTorch loop.

Same network (VGG-19 at 1/4 width by default), same synthetic data and DataLoader, same batch count,
same process and threads. Runs are interleaved (L, B, B, L, ...) and each reports steady-state
images/s: the clock starts when step ``warmup`` begins and stops when the last step ends, so the
fetch of every timed batch is included on both sides. Lightning runs without logger, checkpointing,
progress bar, model summary or validation; the module still logs its loss and accuracy each step.

    python benchmarks/train_throughput.py            # full comparison (about 1-2 min on 2 CPU cores)
    python benchmarks/train_throughput.py --smoke    # seconds; what the test suite runs
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from typing import Any

import lightning as L
import torch
from torch import nn

from pruning_lightning.data.synthetic import RandomImageDataModule
from pruning_lightning.models import build_arch
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.modules import LargeModule


def vgg19_width(divisor: int) -> ArchSpec:
    """VGG-19 (slimming head) with every conv width divided by ``divisor``."""
    base = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512]
    return ArchSpec("vgg", 19, cfg=[c if c == "M" else max(1, int(c) // divisor) for c in base])


def _now() -> tuple[float, float]:
    """(wall, process CPU) seconds. CPU time is robust to other processes sharing the cores (1 thread)."""
    return time.perf_counter(), time.process_time()


def _rates(images: int, t0: tuple[float, float], t1: tuple[float, float]) -> tuple[float, float]:
    return images / (t1[0] - t0[0]), images / (t1[1] - t0[1])


class _StepClock(L.Callback):
    """Times from the end of step ``warmup - 1`` to the end of the last step (``warmup >= 1``)."""

    def __init__(self, warmup: int, last: int) -> None:
        self.warmup, self.last = warmup, last
        self.t0 = self.t1 = (0.0, 0.0)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        i = args[-1]
        if i == self.warmup - 1:
            self.t0 = _now()
        if i == self.last:
            self.t1 = _now()


def _data(args: argparse.Namespace) -> RandomImageDataModule:
    dm = RandomImageDataModule(num_samples=args.batch_size * (args.steps + args.warmup), batch_size=args.batch_size)
    dm.setup("fit")
    return dm


def run_lightning(arch: ArchSpec, args: argparse.Namespace) -> tuple[float, float]:
    """Images/s (wall, CPU time) of ``Trainer.fit`` on ``LargeModule`` (steady state)."""
    L.seed_everything(0, verbose=False)
    total = args.warmup + args.steps
    clock = _StepClock(args.warmup, total - 1)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        limit_train_batches=total,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[clock],
        default_root_dir=args.root,
    )
    trainer.fit(LargeModule(arch, num_classes=10), datamodule=_data(args))
    return _rates(args.steps * args.batch_size, clock.t0, clock.t1)


def run_bare(arch: ArchSpec, args: argparse.Namespace) -> tuple[float, float]:
    """Images/s (wall, CPU time) of a plain loop: forward, cross-entropy, backward, SGD step (same settings)."""
    L.seed_everything(0, verbose=False)
    net = build_arch(arch, 10).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    t0 = _now()
    for i, (x, y) in enumerate(_data(args).train_dataloader()):
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x), y).backward()
        opt.step()
        if i == args.warmup - 1:
            t0 = _now()
        if i == args.warmup + args.steps - 1:
            break
    return _rates(args.steps * args.batch_size, t0, _now())


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width-divisor", type=int, default=4, help="VGG-19 width divisor (4 = 1/4 width)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=40, help="timed steps per run")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps at the start of each run (>= 1)")
    p.add_argument("--repeats", type=int, default=5, help="interleaved (Lightning, bare) pairs")
    p.add_argument("--root", default=os.path.join("runs", "bench"), help="Trainer default_root_dir")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    p.add_argument("--smoke", action="store_true", help="tiny model, few steps (test suite)")
    args = p.parse_args(argv)
    if args.smoke:  # one thread: tiny ops on a shared 2-core machine are far steadier single-threaded
        args.threads = 1
        args.width_divisor, args.batch_size, args.steps, args.warmup, args.repeats = 16, 8, 3, 1, 1
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the comparison, print a table, return the medians and the ratio."""
    args = parse(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads or threads)
    try:
        return run(args)
    finally:
        torch.set_num_threads(threads)


def run(args: argparse.Namespace) -> dict[str, Any]:
    warnings.filterwarnings("ignore", message=".*(LeafSpec|does not have many workers|litlogger).*")
    arch = vgg19_width(args.width_divisor)
    print(
        f"train_throughput: VGG-19/{args.width_divisor} bs{args.batch_size}, {args.steps} timed steps "
        f"(+{args.warmup} warm-up), {args.repeats} interleaved repeats, {torch.get_num_threads()} threads"
    )
    light: list[tuple[float, float]] = []
    bare: list[tuple[float, float]] = []
    for r in range(args.repeats):
        order = (("lightning", run_lightning, light), ("bare", run_bare, bare))
        for name, fn, out in order if r % 2 == 0 else order[::-1]:
            out.append(fn(arch, args))
            print(f"  repeat {r + 1} {name:9s} {out[-1][0]:8.1f} img/s wall, {out[-1][1]:8.1f} img/s CPU time")
    result: dict[str, Any] = {"lightning_runs": light, "bare_runs": bare}
    for k, clock in enumerate(("wall", "cpu")):
        lk, bk = [v[k] for v in light], [v[k] for v in bare]
        ml, mb = statistics.median(lk), statistics.median(bk)
        paired = statistics.median(l_ / b_ for l_, b_ in zip(lk, bk, strict=True))
        result[clock] = {"lightning_ips": ml, "bare_ips": mb, "ratio": ml / mb, "paired_ratio": paired}
        print(
            f"{clock:4s}: median images/s Lightning {ml:.1f}, bare loop {mb:.1f}; ratio Lightning/bare "
            f"{ml / mb:.3f} (overhead {100 * (1 - ml / mb):+.1f} %); median of paired ratios {paired:.3f}"
        )
    return result


if __name__ == "__main__":
    main()
