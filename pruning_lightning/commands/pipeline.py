"""``pruning-lightning pipeline``: run a whole experiment (large -> prune -> regimes, every seed).

Examples::

    pruning-lightning pipeline configs/experiments/tiny_slimming.yaml --dry-run
    pruning-lightning pipeline configs/experiments/cifar10_vgg19_slimming_70.yaml
    pruning-lightning pipeline configs/experiments/cifar10_vgg19_slimming_70.yaml --launcher slurm --submit false
    pruning-lightning pipeline configs/experiments/tiny_slimming.yaml -c configs/logger/wandb.yaml   # W&B, every stage

Finished stages (``result.json``) are skipped, interrupted ones resume from ``last.ckpt``.
"""

from __future__ import annotations

import dataclasses

from jsonargparse import ArgumentParser

from pruning_lightning.core.errors import PruningError
from pruning_lightning.pipeline import load_experiment, plan
from pruning_lightning.pipeline.guard import run_guard
from pruning_lightning.pipeline.logger_config import with_logger_configs
from pruning_lightning.pipeline.parallel import run_parallel
from pruning_lightning.pipeline.preflight import preflight
from pruning_lightning.pipeline.runner import dry_run, run
from pruning_lightning.pipeline.slurm import launch


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="pruning-lightning pipeline", description=__doc__.splitlines()[0], exit_on_error=False, allow_abbrev=False
    )
    p.add_argument("experiment", nargs="?", help="experiment YAML (configs/experiments/*.yaml)")
    p.add_argument(
        "--config",
        "-c",
        dest="config",
        action="append",
        default=[],
        help="a logger config (trainer.logger, e.g. configs/logger/wandb.yaml) applied to every stage; "
        "without a positional experiment, the first -c is the experiment",
    )
    p.add_argument("--dry_run", "--dry-run", action="store_true", help="print the commands, run nothing")
    p.add_argument("--only", nargs="+", default=None, help="run only these stage keys (e.g. seed0/large)")
    p.add_argument("--step", choices=("all", "fit", "test"), default="all", help="fit stages: fit, test or both")
    p.add_argument("--launcher", choices=("local", "slurm"), default="local")
    p.add_argument("--submit", type=bool, default=True, help="slurm: submit with sbatch (false: print scripts)")
    p.add_argument(
        "--slurm_dir", "--slurm-dir", default=None, help="slurm: where to write scripts (default RUN_DIR/slurm)"
    )
    p.add_argument("--run_dir", "--run-dir", default=None, help="override the experiment's run_dir")
    p.add_argument(
        "--data_dir",
        "--data-dir",
        default=None,
        help="run the same study on another dataset folder (sets data.init_args.data_dir of every stage)",
    )
    p.add_argument("--stages", action="store_true", help="list stage keys and their dependencies")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="keep N stages running at once, each a local process (CPU cores split between them; on CPU, N = cores)",
    )
    return p


def main(argv: list[str]) -> None:
    a = build_parser().parse_args(argv)
    configs = list(a.config)
    path = a.experiment or (configs.pop(0) if configs else None)
    if not path:
        raise PruningError("give an experiment YAML: pruning-lightning pipeline configs/experiments/<name>.yaml")
    exp = with_logger_configs(load_experiment(path), configs)
    if a.run_dir:
        exp = dataclasses.replace(exp, run_dir=a.run_dir)
    if a.data_dir:
        exp = dataclasses.replace(exp, args={**exp.args, "data.init_args.data_dir": a.data_dir})
    if a.stages:
        for st in plan(exp):
            print(f"{st.key}  <- {', '.join(st.deps) or '-'}")
        return
    if not a.dry_run:  # every file and stage configuration is checked before anything trains
        preflight(exp, only=a.only, hardware=a.launcher == "local")
    if a.launcher == "slurm":
        if configs:  # the jobs read the experiment file again: a logger must live in it
            raise PruningError(
                "--launcher slurm does not carry -c logger configs to its jobs; set the experiment's "
                "wandb: key instead (docs/studies.md#wb)"
            )
        launch(exp, path, submit=a.submit, out_dir=a.slurm_dir, run_dir=a.run_dir)
        return
    if a.dry_run:
        print("\n".join(dry_run(exp, plan(exp))))
        return
    if a.jobs < 1:
        raise PruningError(f"--jobs {a.jobs}: give a positive number of parallel processes (1 = no child processes)")
    with run_guard(exp.root):  # one writer per run folder; a failed start leaves the folder as it was
        if a.jobs > 1:
            extra = [x for c in configs for x in ("-c", c)]
            extra += ["--run_dir", a.run_dir] if a.run_dir else []
            extra += ["--data_dir", a.data_dir] if a.data_dir else []
            run_parallel(exp, path, a.jobs, extra, a.only)
        else:
            run(exp, only=a.only, step=a.step)
    print(f"[pipeline] {exp.name}: all requested stages finished; report: pruning-lightning report {exp.root}")
