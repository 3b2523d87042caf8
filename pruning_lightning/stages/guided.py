"""Guided pruning (arXiv 1810.05270 Sec. 5): per-stage average widths of pruned VGGs -> a new architecture.

A *stage* is the run of conv layers sharing one feature-map size, i.e. the layers between two
``"M"`` entries of a VGG cfg. From one or more pruned architectures we take, per stage, the mean
kept fraction (kept width / original width over all layers of the stage and all given models),
then build a network whose every layer in stage ``i`` keeps that fraction of the *target's*
original width. The target may have another depth or dataset ("transferred guided pruning":
VGG-16 CIFAR-10 pattern -> VGG-19 CIFAR-100); stage ``i`` maps onto stage ``i`` (or proportionally
when the stage counts differ).

Usage::

    python -m pruning_lightning.stages.guided --from runs/x/seed*/slimming_60/prune --depth 19 \
        --out configs/arch/cifar/guided_vgg19.yaml

The written arch config leaves the class count to the data module it is trained with (``--num_classes``
writes one beside the arch, which the CLI then checks against the data module).
"""

from __future__ import annotations

import glob
from pathlib import Path

from jsonargparse import ArgumentParser

from pruning_lightning.cli.config import written_arch
from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.artifact import load_artifact
from pruning_lightning.models import resolve
from pruning_lightning.models.registry import ARCHS
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.surgery import Capability, family_provides


def check_family(family: str) -> None:
    """Raise unless ``family``'s cfg is its units' widths split into stages (``Capability.STAGE_WIDTHS``)."""
    if Capability.STAGE_WIDTHS not in family_provides(family):
        able = [f for f in ARCHS if Capability.STAGE_WIDTHS in family_provides(f)]
        raise PruningError(f"guided pruning supports families that provide stage_widths ({able}), not {family!r}")


def stages(cfg: list[int | str]) -> list[list[int]]:
    """Conv widths grouped by feature-map size (split at ``"M"``)."""
    out: list[list[int]] = [[]]
    for c in cfg:
        if c == "M":
            out.append([])
        else:
            out[-1].append(int(c))
    return [s for s in out if s]


def stage_fractions(pruned: list[ArchSpec], references: list[ArchSpec | None] | None = None) -> list[float]:
    """Mean kept fraction per stage over all layers of all ``pruned`` architectures.

    Args:
        pruned: pruned architectures.
        references: the unpruned architecture of each (default: the family's full widths).
    """
    if not pruned:
        raise PruningError("guided pruning needs at least one pruned architecture")
    sums: list[float] | None = None
    counts: list[int] | None = None
    refs = references or [None] * len(pruned)
    for spec, ref in zip(pruned, refs, strict=True):
        spec = resolve(spec)
        check_family(spec.family)
        full = stages(resolve(ref or spec.replace(cfg=None)).cfg)  # type: ignore[arg-type]
        kept = stages(spec.cfg)  # type: ignore[arg-type]
        fr = [[k / f for k, f in zip(ks, fs, strict=True)] for ks, fs in zip(kept, full, strict=True)]
        if sums is None:
            sums, counts = [0.0] * len(fr), [0] * len(fr)
        if len(fr) != len(sums):
            raise PruningError("guided pruning: the pruned architectures have different numbers of stages")
        for i, f in enumerate(fr):
            sums[i] += sum(f)
            counts[i] += len(f)  # type: ignore[index]
    return [s / n for s, n in zip(sums, counts, strict=True)]  # type: ignore[arg-type]


def guided_arch(pruned: list[ArchSpec], target: ArchSpec, references: list[ArchSpec | None] | None = None) -> ArchSpec:
    """The guided architecture for ``target``: its widths (cfg, or the default) scaled per stage."""
    fractions = stage_fractions(pruned, references)
    target = resolve(target)
    check_family(target.family)
    n_target = len(stages(target.cfg))  # type: ignore[arg-type]
    cfg: list[int | str] = []
    stage_i = 0
    for c in target.cfg:  # type: ignore[union-attr]
        if c == "M":
            stage_i += 1
            cfg.append("M")
            continue
        # Stage i of the target takes the source stage at the same relative position.
        src = min(len(fractions) - 1, stage_i * len(fractions) // n_target)
        cfg.append(max(1, round(int(c) * fractions[src])))
    return resolve(target.replace(cfg=cfg))


def _load(path: str) -> tuple[ArchSpec, ArchSpec | None]:
    """(pruned arch, its reference arch if known) from an artifact dir/``pruned.pt`` or an arch.yaml."""
    p = Path(path)
    if p.is_dir() or p.suffix == ".pt":
        art = load_artifact(p)
        return art.arch, art.reference_arch
    if not p.is_file():
        raise PruningError(f"not found: {p} (give pruned artifact dirs or arch.yaml files)")
    arch = written_arch([str(p)])
    if not isinstance(arch, dict):
        raise PruningError(f"no model.init_args.arch found in {p} (give pruned artifact dirs or arch.yaml files)")
    # Only the widths are read (the class count is the target's data's).
    return ArchSpec.from_dict(arch), None


def write_guided(sources: list[str], target: ArchSpec, out: str | Path, num_classes: int | None = None) -> ArchSpec:
    """Average the sources' per-stage widths onto ``target`` and write ``out`` as an arch config.

    ``num_classes``: written beside the arch (a claim the CLI checks); None leaves it to the data module.
    """
    paths = sorted({q for s in sources for q in (glob.glob(s) or [s])})
    loaded = [_load(p) for p in paths]
    arch = guided_arch([a for a, _ in loaded], target, [r for _, r in loaded])
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(
        f"# Guided pruning (arXiv 1810.05270 Sec. 5) from {len(paths)} pruned model(s): {paths}\n"
        + arch.to_yaml(num_classes)
    )
    return arch


def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(prog="python -m pruning_lightning.stages.guided", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--from", dest="sources", nargs="+", required=True, help="pruned artifact dirs / arch.yaml (globs ok)"
    )
    parser.add_argument("--family", default="vgg")
    parser.add_argument("--depth", type=int, required=True, help="target depth (e.g. 19)")
    parser.add_argument(
        "--num_classes", type=int | None, default=None, help="write this class count (default: the data module's)"
    )
    parser.add_argument("--variant", default="default")
    parser.add_argument("--out", required=True, help="arch.yaml to write")
    a = parser.parse_args(argv)
    # Without --num_classes the written config has none (the data module's count applies when it is used).
    if a.num_classes is not None and a.num_classes < 1:
        raise PruningError(f"--num_classes must be >= 1, got {a.num_classes}")
    target = ArchSpec.from_dict({"family": a.family, "depth": a.depth, "variant": a.variant})
    arch = write_guided(a.sources, target, a.out, a.num_classes)
    print(f"wrote {a.out}: cfg {arch.cfg}")


if __name__ == "__main__":
    try:
        main()
    except PruningError as e:
        raise SystemExit(f"error: {e}") from None
