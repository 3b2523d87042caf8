"""The whole study in one command: experiment YAML -> ordered, resumable stages (see ``commands/pipeline.py``).

Modules: ``schema`` (experiment file; ``checks`` validates its values, ``paths`` finds the files it names),
``regimes`` (downstream regimes as data), ``plan`` (stages and their command lines; ``stage`` the unit,
``wandb_args`` its logger), ``runner`` (local execution), ``slurm`` (sbatch scripts), ``lineage`` (W&B),
``progress``, ``parallel``, ``results`` and the report's plots.
"""

from pruning_lightning.pipeline.plan import Stage, plan
from pruning_lightning.pipeline.schema import Experiment, load_experiment, parse_experiment

__all__ = ["Experiment", "Stage", "load_experiment", "parse_experiment", "plan"]
