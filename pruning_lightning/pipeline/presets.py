"""Prune-free stages: a preset (literature) or guided architecture written as an artifact.

arXiv 1810.05270 Tables 2, 3 and 5: ThiNet, regression and SSS architectures are trained from scratch
only; Sec. 5:
guided architectures likewise. Writing them as an artifact (arch + empty structure + measured
FLOPs ratio + Scratch-B epochs) lets the ordinary ``scratch_e``/``scratch_b`` regimes train them.
"""

from __future__ import annotations

from typing import Any

from pruning_lightning.artifact import PrunedArtifact, load_artifact, write_artifact
from pruning_lightning.config import arch_of
from pruning_lightning.errors import PruningError
from pruning_lightning.guided import guided_arch
from pruning_lightning.models import build_arch, input_size, resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pipeline.paths import resolve_path
from pruning_lightning.pipeline.schema import Experiment
from pruning_lightning.pipeline.stage import Stage
from pruning_lightning.pruning.stats import complexity_stats
from pruning_lightning.utils.flops import count_complexity


def experiment_arch(exp: Experiment, extra: tuple[str, ...] = ()) -> ArchSpec:
    """The experiment's (reference) architecture, optionally with more arch configs on top."""
    # The class count is the data module's; the experiment's num_classes stands in where its data is absent here.
    return resolve(arch_of([resolve_path(p) for p in (*exp.data, *exp.arch, *extra)], declared=exp.num_classes))


def preset_stats(arch: ArchSpec, reference: ArchSpec, base_epochs: int, max_ratio: float | None) -> dict[str, Any]:
    """The same keys as a prune stage's ``stats.yaml``."""
    before = count_complexity(build_arch(reference), input_size(reference))
    after = count_complexity(build_arch(arch), input_size(arch))
    kept = {}
    if arch.cfg and reference.cfg and len(arch.cfg) == len(reference.cfg):
        convs = [(a, r) for a, r in zip(arch.cfg, reference.cfg, strict=True) if a != "M"]
        kept = {f"layer{i + 1}": f"{a}/{r}" for i, (a, r) in enumerate(convs)}
    return {
        "method": "preset",
        **complexity_stats(before, after, base_epochs=base_epochs, max_ratio=max_ratio, kept=kept),
    }


def write_preset(exp: Experiment, st: Stage) -> None:
    """Write the preset/guided artifact of stage ``st``."""
    m = exp.method(st.method)  # type: ignore[arg-type]
    base = exp.base_epochs or (exp.large.epochs if exp.large else None)
    if base is None:
        raise PruningError(f"method {m.name}: a preset/guided architecture needs base_epochs (for Scratch-B)")
    reference = experiment_arch(exp)
    if m.preset:
        arch = experiment_arch(exp, (m.preset,))
        method = "preset"
    else:
        arts = [load_artifact(exp.root / f"seed{s}" / str(m.guided_from) / "prune") for s in exp.seeds]
        # Same depth: the experiment's own widths; another depth: that depth's default widths.
        target = reference.replace(depth=m.guided_depth, cfg=None) if m.guided_depth else reference
        arch, method = guided_arch([a.arch for a in arts], target, [a.reference_arch for a in arts]), "guided"
        reference = resolve(target)
    stats = {**preset_stats(arch, reference, base, exp.max_ratio_for(m)), "method": method}
    art = PrunedArtifact(arch=arch, reference_arch=reference, method=method, stats=stats)
    write_artifact(art, st.dir, overwrite=True)
