"""The training floor beside ``modules/`` and ``callbacks/``: the stage trainer, its loggers, the saved
``config.yaml`` and the guard on a stage's configuration and outputs."""
