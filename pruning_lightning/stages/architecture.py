"""``pruning-lightning arch``: a preset or guided architecture -> artifact directory (no weights, no pruning).

arXiv 1810.05270 Tables 2, 3 and 5 train the ThiNet, regression and SSS architectures from scratch only, and
Sec. 5 trains guided architectures likewise. This stage writes such an architecture as a prune artifact (arch,
empty structure, measured FLOPs ratio against the reference, Scratch-B epochs), so the ordinary
``scratch_e``/``scratch_b`` regimes train it. The pipeline plans it for ``preset:`` and ``guided_from:``
methods and ``pipeline --dry-run`` prints it. Examples::

    pruning-lightning arch --reference configs/data/cifar10.yaml configs/arch/cifar/vgg16_l1.yaml \
        --preset configs/arch/cifar/vgg16_thinet_50.yaml --base_epochs 160 --out runs/x/thinet/prune
    pruning-lightning arch --reference configs/data/cifar10.yaml configs/demo/arch.yaml \
        --guided_from runs/x/seed*/slimming_50/prune --base_epochs 160 --out runs/x/guided/prune
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

from jsonargparse import ActionYesNo, ArgumentParser

from pruning_lightning.cli.config import arch_of
from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.artifact import PrunedArtifact, load_artifact, write_artifact
from pruning_lightning.formats.fresh import check_output_dir
from pruning_lightning.models import build_arch, input_size, resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning.stats import complexity_stats
from pruning_lightning.stages.guided import guided_arch
from pruning_lightning.utils.flops import count_complexity
from pruning_lightning.utils.schedule import MAX_EPOCHS


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="pruning-lightning arch", description=__doc__.splitlines()[0], exit_on_error=False, allow_abbrev=False
    )
    p.add_argument(
        "--reference", nargs="+", required=True, help="data and arch configs of the unpruned (reference) network"
    )
    p.add_argument(
        "--preset", default=None, help="arch config of a literature architecture (one of --preset/--guided_from)"
    )
    p.add_argument(
        "--guided_from", nargs="+", default=None, help="pruned artifact folders to average per stage (globs ok)"
    )
    p.add_argument(
        "--guided_depth", type=int | None, default=None, help="guided target depth (default: the reference's)"
    )
    p.add_argument("--num_classes", type=int | None, default=None, help="class count where the data cannot count here")
    p.add_argument("--base_epochs", type=int, required=True, help="large model's epochs (Scratch-B base)")
    p.add_argument("--max_ratio", type=float | None, default=None, help="Scratch-B FLOPs-ratio cap (ImageNet 2.0)")
    p.add_argument("--out", required=True, help="artifact directory to create")
    p.add_argument("--overwrite", action=ActionYesNo, nargs="?", default=False, help="replace an existing --out")
    return p


def preset_stats(
    arch: ArchSpec, reference: ArchSpec, num_classes: int, base_epochs: int, max_ratio: float | None
) -> dict[str, Any]:
    """The same keys as a prune stage's ``stats.yaml``."""
    before = count_complexity(build_arch(reference, num_classes), input_size(reference))
    after = count_complexity(build_arch(arch, num_classes), input_size(arch))
    kept = {}
    if arch.cfg and reference.cfg and len(arch.cfg) == len(reference.cfg):
        convs = [(a, r) for a, r in zip(arch.cfg, reference.cfg, strict=True) if a != "M"]
        kept = {f"layer{i + 1}": f"{a}/{r}" for i, (a, r) in enumerate(convs)}
    return {
        "method": "preset",
        **complexity_stats(before, after, base_epochs=base_epochs, max_ratio=max_ratio, kept=kept),
    }


def architecture(
    reference_files: list[str],
    preset: str | None,
    guided_from: list[str] | None,
    guided_depth: int | None,
    num_classes: int | None,
) -> tuple[ArchSpec, ArchSpec, str, int]:
    """(architecture, reference it is measured against, method name, class count) of a preset or guided method."""
    if (preset is None) == (guided_from is None):
        raise PruningError("give exactly one of --preset (an arch config) or --guided_from (pruned artifact folders)")
    # The class count is the data module's; num_classes stands in where its data is absent here.
    reference, classes = arch_of(reference_files, declared=num_classes)
    reference = resolve(reference)
    if preset is not None:
        arch, _ = arch_of([*reference_files, preset], declared=num_classes)  # the preset's claim checked too
        return resolve(arch), reference, "preset", classes
    # In the order given (a glob's matches sorted): the average is the same, the float sum order too.
    paths = list(dict.fromkeys(q for s in guided_from or [] for q in (sorted(glob.glob(s)) or [s])))
    arts = [load_artifact(p) for p in paths]  # their class count shapes no width: only the target's is used
    # Same depth: the reference's own widths; another depth: that depth's default widths.
    target = reference.replace(depth=guided_depth, cfg=None) if guided_depth else reference
    arch = guided_arch([a.arch for a in arts], target, [a.reference_arch for a in arts])
    return arch, resolve(target), "guided", classes


def main(argv: list[str]) -> None:
    parser = build_parser()
    a = parser.parse_args(argv)
    if not 1 <= a.base_epochs <= MAX_EPOCHS:
        raise PruningError(f"--base_epochs must be a positive integer up to {MAX_EPOCHS}, got {a.base_epochs}")
    if a.max_ratio is not None and not a.max_ratio >= 1:
        raise PruningError(f"--max_ratio caps the Scratch-B FLOPs ratio: a number >= 1, got {a.max_ratio}")
    check_output_dir(Path(a.out), a.overwrite)  # before any work: a bad --out fails at once
    arch, reference, method, classes = architecture(a.reference, a.preset, a.guided_from, a.guided_depth, a.num_classes)
    stats = {**preset_stats(arch, reference, classes, a.base_epochs, a.max_ratio), "method": method}
    art = PrunedArtifact(arch=arch, reference_arch=reference, method=method, num_classes=classes, stats=stats)
    out = write_artifact(art, a.out, overwrite=a.overwrite)
    print(f"{method} architecture {arch.cfg}: FLOPs ratio {stats['flops_ratio']:.2f}x, ", end="")
    print(f"Scratch-B {stats['scratch_b_epochs']} epochs; wrote {out}")
