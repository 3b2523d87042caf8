"""An experiment's ``comparisons``: which paired differences its report computes, and what the paper claims.

Report-only (not part of the experiment's hash); see docs/studies.md and :mod:`pruning_lightning.pipeline.paired`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pruning_lightning.core.errors import PruningError
from pruning_lightning.pipeline.checks import check_type, strict

CLAIMS = ("better", "not_worse", "equal", "worse")


@dataclass(frozen=True)
class ComparisonSpec:
    """One paired comparison the report computes: ``a - b`` per seed, mean, 95 % CI and a verdict on ``claim``.

    ``a`` and ``b`` name finished stages as ``"regime"`` or ``"method/regime"``. Both bare: the comparison is
    made within every method that has both regimes (``scratch_b`` vs ``finetune``); one bare: it takes the
    other side's method. The regime ``large`` is the method's large model: its own (``methods[].large``) where
    it has one, else the experiment's shared one; for SSS and SFP that model *is* the method's result (SSS's
    zero-scale blocks are removed losslessly, SFP's last epoch ends masked), the baseline of arXiv 1810.05270
    Table 5 and of its SFP appendix. ``claim`` is what the paper reports, read against the interval of ``a - b``
    (percentage points): ``better`` (a > b: the interval above 0), ``worse`` (below 0), ``not_worse``
    (a >= b - margin: the interval above ``-margin``) or ``equal`` (|a - b| < margin: the interval inside
    ``(-margin, +margin)``). ``same_architecture`` makes the report refuse a comparison of two methods whose
    pruned architectures (``prune/arch.yaml``) differ in any seed. ``finding``/``paper`` label the row of the
    findings table (``pruning-lightning findings``). Report-only: not part of the experiment's hash.
    """

    a: str
    b: str
    claim: str = "not_worse"
    margin: float = 0.0
    finding: str = ""
    paper: str = ""
    same_architecture: bool = False


def parse_comparisons(value: Any, methods: list[str], regimes: list[str]) -> tuple[ComparisonSpec, ...]:
    """Validate an experiment's ``comparisons`` list against its method and regime names."""
    return tuple(_comparison(c, i, methods, regimes) for i, c in enumerate(_list(value)))


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise PruningError(f"comparisons must be a list of {{a, b, claim, ...}} mappings, got {value!r}")
    return value


def _comparison(value: Any, i: int, methods: list[str], regimes: list[str]) -> ComparisonSpec:
    where = f"comparisons[{i}]"
    c = strict(ComparisonSpec, value, where)
    for side in ("a", "b"):
        ref = c[side]
        if not isinstance(ref, str) or ref.count("/") > 1 or not ref:
            raise PruningError(f"{where}.{side} must be 'regime' or 'method/regime', got {ref!r}")
        method, _, regime = ref.rpartition("/")
        if method and method not in methods:
            raise PruningError(f"{where}.{side} names method {method!r}; methods: {methods}")
        if regime not in regimes and regime != "large":
            raise PruningError(f"{where}.{side} names regime {regime!r}; regimes: {['large', *regimes]}")
    if c["a"] == c["b"]:
        raise PruningError(f"{where} compares {c['a']!r} with itself; give two different stages")
    if c.get("claim", "not_worse") not in CLAIMS:
        raise PruningError(f"{where}.claim must be one of {list(CLAIMS)}, got {c.get('claim')!r}")
    margin = c.get("margin", 0.0)
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 <= margin < 100:
        raise PruningError(f"{where}.margin is in percentage points: a number in [0, 100), got {margin!r}")
    if c.get("claim") == "equal" and margin <= 0:
        raise PruningError(f"{where}: claim 'equal' needs a margin > 0 (percentage points), e.g. margin: 1.0")
    for key in ("finding", "paper"):
        check_type(c.get(key), (str,), f"{where}.{key}", "a string")
    if not isinstance(c.get("same_architecture", False), bool):
        raise PruningError(f"{where}.same_architecture must be true or false")
    return ComparisonSpec(**{**c, "margin": float(margin)})
