"""The paired comparisons of a run: the experiment's ``comparisons``, or scratch vs fine-tune by default.

:func:`comparisons` turns each :class:`~pruning_lightning.pipeline.schema.ComparisonSpec` (as recorded in
``experiment.json``) into one :class:`~pruning_lightning.pipeline.paired.Paired` per method pair and
checkpoint column. Without ``comparisons`` the report compares Scratch-E and Scratch-B with fine-tuning
within every method (the paper's Sec. 4 question), as it always has.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.run_dir import RunDir
from pruning_lightning.pipeline.paired import Paired, paired
from pruning_lightning.pipeline.results import Row, by_seed

DEFAULT = (
    {"a": "scratch_e", "b": "finetune", "claim": "not_worse", "margin": 0.0},
    {"a": "scratch_b", "b": "finetune", "claim": "not_worse", "margin": 0.0},
)


def _sides(spec: dict[str, Any], methods: list[str]) -> list[tuple[str, str, str, str]]:
    """``(method_a, regime_a, method_b, regime_b)`` for every method pair the spec names."""
    ma, _, ra = str(spec["a"]).rpartition("/")
    mb, _, rb = str(spec["b"]).rpartition("/")
    if ma or mb:  # one qualified side: the bare one takes its method
        return [(ma or mb, ra, mb or ma, rb)]
    return [(m, ra, m, rb) for m in methods]


def _same_architecture(run_dir: Path, ma: str, mb: str, seeds: tuple[int, ...]) -> None:
    for s in seeds:
        files = [RunDir(run_dir).stage(s, m, "prune").path / "arch.yaml" for m in (ma, mb)]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise PruningError(f"same_architecture: {missing[0]} is missing; re-run that prune stage")
        if files[0].read_text() != files[1].read_text():
            raise PruningError(
                f"same_architecture: seed {s}'s pruned architectures of {ma} and {mb} differ "
                f"({files[0]} vs {files[1]}); the comparison would pair different networks"
            )


def _owner(exp: dict[str, Any], method: str, regime: str) -> str:
    """The method whose row a side reads. ``large``: a method's own large model is in the folder of the first
    method giving the same ``large`` (as the planner trains it once); without one, the shared model (``-``)."""
    if regime != "large":
        return method
    own = {m["name"]: m.get("large") for m in exp["methods"]}
    if own.get(method) is None:
        return "-"
    return next(m["name"] for m in exp["methods"] if m.get("large") == own[method])


def comparisons(exp: dict[str, Any], rows: list[Row], run_dir: Path) -> list[Paired]:
    """Every comparison of the run, final column first, then best; a pair with no common seed is left out."""
    specs = exp.get("comparisons") or DEFAULT
    methods = list(dict.fromkeys(r.method for r in rows if r.method != "-"))
    out: list[Paired] = []
    for column in ("final", "best"):
        table = by_seed(rows, column)
        for spec in specs:
            claim = {k: spec[k] for k in ("claim", "margin", "finding", "paper") if k in spec}
            for ma, ra, mb, rb in _sides(spec, methods):
                ma, mb = _owner(exp, ma, ra), _owner(exp, mb, rb)
                p = paired(table, ma, ra, column, rb, None if ma == mb else mb, **claim)
                if p is None:
                    continue
                if spec.get("same_architecture") and ma != mb:
                    _same_architecture(run_dir, ma, mb, p.seeds)
                out.append(p)
    return out


def paired_json(exp: dict, pairs: list[Paired]) -> str:
    """``paired.json``: every comparison with its per-seed differences, read by ``pruning-lightning findings``."""
    doc = {
        "study": exp["name"],
        "scale": exp.get("scale") or "",
        "description": exp.get("description") or "",
        "comparisons": [p.to_dict() for p in pairs],
    }
    return json.dumps(doc, indent=1) + "\n"
