"""Assertions shared by test modules (exact state comparison)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def load_ckpt(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_same_state(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Every tensor of the network and of the optimiser state is bit-identical."""
    assert (a["epoch"], a["global_step"]) == (b["epoch"], b["global_step"])
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    sa, sb = a["optimizer_states"][0]["state"], b["optimizer_states"][0]["state"]
    assert sa.keys() == sb.keys()
    for i in sa:
        for name, v in sa[i].items():
            assert torch.equal(v, sb[i][name]) if isinstance(v, torch.Tensor) else v == sb[i][name], (i, name)
    assert a["lr_schedulers"] == b["lr_schedulers"]
