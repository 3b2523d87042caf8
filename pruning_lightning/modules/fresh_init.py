"""A from-scratch network's init, drawn from a random stream of its own.

In a pipeline every stage of a seed folder runs under the same seed, so a network built under that seed
alone starts exactly where the large run's network started wherever the shapes agree: the whole network for
masked regimes (lottery tickets, magnitude and SFP masks), the layers before the first pruned one for cut
architectures. A from-scratch regime would then inherit the large run's initial weights, the very thing the
paper's scratch baselines leave out (arXiv 1810.05270 Sec. 3; the reference code draws them from an unseeded
process). :func:`fresh_init` redraws every parameter from a stream seeded from the stage's seed and a tag.
"""

from __future__ import annotations

import hashlib

import torch

from pruning_lightning.models import build_arch, classes_of
from pruning_lightning.models.spec import ArchSpec


def stream_seed(tag: str) -> int:
    """A seed derived from the stage's seed (``torch.initial_seed()``) and ``tag``: reproducible, and unrelated
    to the stream that built the large run's network."""
    digest = hashlib.sha256(f"{torch.initial_seed()}:{tag}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def fresh_init(net: torch.nn.Module, arch: ArchSpec, tag: str) -> None:
    """Redraw every parameter of ``net`` as ``build_arch(arch)`` would, from the stream of :func:`stream_seed`.

    The global RNG is left as it was: data order and everything else in the stage are unchanged.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stream_seed(tag))
        source = build_arch(arch, classes_of(net))
    with torch.no_grad():
        for name, param in net.named_parameters():
            param.copy_(source.get_parameter(name))
