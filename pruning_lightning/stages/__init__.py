"""The stage dispatch: what runs for ``fit``/``validate``/``test``/``prune``/``zoo``/``arch``, whoever asks.

The console (:func:`pruning_lightning.main.main`) and the pipeline runner both call :func:`run_stage`
with the same argument list, so a stage typed by hand and a stage the pipeline plans run the same code
(the pipeline's ``--dry-run`` prints exactly these argument lists).

* ``fit``/``validate``/``test``: the LightningCLI (:func:`pruning_lightning.cli.lightning_cli.cli_main`);
* ``prune``: trained checkpoint -> pruned artifact (:mod:`pruning_lightning.stages.prune`);
* ``zoo``: model-zoo weights -> large-model checkpoint (:mod:`pruning_lightning.stages.zoo`);
* ``arch``: a preset or guided architecture -> artifact (:mod:`pruning_lightning.stages.architecture`).
"""

from __future__ import annotations

from typing import Any

from pruning_lightning.cli.lightning_cli import cli_main
from pruning_lightning.stages import architecture, prune, zoo
from pruning_lightning.training.cli_guard import OutputGuard


def run_stage(argv: list[str], exit_on_error: bool = True, guard: OutputGuard | None = None) -> Any:
    """Run the stage ``argv[0]`` with the options ``argv[1:]``.

    Returns the LightningCLI object for ``fit``/``validate``/``test`` (its trainer holds the metrics),
    else None. ``exit_on_error=False``: a LightningCLI parse error raises instead of exiting. ``guard``
    (:func:`~pruning_lightning.training.cli_guard.guarded_outputs`) is shown the folders a LightningCLI run writes
    (``prune``, ``zoo`` and ``arch`` write their ``--out`` whole or not at all and need none).
    """
    if argv and argv[0] == "prune":
        return prune.main(argv[1:])
    if argv and argv[0] == "zoo":
        return zoo.main(argv[1:])
    if argv and argv[0] == "arch":
        return architecture.main(argv[1:])
    return cli_main(argv, exit_on_error=exit_on_error, guard=guard)
