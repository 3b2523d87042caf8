"""Paired statistics: two stages trained from the same seed's large model, compared seed by seed.

For one comparison ``a - b`` (by default a scratch regime minus fine-tuning of the same method; an
experiment's ``comparisons`` name others: pruned minus uniform architecture, winning minus random ticket),
the per-seed differences, their mean, and a two-sided 95 % confidence interval from the t-distribution
with ``n - 1`` degrees of freedom (``scipy.stats.t``). The verdict reads the interval against the claim:

* ``better`` (a > b): supported when the interval lies above 0, not supported when below 0;
* ``worse`` (a < b): the mirror image;
* ``not_worse`` (a >= b - margin): supported when the interval lies above ``-margin`` (margin 0: a is
  better), not supported when it lies below ``-margin``;
* ``equal`` (|a - b| < margin): supported when the interval lies inside ``(-margin, +margin)``, not
  supported when it lies wholly outside it;

anything else is "inconclusive at this scale" (the data cannot tell).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SYMBOLS = {"better": ">", "worse": "<", "not_worse": ">=", "equal": "~"}


def _stage(method: str, regime: str) -> str:
    """``method/regime``; the experiment's shared large model (method ``-``) is plain ``large``."""
    return regime if method == "-" else f"{method}/{regime}"


@dataclass(frozen=True)
class Paired:
    """Paired difference ``a - b`` over seeds for one checkpoint column.

    ``a`` is ``method``'s ``regime``; ``b`` is ``baseline_method``'s ``baseline`` (``baseline_method`` None:
    the same method).
    """

    method: str
    regime: str
    baseline: str
    column: str  # "final" or "best"
    seeds: tuple[int, ...]
    diffs: tuple[float, ...]
    level: float = 0.95
    baseline_method: str | None = None
    claim: str = "not_worse"
    margin: float = 0.0
    finding: str = ""
    paper: str = ""

    @property
    def n(self) -> int:
        return len(self.diffs)

    @property
    def mean(self) -> float:
        return sum(self.diffs) / self.n

    @property
    def a(self) -> str:
        return self.regime if self.baseline_method is None else _stage(self.method, self.regime)

    @property
    def b(self) -> str:
        return self.baseline if self.baseline_method is None else _stage(self.baseline_method, self.baseline)

    @property
    def label(self) -> str:
        """``scratch_b - finetune`` within a method, ``slimming_50/scratch_e - uniform_50/scratch_e`` across."""
        return f"{self.a} - {self.b}"

    @property
    def interval(self) -> tuple[float, float] | None:
        """Two-sided t interval of the mean difference; ``None`` with fewer than two seeds."""
        if self.n < 2:
            return None
        from scipy import stats  # imported on use (start-up time)

        sd = math.sqrt(sum((d - self.mean) ** 2 for d in self.diffs) / (self.n - 1))
        half = float(stats.t.ppf(0.5 + self.level / 2, self.n - 1)) * sd / math.sqrt(self.n)
        return self.mean - half, self.mean + half

    @property
    def claim_text(self) -> str:
        if self.claim == "equal":
            return f"{self.a} ~ {self.b} (within ±{self.margin:g})"
        margin = f" - {self.margin:g}" if self.claim == "not_worse" and self.margin else ""
        return f"{self.a} {SYMBOLS[self.claim]} {self.b}{margin}"

    @property
    def status(self) -> str:
        """``supported``, ``not supported``, ``inconclusive`` or ``no verdict`` (one seed)."""
        return self._judge()[0]

    @property
    def verdict(self) -> str:
        status, detail = self._judge()
        words = "inconclusive at this scale" if status == "inconclusive" else status
        return f"{self.claim_text}: {words} ({detail})"

    def _judge(self) -> tuple[str, str]:
        """(status, why): the interval read against the claim (module docstring)."""
        ci = self.interval
        if ci is None:
            return "no verdict", "1 seed; needs >= 2"
        lo, hi = ci
        m, a, b = self.margin, self.a, self.b
        if self.claim == "equal":
            if -m < lo and hi < m:
                return "supported", f"interval inside ±{m:g}"
            if lo >= m or hi <= -m:
                return "not supported", f"{a} {'better' if lo >= m else 'worse'} by more than {m:g}"
            if lo > 0 or hi < 0:  # the equality is undecided, but the direction is not: say which
                return (
                    "inconclusive",
                    f"interval crosses the ±{m:g} margin but excludes 0: {a} {'better' if lo > 0 else 'worse'}",
                )
            return "inconclusive", f"interval crosses the ±{m:g} margin"
        sign = -1.0 if self.claim == "worse" else 1.0
        low, high = (lo, hi) if sign > 0 else (-hi, -lo)  # the claim's direction made positive
        edge = -m if self.claim == "not_worse" else 0.0
        good, bad = ("better", "worse") if sign > 0 else ("worse", "better")
        if low > edge:
            return "supported", f"{a} {good}" if low > 0 else f"within {m:g} of {b}"
        if high < edge:
            return "not supported", f"{a} {bad}"
        return "inconclusive", f"interval spans {edge * sign + 0.0:g}"

    def to_dict(self) -> dict[str, object]:
        ci = self.interval
        return {
            "finding": self.finding,
            "paper": self.paper,
            "a": self.a if self.baseline_method is not None else _stage(self.method, self.regime),
            "b": self.b if self.baseline_method is not None else _stage(self.method, self.baseline),
            "claim": self.claim,
            "margin": self.margin,
            "column": self.column,
            "seeds": list(self.seeds),
            "diffs": list(self.diffs),
            "mean": self.mean,
            "ci": list(ci) if ci else None,
            "verdict": self.verdict,
            "status": self.status,
        }


def paired(
    by_seed: dict[tuple[str, str], dict[int, float]],
    method: str,
    regime: str,
    column: str,
    baseline: str = "finetune",
    baseline_method: str | None = None,
    **claim: object,
) -> Paired | None:
    """Differences over the seeds both stages finished; ``None`` when they share no seed.

    ``claim`` holds :class:`Paired`'s ``claim``/``margin``/``finding``/``paper``.
    """
    a = by_seed.get((method, regime), {})
    b = by_seed.get((baseline_method or method, baseline), {})
    seeds = tuple(sorted(set(a) & set(b)))
    if not seeds:
        return None
    diffs = tuple(a[s] - b[s] for s in seeds)
    return Paired(method, regime, baseline, column, seeds, diffs, baseline_method=baseline_method, **claim)  # type: ignore[arg-type]
