"""``pipeline --jobs N``: keep N stages of an experiment running at once, in local child processes.

A scheduler in the parent runs each stage as the ordinary ``pipeline`` command restricted to it
(``--only KEY``), with ``OMP_NUM_THREADS`` = cores // N and its output in ``RUN_DIR/logs/<KEY>.log``;
resuming, idempotence and the run-folder guard work exactly as in one process. Whenever a slot is
free it starts the ready stage (every dependency finished) that heads the longest chain of training
still to come (:func:`critical_path`), so the slots stay busy to the end: five seeds on two cores no
longer run as 3 + 2 seed chains with one core idle for the last third. On a small CPU network, N
single-threaded processes use N cores far better than one process with N OpenMP threads; more
processes than cores only add contention (measured: 5 processes on 2 cores, ~25 % slower per
epoch than 2).

A stage that fails stops its dependants; independent stages (other seeds) go on, and the run ends
with one error line naming the failed stages and their logs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from pruning_lightning.core.errors import PruningError
from pruning_lightning.pipeline.plan import plan
from pruning_lightning.pipeline.progress import Progress, fmt, stage_epochs
from pruning_lightning.pipeline.runner import check_run_dir, test_line
from pruning_lightning.pipeline.schema import Experiment
from pruning_lightning.pipeline.stage import Stage

POLL_S = 2.0  # how often the parent looks at its children


class Child(Protocol):
    """What the scheduler needs of a child process (``subprocess.Popen`` is one)."""

    def poll(self) -> int | None: ...
    def terminate(self) -> None: ...
    def wait(self) -> int: ...


Spawn = Callable[[Stage, int], Child]


def phases(stages: list[Stage], only: list[str] | None = None) -> list[list[Stage]]:
    """Stages in at most two phases: everything else, then the guided methods and what follows them.

    A guided architecture averages the pruned architectures of every seed, so its stages wait until all seed
    chains of the first phase have finished; within a phase the seeds are independent again.
    """
    by_key = {st.key: st for st in stages}
    later: set[str] = set()
    for st in stages:  # dependency order: a stage is "later" when it is guided or needs a later stage
        if st.kind == "guided" or any(d in later for d in st.deps):
            later.add(st.key)
    wanted = [st for st in stages if not only or st.key in only]
    first = [st for st in wanted if st.key not in later]
    second = [by_key[k] for k in (st.key for st in wanted) if k in later]
    return [p for p in (first, second) if p]


def critical_path(stages: Sequence[Stage]) -> dict[str, float]:
    """Per stage: the epochs on the longest chain from it to the end (a stage that trains none counts 0.1)."""
    rank: dict[str, float] = {}
    for st in reversed(stages):  # planned in dependency order, so every dependant comes first here
        after = [rank[s.key] for s in stages if st.key in s.deps and s.key in rank]
        rank[st.key] = (stage_epochs(st) or 0.1) + max(after, default=0.0)
    return rank


def log_path(root: Path, st: Stage) -> Path:
    """``RUN_DIR/logs/<KEY>.log`` (a key is ``seed0/large``, ``seed0/<method>/<regime>``: folders per seed)."""
    return root / "logs" / f"{st.key}.log"


def run_parallel(
    exp: Experiment, experiment_path: str, jobs: int, extra: list[str], only: list[str] | None = None
) -> None:
    """Run the requested, unfinished stages ``jobs`` at a time (guided methods in a second phase, :func:`phases`)."""
    stages = plan(exp)
    unknown = sorted(set(only or ()) - {st.key for st in stages})
    if unknown:
        raise PruningError(f"--only names unknown stage(s) {unknown}; `pipeline EXP --stages` lists them")
    check_run_dir(exp)  # once, before the children race to create it
    threads = max(1, (os.cpu_count() or 1) // jobs)
    logs = exp.root / "logs"
    print(f"[pipeline] {jobs} stages at a time, each a child process with {threads} thread(s); logs in {logs}")

    def spawn(st: Stage, _slot: int) -> subprocess.Popen[bytes]:
        log = log_path(exp.root, st)
        log.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pruning_lightning", "pipeline", experiment_path, *extra, "--only", st.key]
        with open(log, "ab") as out:
            return subprocess.Popen(
                cmd, env={**os.environ, "OMP_NUM_THREADS": str(threads)}, stdout=out, stderr=subprocess.STDOUT
            )

    for i, phase in enumerate(phases(stages, only)):
        if i:
            print(f"[pipeline] phase 2: {len(phase)} stage(s) of guided methods, which need every seed's prune")
        schedule(stages, phase, jobs, spawn, echo=print)


def schedule(
    stages: list[Stage],
    todo: list[Stage],
    jobs: int,
    spawn: Spawn,
    echo: Callable[[str], None] = print,
    poll_s: float | None = None,
) -> list[str]:
    """Run ``todo`` (a subset of the planned ``stages``) ``jobs`` at a time; returns the keys in start order.

    A stage starts once its dependencies are finished (done on disk, or finished in this run); among ready
    stages the one with the longest :func:`critical_path` goes first (ties: plan order). Raises one
    :class:`PruningError` at the end when any stage failed (its dependants are not started).
    """
    if jobs < 1:
        raise PruningError(f"--jobs {jobs}: give a positive number of parallel processes")
    rank = critical_path(stages)
    order = {st.key: i for i, st in enumerate(stages)}
    by_key = {st.key: st for st in stages}
    finished = {st.key for st in stages if st.done()}
    pending = [st for st in todo if st.key not in finished]
    progress = Progress(stages, lambda s: None)
    todo_keys = {st.key for st in pending}
    for st in pending:  # a dependency that is neither finished nor to be run here would be waited for forever
        missing = [d for d in st.deps if d not in finished and d not in todo_keys]
        if missing:
            raise PruningError(f"stage {st.key} needs {missing} finished first; run them (or the whole pipeline)")
    running: dict[str, tuple[Child, float, int]] = {}
    failed: dict[str, str] = {}
    started: list[str] = []
    total, t0 = len(pending), time.time()

    try:
        while pending or running:
            for key, (child, since, _slot) in list(running.items()):
                rc = child.poll()
                if rc is None:
                    continue
                del running[key]
                st = by_key[key]
                if rc == 0:
                    finished.add(key)
                    result = progress.measure(st)  # a fit's result.json: its test accuracies
                    tested = f"; {test_line(result)}" if "test_acc1" in result else ""
                    echo(f"[pipeline] {key}: done in {fmt(time.time() - since)}{tested}")
                else:
                    failed[key] = f"{key} (exit {rc})"
                    echo(f"[pipeline] {key}: FAILED (exit {rc})")
            for st in [s for s in pending if any(d in failed for d in s.deps)]:
                pending.remove(st)
                failed[st.key] = f"{st.key} (not run: a dependency failed)"
            ready = [s for s in pending if all(d in finished for d in s.deps)]
            ready.sort(key=lambda s: (-rank[s.key], order[s.key]))
            free = [i for i in range(jobs) if i not in {slot for _, _, slot in running.values()}]
            for st, slot in zip(ready, free, strict=False):  # as many as there are free slots
                pending.remove(st)
                running[st.key] = (spawn(st, slot), time.time(), slot)
                started.append(st.key)
                epochs = stage_epochs(st)
                what = f"{st.kind}, {epochs} epochs" if epochs else st.kind
                ests = [progress.estimate(s) for s in [*pending, *(by_key[k] for k in running)]]
                eta = None if any(e is None for e in ests) else sum(e or 0.0 for e in ests) / jobs
                echo(
                    f"[pipeline] start {st.key} ({what}) in slot {slot + 1}/{jobs}: {len(started)}/{total} started, "
                    f"elapsed {fmt(time.time() - t0)}, ETA ~{fmt(eta)}"
                )
            if running:
                time.sleep(POLL_S if poll_s is None else poll_s)
    finally:  # an interrupted scheduler stops its children: none may write after the run folder's lock is gone
        for child, _since, _slot in running.values():
            child.terminate()
            child.wait()
    if failed:
        raise PruningError(f"{len(failed)} stage(s) did not finish: {'; '.join(failed.values())}; see RUN_DIR/logs/")
    return started
