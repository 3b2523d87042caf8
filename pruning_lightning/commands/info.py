"""``pruning-lightning info``: efficiency profile of a configured architecture, checkpoint or artifact.

Params, FLOPs, size on disk, peak inference memory, latency and GPU energy
(definitions: :mod:`pruning_lightning.utils.profile`); with ``--deploy`` also the four metrics of the shipped
model: exported ONNX file size and gzip size (plus sparse-format sizes under unstructured masks), peak memory
in ONNX Runtime and energy per image (definitions: :mod:`pruning_lightning.deploy.metrics`).

The class count of a configured architecture is its data module's (give a data config first), or
``--num_classes N``; without either, the count the arch config writes (a preset's), else the family's usual
dataset's (10 for the CIFAR families, 1000 for the ImageNet ones), said in the table. Examples::

    pruning-lightning info --config configs/data/cifar10.yaml --config configs/arch/cifar/vgg19.yaml
    pruning-lightning info --config configs/data/cifar100.yaml --config configs/arch/cifar/vgg19.yaml
    pruning-lightning info --config configs/arch/imagenet/resnet50.yaml
    pruning-lightning info --artifact runs/x/prune --no_latency
    pruning-lightning info --ckpt runs/x/finetune/checkpoints/last.ckpt --deploy
"""

from __future__ import annotations

from typing import Any

from jsonargparse import ActionYesNo, ArgumentParser

from pruning_lightning.cli.config import (
    UnknownClassCount,
    arch_of,
    claimed_num_classes,
    data_module,
    read,
    written_arch,
)
from pruning_lightning.core.errors import PruningError
from pruning_lightning.deploy.export import require
from pruning_lightning.deploy.metrics import shipped_metrics
from pruning_lightning.deploy.sources import from_artifact, from_checkpoint
from pruning_lightning.formats.artifact import load_artifact
from pruning_lightning.models import build_arch, classes_of, get_family, input_size, resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.utils.profile import efficiency_profile
from pruning_lightning.utils.table import human, markdown_table


def describe(
    arch: ArchSpec,
    num_classes: int | None = None,
    sparse: bool = False,
    net: Any = None,
    latency: bool = True,
    runs: int = 5,
    deploy: bool = False,
    masks: dict[str, Any] | None = None,
    classes_note: str = "",
) -> str:
    """Markdown table of the efficiency profile of ``net`` (built from ``arch`` and ``num_classes`` when not given).

    ``classes_note``: where the class count comes from, when no data said it.
    """
    arch = resolve(arch)
    if net is None:
        if num_classes is None:
            raise PruningError("describe needs the class count (num_classes) or a built network")
        net = build_arch(arch, num_classes)
    classes = classes_of(net)
    c = efficiency_profile(net, input_size(arch), sparse=sparse, latency=latency, runs=runs)
    rows = [
        ["architecture", f"{arch.family}-{arch.depth} ({arch.variant}), {classes} classes{classes_note}"],
        ["params", f"{human(c.params)} ({c.params:,})"],
        ["params (non-zero)", f"{human(c.params_nonzero)} ({c.params_nonzero:,})"],
        ["MACs" + (" (non-zero weights)" if sparse else ""), f"{human(c.macs)} ({c.macs:,})"],
        ["FLOPs (paper convention)", f"{human(c.flops)} ({c.flops:,})"],
        ["size on disk (torch.save state_dict)", f"{c.size_mb:.3f} MB"],
    ]
    if c.sparse_size_mb is not None:
        rows.append(["size on disk (bitmask + non-zero values)", f"{c.sparse_size_mb:.3f} MB"])
    for b, mb in c.peak_mem_mb.items():
        rows.append([f"peak inference memory, batch {b} (weights + activations)", f"{mb:.3f} MB"])
    for b, mb in c.peak_mem_gpu_mb.items():
        rows.append([f"peak GPU memory, batch {b} (max_memory_allocated)", f"{mb:.3f} MB"])
    if latency:
        rows.append([f"latency CPU, batch 1 (median of {runs}, {c.cpu_threads} threads)", f"{c.latency_cpu_ms:.2f} ms"])
        if c.latency_gpu_ms is not None:
            rows.append([f"latency GPU, batch 1 (median of {runs})", f"{c.latency_gpu_ms:.3f} ms"])
    energy = c.energy_j_per_image
    energy_text = f"{energy:.4g} J" if isinstance(energy, float) else f"{energy} ({c.energy_note})"
    rows.append(["energy per image (GPU, NVML)", energy_text])
    if deploy:
        rows += shipped_rows(shipped_metrics(net, input_size(arch), masks, energy=latency))
    return markdown_table(["", "value"], rows)


