"""Paired statistics: does training from scratch match fine-tuning, seed by seed?

For each method and each scratch regime, the per-seed difference ``scratch - finetune`` (the same
seed's large model fed both), their mean, and a two-sided 95 % confidence interval from the
t-distribution with ``n - 1`` degrees of freedom (``scipy.stats.t``). The verdict reads the
interval against zero: above it, the scratch regime is better ("supported"); below it, worse ("not
supported"); straddling it, "inconclusive at this scale" (the data cannot tell them apart).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Paired:
    """Paired difference ``regime - baseline`` over seeds, for one method and one checkpoint column."""

    method: str
    regime: str
    baseline: str
    column: str  # "final" or "best"
    seeds: tuple[int, ...]
    diffs: tuple[float, ...]
    level: float = 0.95

    @property
    def n(self) -> int:
        return len(self.diffs)

    @property
    def mean(self) -> float:
        return sum(self.diffs) / self.n

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
    def verdict(self) -> str:
        ci = self.interval
        claim = f"{self.regime} >= {self.baseline}"
        if ci is None:
            return f"{claim}: no verdict (1 seed; needs >= 2)"
        if ci[0] > 0:
            return f"{claim}: supported ({self.regime} better)"
        if ci[1] < 0:
            return f"{claim}: not supported ({self.regime} worse)"
        return f"{claim}: inconclusive at this scale (interval spans 0)"


def paired(
    by_seed: dict[tuple[str, str], dict[int, float]],
    method: str,
    regime: str,
    column: str,
    baseline: str = "finetune",
) -> Paired | None:
    """Differences over the seeds both regimes finished; ``None`` when they share no seed."""
    a, b = by_seed.get((method, regime), {}), by_seed.get((method, baseline), {})
    seeds = tuple(sorted(set(a) & set(b)))
    if not seeds:
        return None
    return Paired(method, regime, baseline, column, seeds, tuple(a[s] - b[s] for s in seeds))
