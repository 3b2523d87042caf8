"""An experiment's large stage can be the model-zoo import (``large.zoo``), then tested like a fit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torchvision
import yaml
from PIL import Image

from pruning_lightning.pipeline import load_experiment, parse_experiment, plan
from pruning_lightning.pipeline.runner import run

ROOT = Path(__file__).resolve().parents[1]


def test_imagenet_experiments_import_the_zoo_model_by_default() -> None:
    for name in ("imagenet_resnet34_l1", "imagenet_resnet50_magnitude", "imagenet_vgg16_bn_magnitude"):
        st = plan(load_experiment(ROOT / f"configs/experiments/{name}.yaml"))[0]
        assert (st.key, st.kind) == ("seed0/large", "zoo") and st.args[0] == "zoo" and "--weights" not in st.args


@pytest.mark.slow
def test_zoo_large_stage_imports_tests_and_feeds_prune(tmp_path: Path) -> None:
    torch.manual_seed(0)
    weights = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), weights)
    for split in ("train", "val"):  # 1000 classes (the zoo head), one tiny image each
        for c in range(1000):
            (tmp_path / "imagenet" / split / f"n{c:04d}").mkdir(parents=True)
            Image.new("RGB", (8, 8), (c % 256, 0, 0)).save(tmp_path / "imagenet" / split / f"n{c:04d}/a.png")
    data = tmp_path / "data.yaml"
    data.write_text(
        yaml.safe_dump(
            {"data": {"class_path": "pruning_lightning.data.imagenet.ImageNetDataModule", "init_args": {
                "data_dir": str(tmp_path / "imagenet"), "eval_batch_size": 2, "num_workers": 0, "crop_size": 32,
                "resize_size": 32, "pin_memory": False}}}
        )
    )  # fmt: skip
    doc = yaml.safe_load((ROOT / "configs/experiments/imagenet_resnet34_l1.yaml").read_text())
    doc.update(run_dir=str(tmp_path / "run"), data=str(data), regimes=[])
    doc["large"]["zoo"] = str(weights)
    doc["trainer"] = {"accelerator": "cpu", "devices": 1, "limit_test_batches": 1, "enable_progress_bar": False}
    exp = parse_experiment(doc)
    run(exp, only=["seed0/large", "seed0/resnet34_a/prune"], echo=lambda s: None)
    result = json.loads((tmp_path / "run/seed0/large/result.json").read_text())
    assert result["kind"] == "zoo" and result["params"] == 21_797_672 and 0 <= result["test_acc1"] <= 100
    stats = yaml.safe_load((tmp_path / "run/seed0/resnet34_a/prune/stats.yaml").read_text())
    assert "imported" in stats["source_checkpoint"] and stats["params_after"] < result["params"]
