"""``pipeline --jobs N``: run the seeds of an experiment in N parallel local processes.

Seeds are independent chains (large -> prune -> regimes), so on a CPU machine N single-threaded
processes use N cores far better than one process with N OpenMP threads on small networks. Each
child is the ordinary ``pipeline`` command restricted (``--only``) to its seeds' stages, with
``OMP_NUM_THREADS`` = cores // N and its output in ``RUN_DIR/logs/seeds_<s>.log``; resuming,
idempotence and the run-directory guard work exactly as in one process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pruning_lightning.errors import PruningError
from pruning_lightning.pipeline.plan import plan
from pruning_lightning.pipeline.runner import check_run_dir
from pruning_lightning.pipeline.schema import Experiment


def seed_groups(seeds: tuple[int, ...], jobs: int) -> list[tuple[int, ...]]:
    """Round-robin split of the seeds over at most ``jobs`` groups (none empty)."""
    if jobs < 1:
        raise PruningError(f"--jobs {jobs}: give a positive number of parallel processes")
    return [g for g in (tuple(seeds[i::jobs]) for i in range(jobs)) if g]


def run_parallel(exp: Experiment, experiment_path: str, jobs: int, extra: list[str]) -> None:
    """Run every seed group as a child ``pipeline`` process; wait for all; one error line on failure."""
    stages = plan(exp)
    if any(st.kind == "guided" for st in stages):
        raise PruningError("--jobs > 1 cannot run guided methods (they wait for every seed); run without --jobs")
    check_run_dir(exp)  # once, before the children race to create it
    groups = seed_groups(exp.seeds, jobs)
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
    for g, log, proc in children:
        rc = proc.wait()
        print(f"[pipeline] seeds {list(g)}: {'finished' if rc == 0 else f'exit {rc}'} after {time.time() - t0:.0f} s")
        if rc != 0:
            failed.append(f"seeds {list(g)} (exit {rc}, see {log})")
    if failed:
        raise PruningError(f"{len(failed)} of {len(children)} seed groups failed: {'; '.join(failed)}")
