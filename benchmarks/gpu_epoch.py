"""CIFAR-10 VGG-19 epoch time under each step of the GPU fast path, and what a full CIFAR row costs.

Variants are cumulative, each a real ``Trainer.fit`` of our ``LargeModule`` on ``CIFARDataModule``:

    dataloader     torchvision pipeline in DataLoader workers (pinned memory), fp32
    device         + device-resident uint8 data, crop/flip/normalise on the device, drop_last
    bf16           + ``trainer.precision=bf16-mixed``
    channels_last  + channels_last, cudnn.benchmark, fused SGD  (= configs/fast/gpu.yaml)
    compile        + ``torch.compile`` of the network

Each run is time-boxed to ``--warmup`` + ``--steps`` training steps and a few eval batches; the
epoch time is extrapolated from the steady-state step times (50,000 train + 10,000 test images).
Model FLOP utilisation = achieved training FLOP/s (3 x forward, 2 FLOPs per MAC) / ``--peak-tflops``.
The row projection: seeds x (160 large epochs + (40 fine-tune + 160 Scratch-E + Scratch-B) epochs of
the pruned net), with VGG-19 slimming-70% (the cfg in docs/benchmarks.md) as the pruned net; Scratch-B epochs
come from its FLOPs ratio (arXiv 1810.05270 Sec. 3).

    python benchmarks/gpu_epoch.py                      # on one GPU (time-boxed for < 8 min on an H200)
    python benchmarks/gpu_epoch.py --device cpu --smoke # seconds; what the test suite runs
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from typing import Any

import lightning as L
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from pruning_lightning.data import CIFARDataModule
from pruning_lightning.data.transforms import cifar_eval_transform, cifar_train_transform
from pruning_lightning.models import build_arch
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.modules import LargeModule
from pruning_lightning.utils.flops import count_complexity
from pruning_lightning.utils.schedule import scratch_b_epochs

VGG19 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512]
# A realistic slimming-70% result (deep layers cut hardest; docs/benchmarks.md).
SLIM70 = [49, 64, "M", 128, 128, "M", 256, 254, 234, 198, "M", 114, 41, 24, 11, "M", 14, 13, 19, 104]
STEPS: dict[str, dict[str, Any]] = {
    "dataloader": {},
    "device": {"device_resident": True, "drop_last": True},
    "bf16": {"precision": "bf16-mixed"},
    "channels_last": {"channels_last": True, "benchmark": True, "fused_optimizer": True},
    "compile": {"compile": True},
}
EPOCHS = {"large": 160, "finetune": 40, "scratch_e": 160}


class FakeCIFAR(Dataset):
    """Random uint8 images behind the same PIL + transform path as torchvision's CIFAR10."""

    def __init__(self, n: int, transform: Any, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.data = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        self.targets = (np.arange(n) % 10).tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.data[i])), self.targets[i]


class BenchCIFAR(CIFARDataModule):
    """CIFARDataModule on real files when ``data_dir`` holds them, else on ``FakeCIFAR`` of the given sizes."""

    def __init__(self, fake_sizes: tuple[int, int], **kw: Any) -> None:
        super().__init__(**kw)
        self.fake_sizes = fake_sizes

    def _real(self) -> bool:
        return (self.data_dir / "cifar-10-batches-py").is_dir()

    def prepare_data(self) -> None:
        if self._real():
            super().prepare_data()

    def setup(self, stage: str | None = None) -> None:
        if self._real():
            return super().setup(stage)
        self.train_set = FakeCIFAR(self.fake_sizes[0], cifar_train_transform("cifar10"))
        self.val_set = self.test_set = FakeCIFAR(self.fake_sizes[1], cifar_eval_transform("cifar10"), seed=1)