def shipped_rows(m: dict[str, Any]) -> list[list[str]]:
    """Table rows of :func:`pruning_lightning.deploy.metrics.shipped_metrics`."""
    rows = [
        [f"shipped: ONNX file ({m['exporter']} exporter, simplified)", f"{m['onnx_bytes'] / 1e6:.3f} MB"],
        ["shipped: ONNX file, gzip -9", f"{m['onnx_gzip_bytes'] / 1e6:.3f} MB"],
    ]
    if "sparse" in m:
        sp = m["sparse"]
        note = "; dense runtimes do not run it faster (a zero weight costs a multiply-add all the same)"
        rows.append(["shipped: weights, bitmask + non-zero values", f"{sp['bitmask_values'] / 1e6:.3f} MB{note}"])
        rows.append(
            ["shipped: weights, CSR (int32 indices)", f"{sp['csr'] / 1e6:.3f} MB (dense {sp['dense'] / 1e6:.3f})"]
        )
    for b in (1, 64):
        v = m[f"ort_peak_mb_bs{b}"]
        text = f"{v:.1f} MB" if isinstance(v, float) else str(v)
        rows.append([f"shipped: peak memory in ONNX Runtime, batch {b} (RSS growth of a fresh process)", text])
    e = m["energy_j_per_image"]
    rows.append(
        [
            "shipped: energy per image",
            (f"{e:.4g} J ({m['energy_note']})" if isinstance(e, float) else f"{e}: {m['energy_note']}"),
        ]
    )
    return rows


def pruned_summary(art: Any) -> str:
    """The artifact marked as pruned: method, reference network, params/FLOPs against the reference."""
    st, ref = art.stats, art.reference_arch
    name = f"{ref.family}-{ref.depth} ({ref.variant}), {art.num_classes} classes"
    lines = [f"PRUNED network ({st.get('method', art.method)}, ratio {st.get('ratio', '?')}) of the reference {name}"]
    for what in ("params", "flops"):
        before, after = st.get(f"{what}_before"), st.get(f"{what}_after")
        if before and after:
            label = "FLOPs" if what == "flops" else "params"
            lines.append(f"  {label}: {human(after)} of {human(before)} = {after / before:.1%} of the reference "
                         f"({before / after:.2f}x fewer)")  # fmt: skip
    if st.get("scratch_b_epochs") is not None:
        lines.append(f"  Scratch-B epochs: {st['scratch_b_epochs']} (base {st.get('base_epochs')})")
    return "\n".join(lines) + "\n"


def configured_arch(paths: list[str], num_classes: int | None) -> tuple[ArchSpec, int, str]:
    """``(arch, class count, note)`` of ``-c`` files (see the module docstring for where the count comes from).

    ``--num_classes`` stands in for a data module that is absent or cannot count here (and must agree with
    one that can). With neither, the count the arch config writes, else the family's usual dataset's; the
    note says so.
    """
    if num_classes is not None and num_classes < 1:
        raise PruningError(f"--num_classes must be >= 1, got {num_classes}")
    steps = read(paths)
    if num_classes is None and data_module(steps[-1][1]) is None:  # an arch config alone: no data to count
        written = written_arch(paths)
        if written is None:
            raise PruningError(f"no model.init_args.arch found in {list(paths)}")
        arch = ArchSpec.from_dict(written)
        claim = claimed_num_classes(paths)
        if claim is not None:
            return arch, claim[0], f" (as {claim[1]} writes; give a data config or --num_classes for another)"
        usual = get_family(arch.family).usual_classes
        return arch, usual, f" (the usual count of {arch.family}; give a data config or --num_classes for another)"
    try:
        arch, classes = arch_of(paths, declared=num_classes)
    except UnknownClassCount as e:
        raise PruningError(f"{e}; or count without the data: add --num_classes N (e.g. 1000 for ImageNet)") from None
    return arch, classes, ""


def main(argv: list[str]) -> None:
    parser = ArgumentParser(
        prog="pruning-lightning info", description=__doc__.splitlines()[0], exit_on_error=False, allow_abbrev=False
    )
    parser.add_argument(
        "--config", "-c", action="append", default=[], help="fit-style config file (repeatable): data, then arch"
    )
    parser.add_argument("--artifact", default=None, help="pruned artifact (dir or pruned.pt)")
    parser.add_argument("--ckpt", default=None, help="Lightning checkpoint")
    parser.add_argument(
        "--latency",
        action=ActionYesNo,
        nargs="?",
        default=True,
        help="time forwards and measure GPU energy (--no_latency)",
    )
    parser.add_argument("--runs", type=int, default=5, help="timed runs per latency figure (after 2 warm-up runs)")
    parser.add_argument(
        "--deploy", action=ActionYesNo, nargs="?", default=False, help="export to ONNX and measure the file"
    )
    parser.add_argument(
        "--num_classes",
        type=int | None,
        default=None,
        help="class count of a --config arch (default: the data config's; without one, the count the arch config "
        "writes, else the family's usual dataset's: 10 for the CIFAR families, 1000 for the ImageNet ones)",
    )
    cfg = parser.parse_args(argv)
    paths = cfg.config
    if cfg.runs < 1:
        raise PruningError(f"--runs must be >= 1, got {cfg.runs}")
    opts = {"latency": cfg.latency, "runs": cfg.runs, "deploy": cfg.deploy}
    if cfg.deploy:
        require("onnxruntime")
    if cfg.artifact:
        arch, net, masks, _ = from_artifact(cfg.artifact)
        print(pruned_summary(load_artifact(cfg.artifact)))
        print(describe(arch, sparse=bool(masks), net=net, masks=masks, **opts))
    elif cfg.ckpt:
        arch, net, masks, source = from_checkpoint(cfg.ckpt)
        print(f"network of {source}")
        print(describe(arch, sparse=bool(masks), net=net, masks=masks, **opts))
    elif paths:
        arch, classes, note = configured_arch(paths, cfg.num_classes)
        print(describe(arch, classes, classes_note=note, **opts))
    else:
        raise PruningError("give --config DATA --config ARCH (data and arch configs), --artifact DIR or --ckpt FILE")
