"""Our own subcommands (``prune``, ``info``, ``demo``); each module has ``main(argv)``."""
