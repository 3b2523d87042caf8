"""The base layer: the error type and its one-line messages, the one reader of configuration files (YAML),
console hygiene, the accuracy unit."""
