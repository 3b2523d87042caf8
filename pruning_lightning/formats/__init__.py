"""The files stages exchange: pruned artifacts (``pruned.pt`` and its YAML) and checkpoints read back."""
