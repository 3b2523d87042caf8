"""Progress you can plan by: fine-tune epochs follow base_epochs, stage i/n with ETAs, the epoch bar's total."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pruning_lightning.pipeline import parse_experiment
from pruning_lightning.pipeline.plan import plan
from pruning_lightning.pipeline.progress import Progress, stage_epochs

ROOT = Path(__file__).resolve().parents[1]


def _exp(tmp_path: Path, path: str = "configs/experiments/cifar10_vgg19_slimming.yaml", **change: Any) -> Any:
    doc = yaml.safe_load((ROOT / path).read_text())
    doc.update(run_dir=str(tmp_path / "run"), **change)
    return parse_experiment(doc)


def _finetune_epochs(exp: Any) -> int | None:
    return next(stage_epochs(st) for st in plan(exp) if st.job_type == "finetune")


@pytest.mark.parametrize(("base", "expected"), [(160, 40), (8, 2), (7, 1), (2, 1), (1, 1), (400, 100)])
def test_finetune_epochs_follow_base_epochs(tmp_path: Path, base: int, expected: int) -> None:
    """The paper's 40:160 (CIFAR) ratio: base_epochs // 4, at least 1."""
    assert _finetune_epochs(_exp(tmp_path, base_epochs=base)) == expected


def test_finetune_epochs_imagenet_ratio_and_explicit_setting(tmp_path: Path) -> None:
    exp = _exp(tmp_path, "configs/experiments/imagenet_resnet34_l1.yaml")
    assert exp.base_epochs == 90 and _finetune_epochs(exp) == 20  # ImageNet: 20 per 90
    assert _finetune_epochs(_exp(tmp_path, "configs/experiments/imagenet_resnet34_l1.yaml", base_epochs=45)) == 10
    exp = _exp(tmp_path, base_epochs=8, regimes={"finetune": {"epochs": 5}, "scratch_e": {}})
    assert _finetune_epochs(exp) == 5  # set explicitly: kept
    doc = yaml.safe_load((ROOT / "configs/experiments/cifar10_vgg19_slimming.yaml").read_text())
    doc.pop("base_epochs")
    doc.update(run_dir=str(tmp_path / "run2"), regimes=["finetune"])
    assert _finetune_epochs(parse_experiment(doc)) == 40  # no base_epochs: the fine-tune config's own


def test_progress_prints_stage_of_n_etas_and_summary(tmp_path: Path) -> None:
    exp = _exp(tmp_path, base_epochs=8, seeds=[0])
    stages = plan(exp)
    fits = [s for s in stages if s.kind == "fit"]
    large, finetune = fits[0], next(s for s in fits if s.job_type == "finetune")
    now = [1000.0]
    out: list[str] = []
    p = Progress(stages, out.append, clock=lambda: now[0])
    p.start(large, stages)
    assert out[-1].startswith(f"[pipeline] stage 1/{len(stages)} {large.key} (fit, 8 epochs): elapsed 0s")
    assert "ETA stage ~?, experiment ~?" in out[-1]  # nothing measured yet
    now[0] += 80.0
    large.dir.mkdir(parents=True)
    large.marker.write_text(json.dumps({"epochs": 8, "wall_s": 80.0}))  # 10 s per epoch
    large.ckpt.parent.mkdir()
    large.ckpt.write_bytes(b"")  # a finished stage has its checkpoint
    p.finish(large)
    assert out[-1] == f"[pipeline] {large.key}: done in 1m20s (10s/epoch)"
    rest = stages[1:]
    p.start(rest[0], rest)  # the prune stage
    assert f"stage 2/{len(stages)}" in out[-1] and "elapsed 1m20s" in out[-1]
    assert "experiment ~?" in out[-1]  # Scratch-B's epochs come from the prune stage: unknown yet
    p.finish(rest[0])
    i = stages.index(finetune)
    p.start(finetune, [s for s in stages[i:] if s.job_type != "scratch_b"])
    assert "(fit, 2 epochs)" in out[-1] and "ETA stage ~20s, experiment ~1m40s" in out[-1]  # (2 + 8) x 10 s
    now[0] += 25.0
    p.finish(finetune)
    p.summary()
    assert out[-1].startswith("[pipeline] time per stage (3 run, total 1m45s):")
    assert large.key in out[-1] and finetune.key in out[-1]


def test_pipeline_run_prints_progress(tmp_path: Path) -> None:
    from pruning_lightning.pipeline.runner import run

    doc = yaml.safe_load((ROOT / "configs/experiments/tiny_slimming.yaml").read_text())
    doc.update(run_dir=str(tmp_path / "run"), seeds=[0])
    doc["methods"][0]["regimes"] = ["finetune"]
    exp = parse_experiment(doc)
    out: list[str] = []
    run(exp, echo=out.append)
    n = len(plan(exp))
    assert [line.split(" ")[2] for line in out if " stage " in line and line.startswith("[pipeline] stage")] == [
        f"{i}/{n}" for i in range(1, n + 1)
    ]
    assert "ETA stage ~" in out[0] and "time per stage" in out[-1]


def test_epoch_bar_shows_the_total() -> None:
    from types import SimpleNamespace

    from pruning_lightning.callbacks.console import EpochBar

    seen: list[str] = []
    trainer = SimpleNamespace(current_epoch=2, max_epochs=160, num_training_batches=10, max_steps=-1)
    bar = EpochBar()
    bar._trainer = trainer
    bar._train_progress_bar = SimpleNamespace(
        set_description=lambda d, refresh=True: seen.append(d), reset=lambda *a, **k: None
    )
    bar.on_train_epoch_start(trainer)
    assert seen[-1] == "Epoch 3/160"
