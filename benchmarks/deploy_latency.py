"""Deployed latency: ONNX Runtime (CPU execution provider) beside eager PyTorch, pruned / unpruned against FLOPs.

Every CIFAR-scale method x family pair of the paper (arXiv 1810.05270 Tables 1-4, 6): the pruned architecture is
what the pruner makes of a randomly initialised network (BN gammas / block scales drawn at random, so that
slimming and SSS have something to rank; latency depends on the architecture, not on the trained values):

    slim-vgg19 / slim-preresnet164 / slim-densenet40   SlimmingPruner(0.7) (selections kept as the model has them)
    l1-vgg16-a / l1-resnet56-b                          configs/prune/l1_norm_{vgg16_a,resnet56_b}.yaml
    thinet-vgg16                                        ThiNet 50 % of conv1-10 (regression pruning: same widths)
    sss-resnet56                                        SSS, blocks with |scale| < 0.5 removed (scales ~ U(0, 1))
    sfp-resnet56                                        SoftFilterPruner(0.3)
    magnitude-vgg19                                     MagnitudePruner(0.5): same dense shapes, half the weights zero
    l1-resnet56-b-r8, sfp-resnet56-r8, slim-preresnet164-r8, slim-densenet40-r8: the same with ``round_to=8``
    sfp-resnet56-r16, slim-preresnet164-r16: ``round_to=16`` (the NCHWc block on AVX-512)

Each network is timed eager (``torch``, the model as trained) and as the exported ONNX file
(``pruning_lightning/deploy``: BN folded, selections folded or gathered; ``--fold always``: every selection that
feeds a conv folded into it) in ONNX Runtime, at batch 1 and 64, with 1 thread and all threads; median over
interleaved repeats after warm-up (``pruned_latency.latencies``).
The printed ratio is pruned / unpruned latency beside pruned / unpruned FLOPs (sparse-aware for masks).

    python benchmarks/deploy_latency.py --quick   # 4 pairs, batch 1 and 64, 3 repeats
    python benchmarks/deploy_latency.py --smoke   # seconds; what the test suite runs
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pruned_latency import latencies  # noqa: E402  (the interleaved median timer, shared)

from pruning_lightning.deploy.export import onnx_export, onnx_session, run_onnx  # noqa: E402
from pruning_lightning.deploy.simplify import FOLDS, Fold, simplify  # noqa: E402
from pruning_lightning.models import build_arch, resolve  # noqa: E402
from pruning_lightning.models.spec import ArchSpec  # noqa: E402
from pruning_lightning.pruning import (  # noqa: E402
    L1NormPruner,
    MagnitudePruner,
    SlimmingPruner,
    SoftFilterPruner,
    SSSPruner,
    ThiNetPruner,
    prune,
)
from pruning_lightning.utils.flops import count_complexity  # noqa: E402

Pair = tuple[nn.Module, nn.Module, dict[str, torch.Tensor], ArchSpec]


def _randomise(net: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for name, p in net.named_parameters():
        if name.endswith("scale"):
            p.data = torch.rand(p.shape, generator=g)
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.weight.data = torch.rand(m.num_features, generator=g)
    return net.eval()


def _thinet(net: nn.Module, arch: ArchSpec) -> Any:
    data = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.randn(16, 3, 32, 32), torch.zeros(16, dtype=torch.long)), batch_size=8
    )
    skip = {f"features.conv{i}": 0.0 for i in (11, 12, 13)}
    pruner = ThiNetPruner(0.5, layer_ratios=skip, finetune_steps=0, num_images=16, locations_per_image=4)
    return prune(net, arch, pruner, data)


PAIRS: dict[str, tuple[ArchSpec, Callable[[nn.Module, ArchSpec], Any]]] = {
    "slim-vgg19": (ArchSpec("vgg", 19), lambda n, a: prune(n, a, SlimmingPruner(0.7))),
    "slim-preresnet164": (ArchSpec("preresnet", 164), lambda n, a: prune(n, a, SlimmingPruner(0.4))),
    "slim-densenet40": (ArchSpec("densenet", 40), lambda n, a: prune(n, a, SlimmingPruner(0.4))),
    "l1-vgg16-a": (
        ArchSpec("vgg", 16, variant="l1"),
        lambda n, a: prune(n, a, L1NormPruner((0.5, 0, 0, 0.5, 0.5), (2,))),
    ),
    "l1-resnet56-b": (
        ArchSpec("resnet_cifar", 56),
        lambda n, a: prune(n, a, L1NormPruner((0.6, 0.3, 0.1), (16, 18, 20, 34, 38, 54))),
    ),
    "thinet-vgg16": (ArchSpec("vgg", 16), _thinet),
    "sss-resnet56": (
        ArchSpec("resnet_cifar", 56, options={"block_scale": True}),
        lambda n, a: prune(n, a, SSSPruner(0.5)),
    ),
    "sfp-resnet56": (ArchSpec("resnet_cifar", 56), lambda n, a: prune(n, a, SoftFilterPruner(0.3))),
    "magnitude-vgg19": (ArchSpec("vgg", 19), lambda n, a: prune(n, a, MagnitudePruner(0.5))),
    "l1-resnet56-b-r8": (
        ArchSpec("resnet_cifar", 56),
        lambda n, a: prune(n, a, L1NormPruner((0.6, 0.3, 0.1), (16, 18, 20, 34, 38, 54), round_to=8)),
    ),
    "sfp-resnet56-r8": (ArchSpec("resnet_cifar", 56), lambda n, a: prune(n, a, SoftFilterPruner(0.3, round_to=8))),
    "slim-preresnet164-r8": (ArchSpec("preresnet", 164), lambda n, a: prune(n, a, SlimmingPruner(0.4, round_to=8))),
    "slim-densenet40-r8": (ArchSpec("densenet", 40), lambda n, a: prune(n, a, SlimmingPruner(0.4, round_to=8))),
    "sfp-resnet56-r16": (ArchSpec("resnet_cifar", 56), lambda n, a: prune(n, a, SoftFilterPruner(0.3, round_to=16))),
    "slim-preresnet164-r16": (
        ArchSpec("preresnet", 164),
        lambda n, a: prune(n, a, SlimmingPruner(0.4, round_to=16)),
    ),
}
QUICK = ["slim-vgg19", "l1-resnet56-b", "slim-densenet40", "magnitude-vgg19"]


def make_pair(name: str, smoke: bool = False) -> Pair:
    spec, how = PAIRS[name]
    if smoke:  # tiny ResNet-8 stand-in
        spec = ArchSpec("resnet_cifar", 8)
    arch = resolve(spec)
    torch.manual_seed(0)
    dense = _randomise(build_arch(arch, 10))
    art = how(dense, arch)
    pruned = build_arch(art.arch, art.num_classes).eval()
    pruned.load_state_dict({**art.structure, **art.weights}, strict=False)
    masks = {k[5:]: v for k, v in art.structure.items() if k.startswith("mask:")}
    if masks:
        simplify(pruned, torch.randn(2, 3, 32, 32), masks, fold_bn=False)  # the masks applied, for eager too
    return dense, pruned, masks, art.arch


class OrtModel:
    """``model(x)`` through an ONNX Runtime session (what ``latencies`` calls)."""

    def __init__(self, net: nn.Module, folder: Path, name: str, threads: int, fold: Fold = "cheaper") -> None:
        deploy = copy.deepcopy(net).eval()
        simplify(deploy, torch.randn(2, 3, 32, 32), fold=fold)
        self.deploy = deploy  # the simplified network that is exported
        path = folder / f"{name}.onnx"
        if not path.exists():
            onnx_export(deploy, torch.randn(2, 3, 32, 32), path)
        self.session = onnx_session(path, threads)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return run_onnx(self.session, x)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64])
    p.add_argument("--threads", type=int, nargs="+", default=[1, torch.get_num_threads()])
    p.add_argument("--repeats", type=int, default=7, help="interleaved timing samples per net")
    p.add_argument("--min-sample-s", type=float, default=0.2, help="forward passes per sample fill at least this")
    p.add_argument("--fold", choices=FOLDS, default="cheaper", help="channel selections folded into the next conv")
    p.add_argument("--quick", action="store_true", help=f"pairs {QUICK}, 3 repeats, 0.05 s samples")
    p.add_argument("--smoke", action="store_true", help="a tiny ResNet, batch 1 and 4, 1 thread, 1 repeat (tests)")
    args = p.parse_args(argv)
    if args.quick:
        args.pairs, args.repeats, args.min_sample_s = QUICK, 3, 0.05
    if args.smoke:
        args.pairs, args.batch_sizes, args.threads, args.repeats, args.min_sample_s = (
            ["sfp-resnet56"],
            [1, 4],
            [1],
            1,
            0,
        )
    args.threads = sorted(set(args.threads))
    return args


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Time every pair; print one table row per (pair, runtime, threads, batch) and return the rows."""
    args = parse(argv)
    threads0, rows = torch.get_num_threads(), []
    print("| pair | runtime | threads | batch | unpruned ms | pruned ms | latency ratio | FLOPs ratio |")
    print("|---|---|---|---|---|---|---|---|")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name in args.pairs:
                dense, pruned, masks, _ = make_pair(name, args.smoke)
                f_dense = count_complexity(dense, (3, 32, 32)).flops
                f_pruned = count_complexity(pruned, (3, 32, 32), sparse=bool(masks)).flops
                for threads in args.threads:
                    torch.set_num_threads(threads)
                    runtimes = {
                        "torch": (dense, pruned),
                        "onnxruntime": tuple(
                            OrtModel(n, Path(tmp), f"{name}-{k}", threads, args.fold)
                            for k, n in (("d", dense), ("p", pruned))
                        ),
                    }
                    for runtime, nets in runtimes.items():
                        for bs in args.batch_sizes:
                            x = torch.randn(bs, 3, 32, 32)
                            with torch.inference_mode():
                                ms = latencies(list(nets), x, args)  # type: ignore[arg-type]
                            row = {"pair": name, "runtime": runtime, "threads": threads, "batch": bs,
                                   "dense_ms": ms[0], "pruned_ms": ms[1], "latency_ratio": ms[1] / ms[0],
                                   "flops_ratio": f_pruned / f_dense}  # fmt: skip
                            rows.append(row)
                            print(f"| {name} | {runtime} | {threads} | {bs} | {ms[0]:.2f} | {ms[1]:.2f} | "
                                  f"{row['latency_ratio']:.2f} | {row['flops_ratio']:.2f} |", flush=True)  # fmt: skip
    finally:
        torch.set_num_threads(threads0)
    return rows


if __name__ == "__main__":
    main()
