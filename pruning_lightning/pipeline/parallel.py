"""``pipeline --jobs N``: run the seeds of an experiment in N parallel local processes.

Seeds are independent chains (large -> prune -> regimes), so on a CPU machine N single-threaded
processes use N cores far better than one process with N OpenMP threads on small networks. Each
child is the ordinary ``pipeline`` command restricted (``--only``) to its seeds' stages, with
``OMP_NUM_THREADS`` = cores // N and its output in ``RUN_DIR/logs/seeds_<s>.log``; resuming,
idempotence and the run-directory guard work exactly as in one process. While they run, the terminal
shows each group's current ``stage i/n`` line with its ETA (read from its log) whenever it changes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pruning_lightning.core.errors import PruningError
from pruning_lightning.pipeline.plan import plan
from pruning_lightning.pipeline.runner import check_run_dir
from pruning_lightning.pipeline.schema import Experiment
from pruning_lightning.pipeline.stage import Stage

POLL_S = 5.0  # how often the parent reads the children's logs


def last_stage_line(log: Path, offset: int = 0) -> str | None:
    """The last ``[pipeline] stage i/n ...`` line written to ``log`` after byte ``offset`` (None: none yet)."""
    try:
        with log.open("rb") as f:
            f.seek(max(offset, log.stat().st_size - (1 << 16)))
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    lines = [x for x in text.splitlines() if x.startswith("[pipeline] stage ")]
    return lines[-1] if lines else None


def seed_groups(seeds: tuple[int, ...], jobs: int) -> list[tuple[int, ...]]:
    """Round-robin split of the seeds over at most ``jobs`` groups (none empty)."""
    if jobs < 1:
        raise PruningError(f"--jobs {jobs}: give a positive number of parallel processes")
    return [g for g in (tuple(seeds[i::jobs]) for i in range(jobs)) if g]


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


def run_parallel(
    exp: Experiment, experiment_path: str, jobs: int, extra: list[str], only: list[str] | None = None
) -> None:
    """Run every seed group as a child ``pipeline`` process; wait for all; one error line on failure.

    ``only`` restricts the run to those stage keys, as without ``--jobs``. Guided methods run in a second
    phase, after every seed's first phase (:func:`phases`).
    """
    stages = plan(exp)
    unknown = sorted(set(only or ()) - {st.key for st in stages})
    if unknown:
        raise PruningError(f"--only names unknown stage(s) {unknown}; `pipeline EXP --stages` lists them")
    check_run_dir(exp)  # once, before the children race to create it
    for i, phase in enumerate(phases(stages, only)):
        if i:
            print(f"[pipeline] phase 2: {len(phase)} stage(s) of guided methods, which need every seed's prune")
        _run_phase(exp, experiment_path, jobs, extra, phase)


def _run_phase(exp: Experiment, experiment_path: str, jobs: int, extra: list[str], stages: list[Stage]) -> None:
    groups = seed_groups(tuple(dict.fromkeys(st.seed for st in stages)), jobs)
    threads = max(1, (os.cpu_count() or 1) // len(groups))
    logs = exp.root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    children: list[tuple[tuple[int, ...], Path, subprocess.Popen[bytes]]] = []
    for g in groups:
        keys = [st.key for st in stages if st.seed in g]
        log = logs / f"seeds_{'_'.join(map(str, g))}.log"
        cmd = [sys.executable, "-m", "pruning_lightning", "pipeline", experiment_path, *extra, "--only", *keys]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        with open(log, "ab") as out:
            children.append((g, log, subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)))
        print(f"[pipeline] seeds {list(g)}: {len(keys)} stages in a child process ({threads} thread(s)); log {log}")
    t0 = time.time()
    failed = []
    offsets = {g: log.stat().st_size for g, log, _ in children}  # an earlier run's lines are not news
    shown: dict[tuple[int, ...], str] = {}
    running = list(children)
    while running:
        for g, log, proc in list(running):
            line = last_stage_line(log, offsets[g])
            if line and shown.get(g) != line:
                shown[g] = line
                print(f"[pipeline] seeds {list(g)}: {line.removeprefix('[pipeline] ')}", flush=True)
            rc = proc.poll()
            if rc is None:
                continue
            running.remove((g, log, proc))
            print(
                f"[pipeline] seeds {list(g)}: {'finished' if rc == 0 else f'exit {rc}'} after {time.time() - t0:.0f} s"
            )
            if rc != 0:
                failed.append(f"seeds {list(g)} (exit {rc}, see {log})")
        if running:
            time.sleep(POLL_S)
    if failed:
        raise PruningError(f"{len(failed)} of {len(children)} seed groups failed: {'; '.join(failed)}")