class _Clock(L.Callback):
    """Steady-state seconds per train step and per eval step (synchronising the device at the marks)."""

    def __init__(self, warm: int, last: int, ewarm: int, elast: int) -> None:
        self.marks = {("train", warm - 1): "t0", ("train", last): "t1", ("val", ewarm - 1): "v0", ("val", elast): "v1"}
        self.t: dict[str, float] = {}

    def _mark(self, trainer: L.Trainer, key: tuple[str, int]) -> None:
        if key in self.marks:
            if trainer.strategy.root_device.type == "cuda":
                torch.cuda.synchronize()
            self.t[self.marks[key]] = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._mark(trainer, ("train", batch_idx))

    def on_validation_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._mark(trainer, ("val", batch_idx))


def measure(cfg: list[int | str], bs: int, opts: dict[str, Any], args: argparse.Namespace) -> dict[str, float]:
    """Seconds per train step and per eval batch of one variant (one time-boxed fit)."""
    L.seed_everything(0, verbose=False)
    dm = BenchCIFAR(
        (args.fake_train, args.fake_test),
        data_dir=args.data_dir,
        download=False,
        verify_checksums=False,
        batch_size=bs,
        eval_batch_size=args.eval_batch_size,
        num_workers=args.workers,
        pin_memory=args.device == "cuda",
        device_resident=opts.get("device_resident", False),
        drop_last=opts.get("drop_last", False),
    )
    model = LargeModule(
        ArchSpec("vgg", 19, cfg=cfg),
        channels_last=opts.get("channels_last", False),
        compile=opts.get("compile", False),
        fused_optimizer=opts.get("fused_optimizer", False),
        num_classes=10,
    )
    clock = _Clock(args.warmup, args.warmup + args.steps - 1, args.eval_warmup, args.eval_warmup + args.eval_steps - 1)
    trainer = L.Trainer(
        accelerator=args.device,
        devices=1,
        max_epochs=1,
        precision=opts.get("precision", "32-true"),
        benchmark=opts.get("benchmark", False),
        limit_train_batches=args.warmup + args.steps,
        limit_val_batches=args.eval_warmup + args.eval_steps,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[clock],
        default_root_dir=args.root,
    )
    trainer.fit(model, datamodule=dm)
    t = clock.t
    return {"step_s": (t["t1"] - t["t0"]) / args.steps, "eval_step_s": (t["v1"] - t["v0"]) / args.eval_steps}


