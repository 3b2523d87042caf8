"""SLURM launcher: one sbatch script per stage, chained with ``--dependency=afterok:<jobid>``.

Each script runs ``srun ... pipeline EXP --only KEY --step fit`` (one task per GPU; Lightning's
SLURMEnvironment picks up the ranks), then the single-process ``--step test`` that writes the
``result.json`` marker. ``#SBATCH --signal=SIGUSR1@90`` + ``--requeue`` let Lightning's SLURM
plugin save ``last.ckpt`` and requeue before the time limit; the requeued job resumes from it,
because the runner resumes any stage with a checkpoint and skips finished ones.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

from pruning_lightning.core.errors import PruningError
from pruning_lightning.pipeline.plan import plan
from pruning_lightning.pipeline.runner import check_run_dir
from pruning_lightning.pipeline.schema import Experiment
from pruning_lightning.pipeline.stage import Stage

DEFAULTS: dict[str, Any] = {
    "nodes": 1,
    "gpus_per_node": 1,
    "cpus_per_task": 8,
    "mem": "64G",
    "time": "24:00:00",
    "partition": None,
    "account": None,
    "signal_seconds": 90,
    "python": "python",
    "setup": [],
}


def settings(exp: Experiment) -> dict[str, Any]:
    unknown = sorted(set(exp.slurm) - set(DEFAULTS))
    if unknown:
        raise PruningError(f"unknown slurm key(s) {unknown}; known: {sorted(DEFAULTS)}")
    return {**DEFAULTS, **exp.slurm}


def script(exp: Experiment, st: Stage, experiment_path: str, run_dir: str | None = None) -> str:
    """The sbatch script of one stage."""
    s = settings(exp)
    fit_stage = st.kind == "fit"
    nodes, gpus = (s["nodes"], s["gpus_per_node"]) if fit_stage else (1, min(1, s["gpus_per_node"]))
    job = f"{exp.name}:{st.key}"
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={shlex.quote(job)}",
        f"#SBATCH --nodes={nodes}",
        f"#SBATCH --ntasks-per-node={max(1, gpus)}",
        *([f"#SBATCH --gres=gpu:{gpus}"] if gpus else []),
        f"#SBATCH --cpus-per-task={s['cpus_per_task']}",
        f"#SBATCH --mem={s['mem']}",
        f"#SBATCH --time={s['time']}",
        f"#SBATCH --output={st.dir}/slurm-%j.out",
        # Lightning's SLURM plugin: checkpoint + requeue on SIGUSR1, 90 s before the limit.
        f"#SBATCH --signal=SIGUSR1@{s['signal_seconds']}",
        "#SBATCH --requeue",
        *([f"#SBATCH --partition={s['partition']}"] if s["partition"] else []),
        *([f"#SBATCH --account={s['account']}"] if s["account"] else []),
        "set -euo pipefail",
        *s["setup"],
        f"mkdir -p {shlex.quote(str(st.dir))}",
    ]
    base = [s["python"], "-m", "pruning_lightning", "pipeline", experiment_path, "--only", st.key]
    if run_dir:
        base += ["--run-dir", run_dir]
    if fit_stage:
        lines.append("srun " + shlex.join([*base, "--step", "fit"]))
        # The final test is one task on one device (DistributedSampler would pad the test set).
        lines.append("srun --nodes=1 --ntasks=1 --ntasks-per-node=1 " + shlex.join([*base, "--step", "test"]))
    else:
        lines.append(shlex.join(base))
    return "\n".join(lines) + "\n"


def write_scripts(
    exp: Experiment, experiment_path: str, out_dir: str | Path, run_dir: str | None = None
) -> list[tuple[Stage, Path]]:
    """Write one ``<key>.sbatch`` per unfinished stage; returns them in dependency order."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for st in plan(exp):
        if st.done():
            continue
        path = out / (st.key.replace("/", "__") + ".sbatch")
        path.write_text(script(exp, st, experiment_path, run_dir))
        written.append((st, path))
    return written


def submit_command(path: Path, deps: list[str]) -> list[str]:
    cmd = ["sbatch", "--parsable"]
    if deps:
        cmd.append("--dependency=afterok:" + ":".join(deps))
    return [*cmd, str(path)]


def launch(
    exp: Experiment,
    experiment_path: str,
    submit: bool = True,
    out_dir: str | None = None,
    run_dir: str | None = None,
    sbatch: Any = None,
) -> dict[str, str]:
    """Write the scripts, then submit them in order (``sbatch --parsable``) or print them."""
    check_run_dir(exp)
    written = write_scripts(exp, experiment_path, out_dir or exp.root / "slurm", run_dir)
    ids: dict[str, str] = {}
    run = sbatch or (lambda cmd: subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    for st, path in written:
        deps = [ids[d] for d in st.deps if d in ids]
        cmd = submit_command(path, deps)
        if not submit:
            print(f"# {shlex.join(cmd)}\n{path.read_text()}")
            ids[st.key] = f"<{st.key}>"
            continue
        try:
            ids[st.key] = run(cmd).strip().split(";")[0]
        except (OSError, subprocess.CalledProcessError) as e:
            raise PruningError(f"sbatch failed for {st.key}: {e}; submitted so far: {ids}") from None
        print(f"submitted {st.key}: job {ids[st.key]}")
    return ids
