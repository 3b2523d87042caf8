"""Per-item seeding of augmentations (``SeededItems``): the CPU stream of ``torch.manual_seed``, nothing else."""

from __future__ import annotations

import pytest
import torch

from pruning_lightning.data.sampling import SeededItems
from pruning_lightning.data.tensor_data import AugmentedTensors


def _data() -> AugmentedTensors:
    g = torch.Generator().manual_seed(0)
    return AugmentedTensors(torch.rand(6, 3, 8, 8, generator=g), torch.arange(6), pad=2)


def test_an_item_is_the_one_torch_manual_seed_gives() -> None:
    data, items = _data(), SeededItems(_data())
    for index, seed in [(0, 1), (3, 12345), (5, 2**61 + 7)]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            want = data[index]
        got = items[(index, seed)]
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def test_seeding_an_item_touches_no_device_rng_and_restores_the_cpu_one(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("an item seeded a device generator")

    for name in ("manual_seed", "manual_seed_all"):
        monkeypatch.setattr(torch.cuda, name, refuse)
    items = SeededItems(_data())
    before = torch.get_rng_state()
    for i in range(6):
        items[(i, 1000 + i)]
    assert torch.equal(torch.get_rng_state(), before)