def epoch_seconds(m: dict[str, float], bs: int, drop_last: bool, args: argparse.Namespace) -> float:
    train_steps = args.train_images // bs if drop_last else math.ceil(args.train_images / bs)
    return train_steps * m["step_s"] + math.ceil(args.test_images / args.eval_batch_size) * m["eval_step_s"]


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 512])
    p.add_argument("--variants", nargs="+", choices=list(STEPS), default=list(STEPS))
    p.add_argument("--steps", type=int, default=60, help="timed train steps per run")
    p.add_argument("--warmup", type=int, default=15, help="untimed train steps (cudnn autotune, compile)")
    p.add_argument("--eval-steps", type=int, default=8)
    p.add_argument("--eval-warmup", type=int, default=3)
    p.add_argument("--eval-batch-size", type=int, default=256)
    p.add_argument("--workers", type=int, default=8, help="DataLoader workers of the 'dataloader' variant")
    p.add_argument(
        "--peak-tflops", type=float, default=None, help="device peak for MFU (default on CUDA: 989 = H200 dense bf16)"
    )
    p.add_argument("--seeds", type=int, default=5, help="seeds per CIFAR row in the projection")
    p.add_argument("--deadline-s", type=float, default=270, help="start no new variant after this many seconds")
    p.add_argument("--data-dir", default="data", help="real CIFAR-10 if present, otherwise random images")
    p.add_argument("--fake-train", type=int, default=50000)
    p.add_argument("--fake-test", type=int, default=10000)
    p.add_argument("--train-images", type=int, default=50000, help="images per epoch in the extrapolation")
    p.add_argument("--test-images", type=int, default=10000)
    p.add_argument("--root", default="runs/bench")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    p.add_argument("--smoke", action="store_true", help="tiny nets and data, no compile (test suite)")
    args = p.parse_args(argv)
    if args.peak_tflops is None and args.device == "cuda":
        args.peak_tflops = 989.0
    if args.smoke:  # one thread: tiny ops on a shared 2-core machine are far steadier single-threaded
        args.threads = 1
        args.batch_sizes, args.steps, args.warmup, args.eval_steps, args.eval_warmup = [16], 2, 1, 1, 1
        args.eval_batch_size, args.workers, args.fake_train, args.fake_test = 32, 0, 96, 64
        args.variants = [v for v in args.variants if v != "compile"]
    return args


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Measure every (batch size, variant), print the table, return its rows."""
    args = parse(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads or threads)
    try:
        return run(args)
    finally:
        torch.set_num_threads(threads)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    warnings.filterwarnings("ignore", message=".*(LeafSpec|does not have many workers|litlogger|Tensor Cores).*")
    div = 16 if args.smoke else 1  # smoke: 1/16-width nets, same shapes otherwise
    shrink = lambda cfg: [c if c == "M" else max(1, int(c) // div) for c in cfg]  # noqa: E731
    nets = {"large": shrink(VGG19), "pruned": shrink(SLIM70)}
    cx = {k: count_complexity(build_arch(ArchSpec("vgg", 19, cfg=c), 10), (3, 32, 32)) for k, c in nets.items()}
    epochs_b = scratch_b_epochs(EPOCHS["large"], cx["large"].flops / cx["pruned"].flops)
    pruned_epochs = EPOCHS["finetune"] + EPOCHS["scratch_e"] + epochs_b
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(
        f"gpu_epoch on {name}: VGG-19{'/16 (smoke)' if args.smoke else ''}, {args.steps} timed steps "
        f"(+{args.warmup} warm-up); pruned = slimming-70% ({cx['pruned'].flops / cx['large'].flops:.3f} of the "
        f"FLOPs, Scratch-B {epochs_b} epochs); peak {args.peak_tflops or 'n/a'} TFLOP/s"
    )
    start, rows = time.perf_counter(), []
    for bs in args.batch_sizes:
        opts: dict[str, Any] = {}
        base: float | None = None
        print(f"\nbatch {bs}: variant    train img/s  s/epoch  x base    MFU  pruned s/epoch  row ({args.seeds} seeds)")
        for variant in args.variants:
            opts = {**opts, **STEPS[variant]}
            if time.perf_counter() - start > args.deadline_s:
                print(f"  {variant:14s} skipped: past --deadline-s {args.deadline_s:.0f}")
                continue
            m = {k: measure(c, bs, opts, args) for k, c in nets.items()}
            sec = {k: epoch_seconds(v, bs, opts.get("drop_last", False), args) for k, v in m.items()}
            ips = bs / m["large"]["step_s"]
            mfu = ips * 6 * cx["large"].macs / (args.peak_tflops * 1e12) if args.peak_tflops else float("nan")
            row_h = args.seeds * (EPOCHS["large"] * sec["large"] + pruned_epochs * sec["pruned"]) / 3600
            base = base or sec["large"]
            rows.append(
                {
                    "batch": bs,
                    "variant": variant,
                    "images_per_s": ips,
                    "epoch_s": sec["large"],
                    "mfu": mfu,
                    "speedup": base / sec["large"],
                    "pruned_epoch_s": sec["pruned"],
                    "row_hours": row_h,
                    "scratch_b_epochs": epochs_b,
                }
            )
            print(
                f"  {variant:14s} {ips:11.1f} {sec['large']:8.1f} {base / sec['large']:7.2f} {100 * mfu:6.2f}%"
                f" {sec['pruned']:14.1f} {row_h:8.2f} h"
            )
    print(f"\nmeasured in {time.perf_counter() - start:.0f} s")
    return rows


if __name__ == "__main__":
    main()
