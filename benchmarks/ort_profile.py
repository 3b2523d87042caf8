"""Why a pruned net runs as fast as it does in ONNX Runtime (CPU): layout coverage and per-op time beside latency.

ONNX Runtime's CPU provider rewrites a Conv into its blocked NCHWc form (MLAS) only when the conv's input channels
are a multiple of the block (8 channels with AVX2, 16 with AVX-512F) or below one block; any other conv stays a
plain NCHW Conv, with ``ReorderOutput`` / ``ReorderInput`` nodes that convert the activations around it. A Gather
(a partial channel selection) is not an NCHWc op either. So pruned widths that are not block multiples can cost
more than the multiply-adds they save.

Each VARIANT is a pair of ``deploy_latency.PAIRS``, optionally ``PAIR:always`` (exported with ``fold="always"``).
The unpruned net of the first pair is the baseline; every variant must prune the same architecture. Per net:

* **FLOPs ratio** of the pruned network and **exported MACs ratio** of what is exported (selections folded into
  a conv count its zero input columns), both to the unpruned net;
* **latency ratio** to the unpruned net at ``--batch`` (interleaved medians, ``pruned_latency.latencies``);
* **nodes** of ONNX Runtime's optimised graph: NCHWc convs, plain convs, reorders, gathers;
* **per-op time** per run from ONNX Runtime's profiler, summed over the nodes of each op type (top ``--top``);
  the profiled runs of all nets are interleaved too, so these totals compare across nets.

    python benchmarks/ort_profile.py l1-resnet56-b l1-resnet56-b-r8
    python benchmarks/ort_profile.py slim-preresnet164 slim-preresnet164:always --batch 64
    python benchmarks/ort_profile.py --widths 6 16 22 24 57 64   # single w -> w convs: NCHWc or not, padded shape
    python benchmarks/ort_profile.py --smoke   # what the test suite runs
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploy_latency import PAIRS, OrtModel, make_pair  # noqa: E402
from pruned_latency import latencies  # noqa: E402

from pruning_lightning.deploy.export import onnx_export, require  # noqa: E402
from pruning_lightning.utils.flops import count_complexity  # noqa: E402

KINDS = {  # column -> (domain, op type)s of ONNX Runtime's optimised graph
    "nchwc_conv": {("com.microsoft.nchwc", "Conv")},  # BatchNorms on NCHWc tensors become such convs too
    "plain_conv": {("", "Conv"), ("com.microsoft", "FusedConv")},  # FusedConv: a plain conv + its activation
    "reorder_in": {("com.microsoft.nchwc", "ReorderInput")},
    "reorder_out": {("com.microsoft.nchwc", "ReorderOutput")},
    "gather": {("", "Gather")},
}


def nets(variants: list[str], smoke: bool) -> list[tuple[str, torch.nn.Module, str]]:
    """(label, network, fold) for the unpruned baseline and every variant."""
    out: list[tuple[str, torch.nn.Module, str]] = []
    for v in variants:
        pair, _, fold = v.partition(":")
        if pair not in PAIRS or fold not in ("", "cheaper", "always"):
            raise SystemExit(f"unknown variant {v!r}: give PAIR or PAIR:always, PAIR one of {sorted(PAIRS)}")
        if PAIRS[pair][0] != PAIRS[variants[0].partition(":")[0]][0]:
            raise SystemExit(f"{pair} prunes another architecture than {variants[0]}")
        dense, pruned, masks, _ = make_pair(pair, smoke)
        if masks:
            raise SystemExit(f"{pair} is masked (same shapes as the unpruned net): nothing to profile")
        if not out:
            out.append(("unpruned", dense, "cheaper"))
        out.append((v, pruned, fold or "cheaper"))
    return out


Ops = dict[str, tuple[float, int]]


def profiles(paths: list[Path], x: torch.Tensor, runs: int, folder: Path) -> list[tuple[dict[str, int], Ops]]:
    """Per net: node counts of the optimised graph and {op: (ms per run, nodes)} from ONNX Runtime's profiler,
    1 thread. The nets run in turn, run after run, so that load changes hit them all alike (as ``latencies``)."""
    ort, onnx = require("onnxruntime"), require("onnx")
    sessions, optimized = [], []
    for path in paths:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads, opts.log_severity_level = 1, 1, 3  # no serialise warning
        opts.enable_profiling, opts.profile_file_prefix = True, str(folder / f"{path.stem}_profile")
        opts.optimized_model_filepath = str(folder / f"{path.stem}_optimized.onnx")
        optimized.append(opts.optimized_model_filepath)
        sessions.append(ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"]))
    for _ in range(runs + 1):  # the first run is a warm-up, profiled too: its share is 1 / (runs + 1)
        for session in sessions:
            session.run(None, {session.get_inputs()[0].name: x.numpy()})
    out = []
    for session, model in zip(sessions, optimized, strict=True):
        total: collections.Counter[str] = collections.Counter()
        nodes: dict[str, set[str]] = collections.defaultdict(set)
        for e in json.loads(Path(session.end_profiling()).read_text()):
            if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                op = e["args"].get("op_name", "?")
                total[op] += e["dur"]
                nodes[op].add(e["name"])
        graph = onnx.load(model, load_external_data=False).graph
        kinds = collections.Counter((n.domain, n.op_type) for n in graph.node)
        counts = {k: sum(kinds[v] for v in vs) for k, vs in KINDS.items()}
        out.append((counts, {op: (us / (runs + 1) / 1000, len(nodes[op])) for op, us in total.items()}))
    return out


def layout(widths: list[int], folder: Path) -> list[dict[str, Any]]:
    """Single 3x3 convs of ``w`` -> ``w`` channels: does ONNX Runtime run each in NCHWc, at what weight shape."""
    ort, onnx = require("onnxruntime"), require("onnx")
    print("| channels in = out | NCHWc conv | weight as run (out, in) |\n|---|---|---|")
    rows = []
    for w in widths:
        path = folder / f"conv{w}.onnx"
        onnx_export(torch.nn.Conv2d(w, w, 3, padding=1).eval(), torch.randn(2, w, 8, 8), path)
        opts = ort.SessionOptions()
        opts.log_severity_level, opts.optimized_model_filepath = 3, str(folder / f"conv{w}_optimized.onnx")
        ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        graph = onnx.load(opts.optimized_model_filepath, load_external_data=False).graph
        dims = {t.name: tuple(int(d) for d in t.dims) for t in graph.initializer}
        conv = next(n for n in graph.node if n.op_type in ("Conv", "FusedConv"))
        rows.append({"channels": w, "nchwc": conv.domain == "com.microsoft.nchwc", "weight": dims[conv.input[1]][:2]})
        print(f"| {w} | {'yes' if rows[-1]['nchwc'] else 'no'} | {rows[-1]['weight']} |", flush=True)
    return rows


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("variants", nargs="*", default=["l1-resnet56-b", "l1-resnet56-b-r8"], help="PAIR or PAIR:always")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3, help="interleaved timing samples per net")
    p.add_argument("--min-sample-s", type=float, default=0.05, help="forward passes per sample fill at least this")
    p.add_argument("--profile-runs", type=int, default=3, help="profiled forward passes per net")
    p.add_argument("--top", type=int, default=5, help="op types listed per net")
    p.add_argument("--widths", type=int, nargs="+", help="instead: single convs of these widths (layout probe)")
    p.add_argument("--smoke", action="store_true", help="ResNet-8 stand-ins, batch 4, 1 repeat (tests)")
    args = p.parse_args(argv)
    if args.smoke:
        args.variants, args.batch, args.repeats, args.min_sample_s, args.profile_runs = (
            ["sfp-resnet56", "sfp-resnet56-r8"],
            4,
            1,
            0,
            1,
        )
    return args


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """One row per net: FLOPs and latency ratios, optimised-graph node counts, per-op ms per run (1 thread);
    with ``--widths``, one row per probed conv width."""
    args = parse(argv)
    threads0, rows = torch.get_num_threads(), []
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder, x = Path(tmp), torch.randn(args.batch, 3, 32, 32)
            if args.widths:
                return layout(args.widths, folder)
            found = nets(args.variants, args.smoke)
            models = [OrtModel(n, folder, f"net{i}", 1, fold) for i, (_, n, fold) in enumerate(found)]  # type: ignore[arg-type]
            ms = latencies(models, x, args)  # type: ignore[arg-type]
            flops = [count_complexity(n, (3, 32, 32)).flops for _, n, _ in found]
            macs = [count_complexity(m.deploy, (3, 32, 32)).macs for m in models]  # as exported: folds included
            print(f"| net | FLOPs ratio | exported MACs ratio | latency ratio (batch {args.batch}, 1 thread) | "
                  + " | ".join(KINDS) + " | "
                  "top ops, ms per run (nodes) |")  # fmt: skip
            print("|---" * (5 + len(KINDS)) + "|")
            profiled = profiles([folder / f"net{i}.onnx" for i in range(len(found))], x, args.profile_runs, folder)
            for i, ((label, _, _), (counts, ops)) in enumerate(zip(found, profiled, strict=True)):
                top = sorted(ops.items(), key=lambda kv: -kv[1][0])[: args.top]
                row = {"net": label, "flops_ratio": flops[i] / flops[0], "macs_ratio": macs[i] / macs[0],
                       "latency_ratio": ms[i] / ms[0], "ms": ms[i], **counts, "ops": ops}  # fmt: skip
                rows.append(row)
                print(f"| {label} | {row['flops_ratio']:.2f} | {row['macs_ratio']:.2f} | {row['latency_ratio']:.2f} | "
                      + " | ".join(str(counts[k]) for k in KINDS) + " | "
                      + ", ".join(f"{op} {t:.1f} ({n})" for op, (t, n) in top) + " |", flush=True)  # fmt: skip
    finally:
        torch.set_num_threads(threads0)
    return rows


if __name__ == "__main__":
    main()
