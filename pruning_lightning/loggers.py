"""Old import path of :class:`~pruning_lightning.training.loggers.StageCSVLogger`, kept for files written before.

Every ``config.yaml`` a ``fit`` wrote before the package was grouped by layer names its logger as
``class_path: pruning_lightning.loggers.StageCSVLogger``, and the pipeline passes that file back with
``-c`` to test the stage; this module keeps such run folders readable. The CLI then names the class by its
current path (``cli.lightning_cli.current_logger_paths``), so the files it writes do too. Nothing in the
package imports this module.
"""

from pruning_lightning.training.loggers import StageCSVLogger

__all__ = ["StageCSVLogger"]
