"""From-scratch regimes never start at the large run's initial weights, although they share its seed."""

from __future__ import annotations

from pathlib import Path

import torch

from pruning_lightning.formats.artifact import load_artifact, write_artifact
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.modules import LargeModule
from pruning_lightning.modules.regimes import ScratchModule
from pruning_lightning.pruning import L1NormPruner, MagnitudePruner, prune
from tests.helpers import TINY_VGG_L1

SEED = 5


def _start(tmp_path: Path, pruner: object, name: str) -> tuple[dict, dict]:
    """(the same-seed large network's initial state, the scratch network's state after its init)."""
    arch = resolve(TINY_VGG_L1)
    torch.manual_seed(0)  # the same pruned artifact on every call
    out = write_artifact(prune(build_arch(arch, 10), arch, pruner), tmp_path / name)  # type: ignore[arg-type]
    art = load_artifact(out)
    torch.manual_seed(SEED)
    large = LargeModule(arch, num_classes=10).net.state_dict()  # the large run's network, built as its stage builds it
    torch.manual_seed(SEED)
    model = ScratchModule(art.arch, structure_from=str(out), num_classes=10)
    model.on_artifact(art)
    return large, model.net.state_dict()


def _random_params(state: dict) -> set[str]:
    return {k for k, v in state.items() if k.endswith("weight") and v.dim() > 1}  # convs and the classifier


def test_masked_scratch_shares_no_initial_weight_with_the_large_run(tmp_path: Path) -> None:
    large, scratch = _start(tmp_path, MagnitudePruner(0.5), "magnitude")
    assert _random_params(large) == _random_params(scratch)
    for k in _random_params(large):  # the kept weights, the classifier's included
        kept = scratch[k] != 0
        assert kept.any() and not torch.equal(scratch[k][kept], large[k][kept]), k


def test_cut_scratch_shares_no_initial_layer_with_the_large_run(tmp_path: Path) -> None:
    # Stage 1 unpruned: its convs have the large run's shapes, so the same seed would draw the same weights.
    large, scratch = _start(tmp_path, L1NormPruner((0.0, 0.5, 0.5, 0.5, 0.5)), "l1")
    same_shape = [k for k in _random_params(scratch) if k in large and large[k].shape == scratch[k].shape]
    assert "features.conv1.weight" in same_shape
    for k in same_shape:
        assert not torch.equal(scratch[k], large[k]), k


def test_scratch_init_is_reproducible(tmp_path: Path) -> None:
    first = _start(tmp_path, MagnitudePruner(0.5), "a")[1]
    again = _start(tmp_path, MagnitudePruner(0.5), "b")[1]
    assert all(torch.equal(first[k], again[k]) for k in _random_params(first))
