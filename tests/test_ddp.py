"""DDP (gloo, 2 CPU processes) through the pipeline: identical BN scales on every rank, one pruning decision.

The DDP fit runs as a ``python -m pruning_lightning fit`` subprocess (the pipeline does that for
devices > 1: Lightning's DDP launcher re-executes ``sys.argv``, which inside pytest would re-run
pytest). BNL1Sparsity edits gradients in ``on_before_optimizer_step``, after DDP's all-reduce, so
every rank applies the same update and the sparse BN scales - hence the slimming decision - agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
import yaml

from pruning_lightning.formats.artifact import load_artifact
from pruning_lightning.models import build_arch
from pruning_lightning.pipeline import parse_experiment
from pruning_lightning.pipeline.runner import run
from pruning_lightning.pruning import SlimmingPruner, prune

ROOT = Path(__file__).resolve().parents[1]


class SaveRankState(L.Callback):
    """Writes each rank's final network state to ``<out>/rank<k>.pt``."""

    def __init__(self, out: str) -> None:
        self.out = out
        self.batch_sizes: list[int] = []

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, idx: int) -> None:
        self.batch_sizes.append(len(batch[1]))

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        Path(self.out).mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().clone() for k, v in pl_module.net.state_dict().items()}  # type: ignore[union-attr]
        record = {
            "world_size": trainer.world_size,
            "state": state,
            "batch_sizes": self.batch_sizes,
            "global_step": trainer.global_step,
            "batches_per_epoch": trainer.num_training_batches,
        }
        torch.save(record, Path(self.out) / f"rank{trainer.global_rank}.pt")


@pytest.mark.slow
def test_ddp_ranks_agree_and_prune_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the rank processes import tests.test_ddp.SaveRankState
    cb = tmp_path / "callbacks.yaml"
    cb.write_text(
        yaml.safe_dump(
            {
                "trainer": {
                    "callbacks": [
                        {"class_path": "pruning_lightning.callbacks.BNL1Sparsity", "init_args": {"strength": 1.0e-2}},
                        {"class_path": "tests.test_ddp.SaveRankState", "init_args": {"out": str(tmp_path / "ranks")}},
                    ]
                }
            }
        )
    )
    doc = yaml.safe_load((ROOT / "configs/experiments/tiny_slimming.yaml").read_text())
    doc.update(run_dir=str(tmp_path / "run"), seeds=[0], regimes=[])
    doc["trainer"].update(devices=2, strategy="ddp", deterministic=False, limit_train_batches=1.0)
    doc["large"]["configs"] = ["configs/regime/large.yaml", str(cb)]
    exp = parse_experiment(doc)
    run(exp, echo=lambda s: None)

    r0, r1 = (torch.load(tmp_path / f"ranks/rank{k}.pt", weights_only=True) for k in (0, 1))
    assert r0["world_size"] == r1["world_size"] == 2
    # The data config's batch (16) is global: 8 per rank, so 64 images give 4 optimiser steps per epoch,
    # exactly as a single-device run with batch 16 (2 epochs -> 8 steps).
    assert set(r0["batch_sizes"]) == set(r1["batch_sizes"]) == {8}
    assert r0["batches_per_epoch"] == r1["batches_per_epoch"] == 4
    assert r0["global_step"] == r1["global_step"] == 8
    bn = [k for k in r0["state"] if ".bn" in k and k.endswith("weight")]
    assert bn and all(torch.equal(r0["state"][k], r1["state"][k]) for k in bn)
    assert all(torch.equal(r0["state"][k], r1["state"][k]) for k in r0["state"])  # the whole net agrees

    # last.ckpt is the ranks' final state, and the artifact was cut from exactly those weights.
    ck = torch.load(tmp_path / "run/seed0/large/checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert ck["global_step"] == 8
    assert all(torch.equal(ck["state_dict"]["net." + k], v) for k, v in r0["state"].items())
    art = load_artifact(tmp_path / "run/seed0/slimming_50/prune")
    for r in (r0, r1):
        net = build_arch(art.reference_arch, 10)
        net.load_state_dict(r["state"])
        again = prune(net, art.reference_arch, SlimmingPruner(0.5), base_epochs=2)
        assert again.arch == art.arch
        assert again.weights.keys() == art.weights.keys()
        assert all(torch.equal(again.weights[k], art.weights[k]) for k in art.weights)
    result = yaml.safe_load((tmp_path / "run/seed0/large/result.json").read_text())
    assert result["metrics"]["test/acc1"] >= 0  # the single-device test ran after the DDP fit
