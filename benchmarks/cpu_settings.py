"""CPU speed settings for small studies: bf16 autocast, channels_last, threads and DataLoader workers.

Trains VGG-19 at 1/8 width (the small-study network) on real CIFAR-10 batches for a fixed number of
steps per setting, interleaving the settings over several rounds in one process, and prints the
median images/s of each with its ratio against the fp32 default (1 thread, channels-first, 0 workers).
Absolute speeds differ between machines (AVX2 vs AVX-512/AMX); the ratios are what to read.

    python benchmarks/cpu_settings.py --data_dir ../shared/data       # ~3 min on 2 cores
    python benchmarks/cpu_settings.py --smoke                         # synthetic data, seconds
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext
from typing import Any

import torch
from torch.utils.data import DataLoader, TensorDataset

from pruning_lightning.models import build_arch
from pruning_lightning.models.spec import ArchSpec

# VGG-19 at 1/8 width (configs/demo/arch.yaml), the network of the small-scale study.
VGG19_8 = ArchSpec("vgg", 19, cfg=[8, 8, "M", 16, 16, "M", 32, 32, 32, 32, "M", 64, 64, 64, 64, "M", 64, 64, 64, 64])

SETTINGS = {
    "fp32 (default)": {},
    "channels_last": {"channels_last": True},
    "bf16 autocast": {"bf16": True},
    "2 threads": {"threads": 2},
    "1 worker": {"workers": 1},
    "2 workers": {"workers": 2},
    "device-resident data": {"resident": True},
    "channels_last + device-resident": {"resident": True, "channels_last": True},
}


def _loader(args: argparse.Namespace, workers: int, resident: bool) -> Any:
    if args.smoke and not resident:
        x, y = torch.randn(512, 3, 32, 32), torch.randint(0, 10, (512,))
        return DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, num_workers=workers)
    if args.smoke:
        from pruning_lightning.data.device_loader import DeviceCIFARLoader

        images = torch.randint(0, 256, (512, 3, 32, 32), dtype=torch.uint8)
        return DeviceCIFARLoader(images, torch.randint(0, 10, (512,)), 64, (0.5,) * 3, (0.25,) * 3, train=True)
    from pruning_lightning.data import CIFARDataModule

    dm = CIFARDataModule(
        data_dir=args.data_dir, download=False, verify_checksums=False, num_workers=workers, device_resident=resident
    )
    dm.setup("fit")
    return dm.train_dataloader()


def images_per_s(args: argparse.Namespace, setting: dict[str, Any]) -> float:
    torch.set_num_threads(setting.get("threads", 1))
    net = build_arch(VGG19_8, 10).train()
    fmt = torch.channels_last if setting.get("channels_last") else torch.contiguous_format
    net = net.to(memory_format=fmt)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if setting.get("bf16") else nullcontext()
    seen, t0 = 0, 0.0
    for i, (x, y) in enumerate(_loader(args, setting.get("workers", 0), setting.get("resident", False))):
        if i == args.warmup:
            t0, seen = time.perf_counter(), 0
        with ctx:
            loss = torch.nn.functional.cross_entropy(net(x.contiguous(memory_format=fmt)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += len(y)
        if i == args.warmup + args.steps - 1:
            break
    return seen / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_dir", default="../shared/data")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args()
    if args.smoke:
        args.steps, args.warmup, args.rounds = 3, 1, 1
    rates: dict[str, list[float]] = {k: [] for k in SETTINGS}
    for _ in range(args.rounds):
        for name, setting in SETTINGS.items():
            rates[name].append(images_per_s(args, setting))
    base = statistics.median(rates["fp32 (default)"])
    print(f"VGG-19/8 training, batch 64, {args.steps} steps x {args.rounds} rounds, median img/s")
    print("| setting | img/s | ratio vs fp32 |\n|---|---|---|")
    for name, r in rates.items():
        med = statistics.median(r)
        print(f"| {name} | {med:.0f} | {med / base:.2f}x |")


if __name__ == "__main__":
    main()
