"""Inference latency of dense vs structurally pruned networks, next to their FLOPs ratio.

Networks (skipped with a note when their family or preset file does not exist yet):
    vgg19-slim70      VGG-19 with the slimming-70% cfg of docs/benchmarks.md (realistic: deep layers cut hardest)
    vgg19-slim70-unif SlimmingPruner(0.7) on VGG-19 with BN gamma ~ U(0, 1) (every layer keeps ~30 %)
    resnet56-b        configs/arch/cifar/presets/resnet56_b.yaml   (L1-norm, Li et al.)
    thinet-70         configs/arch/imagenet/thinet_resnet50_70.yaml
    sss-resnet26      configs/arch/imagenet/sss_resnet26.yaml
Dense = the same spec with ``cfg=None`` (the family default). Latency = median over interleaved
repeats (dense, pruned, rounded, dense, ...) of eval-mode forward passes under ``inference_mode``.
``--round-to 8`` also times the pruned cfg with every kept width rounded up to a multiple of 8
(capped at the dense width): hardware prefers such widths, at the price of a few FLOPs.

    python benchmarks/pruned_latency.py --round-to 8   # CPU (and CUDA when present)
    python benchmarks/pruned_latency.py --smoke        # seconds; what the test suite runs
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from pruning_lightning.models import build_arch, get_family, input_size, resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.utils.flops import count_complexity

ROOT = Path(__file__).resolve().parents[1]
# A realistic slimming-70% result (deep layers cut hardest; docs/benchmarks.md).
SLIM70 = [49, 64, "M", 128, 128, "M", 256, 254, 234, 198, "M", 114, 41, 24, 11, "M", 14, 13, 19, 104]
PRESET_FILES = {
    "resnet56-b": "configs/arch/cifar/presets/resnet56_b.yaml",
    "thinet-70": "configs/arch/imagenet/thinet_resnet50_70.yaml",
    "sss-resnet26": "configs/arch/imagenet/sss_resnet26.yaml",
}


def round_cfg(cfg: Any, dense: Any, multiple: int) -> Any:
    """Round every int width of ``cfg`` up to ``multiple``, capped by the matching entry of ``dense``."""
    if isinstance(cfg, (list, tuple)):
        ref = dense if isinstance(dense, (list, tuple)) and len(dense) == len(cfg) else [None] * len(cfg)
        return [round_cfg(c, d, multiple) for c, d in zip(cfg, ref, strict=True)]
    if isinstance(cfg, bool) or not isinstance(cfg, int) or cfg == 0:
        return cfg  # "M", flags, dropped blocks stay as they are
    up = -(-cfg // multiple) * multiple
    return min(up, dense) if isinstance(dense, int) and not isinstance(dense, bool) else up


def _build(spec: ArchSpec) -> nn.Module:
    """The network of ``spec`` with the head of its family's usual dataset (CIFAR-10 or ImageNet-1k)."""
    return build_arch(spec, get_family(spec.family).usual_classes)


def uniform_slimming_cfg(ratio: float, seed: int = 0) -> list[int | str]:
    """Kept VGG-19 widths after ``SlimmingPruner(ratio)`` on BN gammas drawn from U(0, 1)."""
    from pruning_lightning.pruning import SlimmingPruner, prune

    arch = resolve(ArchSpec("vgg", 19))
    net = build_arch(arch, 10)
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data = torch.rand(m.num_features, generator=g)
    return list(prune(net, arch, SlimmingPruner(ratio)).arch.cfg)


