"""pruning-lightning: "Rethinking the Value of Network Pruning" (Liu et al., ICLR 2019) on Lightning."""

__version__ = "0.1.0"
