"""Pipeline progress you can plan by: stage i of n, elapsed time, ETAs from measured epoch times, a summary.

Seconds per epoch are measured, never assumed: every finished fit stage (this run's and earlier
runs' ``result.json``: ``wall_s`` over ``epochs``, its test included) gives one figure. A stage's
estimate uses the figures of its own method (pruned networks are faster than the large one), else
all figures; before the first fit has finished there is no estimate (``?``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pruning_lightning.pipeline.regimes import config_epochs
from pruning_lightning.pipeline.stage import Stage


def fmt(seconds: float | None) -> str:
    """``1h02m``, ``3m05s``, ``12s``; ``?`` when unknown."""
    if seconds is None or seconds != seconds:
        return "?"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def stage_epochs(st: Stage) -> int | None:
    """The epochs a fit stage trains: its ``--trainer.max_epochs``, else the last config that sets it."""
    if st.kind != "fit":
        return None
    args = st.args
    flags = [i for i, a in enumerate(args) if a == "--trainer.max_epochs"]
    if flags:
        return int(args[flags[-1] + 1])
    return config_epochs([args[i + 1] for i, a in enumerate(args[:-1]) if a == "--config"])


class Progress:
    """Prints ``[pipeline] stage i/n`` lines with ETAs while :func:`runner.run` works through ``stages``."""

    def __init__(self, stages: list[Stage], echo: Callable[[str], None], clock: Callable[[], float] = time.time):
        self.stages, self.echo, self.clock = stages, echo, clock
        self.t0 = clock()
        self.times: dict[str, float] = {}
        self.rates: dict[str, list[float]] = {}  # method (or "-") -> measured seconds per epoch
        for st in stages:
            if st.done() and st.kind == "fit":
                self._measure(st, _read(st.marker))
        self._started = 0.0

    def _measure(self, st: Stage, result: dict[str, Any]) -> None:
        epochs, wall = result.get("epochs"), result.get("wall_s")
        if isinstance(epochs, int) and epochs > 0 and isinstance(wall, (int, float)) and wall > 0:
            self.rates.setdefault(st.method or "-", []).append(wall / epochs)

    def measure(self, st: Stage) -> dict[str, Any]:
        """Take the seconds per epoch of a fit stage that has just finished; its ``result.json`` ({}: none)."""
        result = _read(st.marker) if st.kind == "fit" and st.marker.is_file() else {}
        self._measure(st, result)
        return result

    def estimate(self, st: Stage) -> float | None:
        """Seconds ``st`` will take (fit stages; prune stages count as 0), None when nothing was measured."""
        if st.kind != "fit":
            return 0.0
        rates = self.rates.get(st.method or "-") or [r for rs in self.rates.values() for r in rs]
        epochs = stage_epochs(st)
        if not rates or epochs is None:
            return None
        return epochs * sum(rates) / len(rates)

    def start(self, st: Stage, todo: list[Stage]) -> None:
        """Announce ``st`` (``todo``: it and every stage still to run after it)."""
        i = self.stages.index(st) + 1
        self._started = self.clock()
        epochs = stage_epochs(st)
        what = f"{st.kind}, {epochs} epochs" if epochs else st.kind
        ests = [self.estimate(s) for s in todo]
        total = None if any(e is None for e in ests) else sum(e or 0.0 for e in ests)
        self.echo(
            f"[pipeline] stage {i}/{len(self.stages)} {st.key} ({what}): elapsed {fmt(self._started - self.t0)}, "
            f"ETA stage ~{fmt(ests[0] if ests else None)}, experiment ~{fmt(total)}"
        )

    def finish(self, st: Stage) -> None:
        took = self.clock() - self._started
        self.times[st.key] = took
        self.measure(st)
        epochs = stage_epochs(st)
        per = f" ({fmt(took / epochs)}/epoch)" if epochs else ""
        self.echo(f"[pipeline] {st.key}: done in {fmt(took)}{per}")

    def summary(self) -> None:
        if not self.times:
            return
        width = max(len(k) for k in self.times)
        lines = [f"  {k:<{width}}  {fmt(v):>7}" for k, v in self.times.items()]
        self.echo(
            f"[pipeline] time per stage ({len(self.times)} run, total {fmt(self.clock() - self.t0)}):\n"
            + "\n".join(lines)
        )


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
