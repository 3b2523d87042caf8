"""``pipeline --jobs N``'s scheduler, on a virtual clock: slots, dependencies, balance, failures."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pruning_lightning.core.errors import PruningError
from pruning_lightning.pipeline import load_experiment, parallel, plan
from pruning_lightning.pipeline.parallel import critical_path, schedule
from pruning_lightning.pipeline.progress import stage_epochs
from pruning_lightning.pipeline.stage import Stage

ROOT = Path(__file__).resolve().parents[1]
LOTTERY = ROOT / "configs/experiments/study_cifar10_vgg16w8_lottery.yaml"


class Clock:
    """Virtual time: the scheduler's sleep advances it by one tick."""

    def __init__(self) -> None:
        self.now = 0.0
        self.live: set[str] = set()
        self.peak = 0
        self.events: list[tuple[float, str, str]] = []  # (time, "start" | "end", key)

    def sleep(self, _s: float) -> None:
        self.now += 1


class FakeChild:
    def __init__(self, clock: Clock, st: Stage, rc: int = 0) -> None:
        self.clock, self.key, self.rc = clock, st.key, rc
        self.end = clock.now + (stage_epochs(st) or 1)
        clock.live.add(st.key)
        clock.peak = max(clock.peak, len(clock.live))
        clock.events.append((clock.now, "start", st.key))

    def poll(self) -> int | None:
        if self.clock.now < self.end:
            return None
        if self.key in self.clock.live:
            self.clock.live.discard(self.key)
            self.clock.events.append((self.clock.now, "end", self.key))
        return self.rc

    def terminate(self) -> None:
        self.clock.events.append((self.clock.now, "terminate", self.key))

    def wait(self) -> int:
        return -15


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(parallel.time, "sleep", c.sleep)
    monkeypatch.setattr(parallel.time, "time", lambda: c.now)
    return c


def lottery_stages(tmp_path: Path) -> list[Stage]:
    exp = load_experiment(LOTTERY)
    return plan(dataclasses.replace(exp, run_dir=str(tmp_path / "run")))  # nothing finished there


def test_two_slots_run_the_lottery_study_without_idle_cores(tmp_path: Path, clock: Clock) -> None:
    stages = lottery_stages(tmp_path)
    by_key = {st.key: st for st in stages}
    started = schedule(stages, stages, 2, lambda st, _slot: FakeChild(clock, st), echo=lambda s: None, poll_s=0)
    assert sorted(started) == sorted(by_key) and clock.peak == 2
    ends = {k: t for t, what, k in clock.events if what == "end"}
    for t, what, k in clock.events:  # nothing starts before every dependency has ended
        if what == "start":
            assert all(ends[d] <= t for d in by_key[k].deps), k
    work = sum(stage_epochs(st) or 1 for st in stages)
    # 5 seeds x 2 equal chains on 2 slots: the makespan is the work / 2 (+ the stages' own granularity). Seed
    # chains dealt round-robin (3 + 2 seeds) would take 3/5 of the work instead of 1/2.
    assert clock.now <= work / 2 + 24, (clock.now, work)  # at most one stage's worth of idle slot


def test_critical_path_counts_the_training_still_to_come(tmp_path: Path) -> None:
    stages = lottery_stages(tmp_path)
    rank = critical_path(stages)
    # large (24) -> prune (0.1) -> one 24-epoch ticket
    assert rank["seed0/large"] == pytest.approx(48.1)
    assert rank["seed0/magnitude_80/prune"] == pytest.approx(24.1)
    assert rank["seed0/magnitude_80/winning"] == 24


def test_a_failed_stage_stops_its_dependants_only(tmp_path: Path, clock: Clock) -> None:
    stages = lottery_stages(tmp_path)
    lines: list[str] = []

    def spawn(st: Stage, _slot: int) -> FakeChild:
        return FakeChild(clock, st, rc=1 if st.key == "seed1/large" else 0)

    with pytest.raises(PruningError) as e:
        schedule(stages, stages, 3, spawn, echo=lines.append, poll_s=0)
    started = {k for _, what, k in clock.events if what == "start"}
    assert "seed1/large" in started and "seed1/magnitude_80/prune" not in started
    assert "seed1/magnitude_80_lr0.01/large" in started and "seed4/l1_norm_a/winning" in started
    msg = str(e.value)
    assert msg.count("\n") == 0 and "seed1/large (exit 1)" in msg and "seed1/l1_norm_a/random (not run" in msg
    assert "[pipeline] seed1/large: FAILED (exit 1)" in lines


def test_only_without_its_dependencies_is_refused_before_anything_starts(tmp_path: Path, clock: Clock) -> None:
    stages = lottery_stages(tmp_path)
    todo = [st for st in stages if st.key == "seed0/magnitude_80/prune"]
    with pytest.raises(PruningError, match=r"seed0/magnitude_80/prune needs \['seed0/large'\] finished first"):
        schedule(stages, todo, 2, lambda st, _slot: FakeChild(clock, st), echo=lambda s: None, poll_s=0)
    assert clock.events == []


def test_an_interrupted_scheduler_stops_its_children(tmp_path: Path, clock: Clock) -> None:
    stages = lottery_stages(tmp_path)
    spawned: list[str] = []

    def spawn(st: Stage, _slot: int) -> FakeChild:
        if len(spawned) == 2:  # Ctrl-C (or any error) in the parent while two stages run
            raise KeyboardInterrupt
        spawned.append(st.key)
        return FakeChild(clock, st)

    with pytest.raises(KeyboardInterrupt):
        schedule(stages, stages, 3, spawn, echo=lambda s: None, poll_s=0)
    assert sorted(k for _, what, k in clock.events if what == "terminate") == sorted(spawned)