def networks(args: argparse.Namespace) -> dict[str, tuple[ArchSpec, ArchSpec] | str]:
    """name -> (dense spec, pruned spec), or a string saying why it is skipped."""
    vgg = resolve(ArchSpec("vgg", 19))
    if args.smoke:  # 1/16 width, same layout
        shrink = lambda cfg: [c if c == "M" else max(1, int(c) // 16) for c in cfg]  # noqa: E731
        return {"vgg19/16-slim70": (vgg.replace(cfg=shrink(vgg.cfg)), vgg.replace(cfg=shrink(SLIM70)))}
    out: dict[str, tuple[ArchSpec, ArchSpec] | str] = {"vgg19-slim70": (vgg, vgg.replace(cfg=SLIM70))}
    try:
        out["vgg19-slim70-unif"] = (vgg, vgg.replace(cfg=uniform_slimming_cfg(0.7)))
    except Exception as e:  # the pruning package is being extended in parallel; report, don't crash
        out["vgg19-slim70-unif"] = f"skipped: SlimmingPruner failed ({type(e).__name__}: {e})"
    for name, rel in PRESET_FILES.items():
        path = ROOT / rel
        if not path.is_file():
            out[name] = f"skipped: {rel} does not exist yet"
            continue
        try:
            d = dict(yaml.safe_load(path.read_text())["model"]["init_args"]["arch"])
            pruned = resolve(ArchSpec.from_dict(d))
            out[name] = (resolve(pruned.replace(cfg=None)), pruned)
        except Exception as e:
            out[name] = f"skipped: {rel} does not build ({type(e).__name__}: {e})"
    return out


def _time_once(net: nn.Module, x: torch.Tensor, inner: int) -> float:
    if x.is_cuda:
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(inner):
        net(x)
    if x.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / inner


def latencies(nets: list[nn.Module], x: torch.Tensor, args: argparse.Namespace) -> list[float]:
    """Median ms per forward of each net, repeats interleaved so load changes hit all nets alike."""
    inner = []
    for net in nets:
        first = _time_once(net, x, 1)  # warm-up (allocator, cudnn autotune) and calibration
        inner.append(max(1, math.ceil(args.min_sample_s / max(_time_once(net, x, 1), first * 0.1, 1e-6))))
    samples: list[list[float]] = [[] for _ in nets]
    for _ in range(args.repeats):
        for i, net in enumerate(nets):
            samples[i].append(1000 * _time_once(net, x, inner[i]))
    return [statistics.median(s) for s in samples]


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", nargs="+", default=["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64, 256])
    p.add_argument("--round-to", type=int, default=1, help="also time widths rounded up to this multiple (e.g. 8)")
    p.add_argument("--repeats", type=int, default=7, help="interleaved timing samples per net")
    p.add_argument("--min-sample-s", type=float, default=0.2, help="forward passes per sample fill at least this")
    p.add_argument("--cpu-max-imagenet-batch", type=int, default=16, help="larger ImageNet batches skipped on CPU")
    p.add_argument("--channels-last", action="store_true", help="NHWC nets and inputs")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    p.add_argument("--smoke", action="store_true", help="tiny VGG, batches 1 and 8, round to 8 (test suite)")
    args = p.parse_args(argv)
    if args.smoke:  # one thread: tiny ops on a shared 2-core machine are far steadier single-threaded
        args.devices, args.batch_sizes, args.repeats, args.min_sample_s, args.round_to = ["cpu"], [1, 8], 2, 0.01, 8
        args.threads = 1
    return args


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Time every available network on every device and batch size; print and return the rows."""
    args = parse(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads or threads)
    try:
        return run(args)
    finally:
        torch.set_num_threads(threads)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    print(f"pruned_latency: {torch.get_num_threads()} CPU threads, median of {args.repeats} interleaved samples")
    for name, entry in networks(args).items():
        if isinstance(entry, str):
            print(f"{name}: {entry}")
            continue
        specs = {"dense": entry[0], "pruned": entry[1]}
        if args.round_to > 1:
            specs[f"round{args.round_to}"] = entry[1].replace(cfg=round_cfg(entry[1].cfg, entry[0].cfg, args.round_to))
        size = input_size(entry[0])
        flops = {k: count_complexity(_build(s), size).flops for k, s in specs.items()}
        print(
            f"\n{name}: dense {flops['dense'] / 1e6:.1f} MFLOPs, pruned cfg {entry[1].cfg}"
            + (f"\n  rounded to {args.round_to}: {specs[f'round{args.round_to}'].cfg}" if args.round_to > 1 else "")
        )
        print(
            "  device batch "
            + "".join(f"{k + ' ms':>13s}" for k in specs)
            + "".join(f"  {k}: speedup (FLOPs ratio)" for k in list(specs)[1:])
        )
        for device in args.devices:
            fmt = torch.channels_last if args.channels_last else torch.contiguous_format
            nets = [_build(s).eval().to(device, memory_format=fmt) for s in specs.values()]
            for bs in args.batch_sizes:
                if device == "cpu" and size[1] > 64 and bs > args.cpu_max_imagenet_batch:
                    print(f"  {device:6s} {bs:5d} skipped on CPU (see --cpu-max-imagenet-batch)")
                    continue
                x = torch.randn(bs, *size, device=device).contiguous(memory_format=fmt)
                with torch.inference_mode():
                    ms = dict(zip(specs, latencies(nets, x, args), strict=True))
                row: dict[str, Any] = {"net": name, "device": device, "batch": bs}
                for k in specs:
                    row[f"{k}_ms"], row[f"{k}_flops"] = ms[k], flops[k]
                    row[f"{k}_speedup"], row[f"{k}_flops_speedup"] = ms["dense"] / ms[k], flops["dense"] / flops[k]
                rows.append(row)
                ratios = (f"  {row[f'{k}_speedup']:8.2f}x ({row[f'{k}_flops_speedup']:.2f}x)" for k in list(specs)[1:])
                print(f"  {device:6s} {bs:5d} " + "".join(f"{ms[k]:13.2f}" for k in specs) + "".join(ratios))
    return rows


if __name__ == "__main__":
    main()
