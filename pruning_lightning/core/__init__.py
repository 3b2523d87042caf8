"""The base layer: the error type and its one-line messages, configuration files, console hygiene, units."""
