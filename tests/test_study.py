"""The small-scale study: per-method large models, the data/run-folder override, parallel seeds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from pruning_lightning.main import main
from pruning_lightning.pipeline import load_experiment, parse_experiment, plan

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "configs/experiments/study_cifar10_vgg19w8.yaml"
TINY = ROOT / "configs/experiments/tiny_slimming.yaml"


def test_study_plans_a_normally_trained_large_model_for_l1() -> None:
    stages = {st.key: st for st in plan(load_experiment(STUDY))}
    sparse, plain = stages["seed1/large"], stages["seed1/l1_norm_a/large"]
    assert any("sparsity/slimming.yaml" in a for a in sparse.args)
    assert not any("sparsity" in a for a in plain.args) and any("regime/large.yaml" in a for a in plain.args)
    assert stages["seed1/l1_norm_a/prune"].deps == ("seed1/l1_norm_a/large",)
    assert str(plain.ckpt) in stages["seed1/l1_norm_a/prune"].args
    assert stages["seed1/slimming_50/prune"].deps == ("seed1/large",)
    ft = stages["seed2/l1_norm_a/finetune"].args
    assert ft[ft.index("--trainer.max_epochs") + 1] == "8"  # a quarter of the 32-epoch large budget


def test_data_and_run_folder_override(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, run = tmp_path / "my-cifar", tmp_path / "my-run"
    main(["pipeline", str(STUDY), "--data_dir", str(data), "--run_dir", str(run), "--dry-run"])
    lines = capsys.readouterr().out.splitlines()
    fits = [line for line in lines if line.startswith("pruning-lightning fit")]
    assert len(fits) == 3 * 10 - 3 * 2  # 3 seeds x (2 large + 2 x 3 regimes); prunes are not fits
    assert all(f"--data.init_args.data_dir {data}" in f and f"--trainer.default_root_dir {run}/seed" in f for f in fits)
    assert not run.exists()


@pytest.mark.slow
def test_jobs_runs_stages_in_parallel_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pruning_lightning.pipeline import parallel

    monkeypatch.setattr(parallel, "POLL_S", 0.2)
    doc = yaml.safe_load(TINY.read_text())
    doc.update(run_dir=str(tmp_path / "run"), seeds=[0, 1])
    doc["regimes"] = {"finetune": {"epochs": 1}}
    exp_path = tmp_path / "exp.yaml"
    exp_path.write_text(yaml.safe_dump(doc))
    main(["pipeline", str(exp_path), "--jobs", "2"])
    out = capsys.readouterr().out
    for s in (0, 1):  # each stage's start with the run's ETA, and its end with its test accuracies
        assert re.search(rf"\[pipeline\] start seed{s}/large \(fit, 2 epochs\) in slot [12]/2: .* ETA", out)
        assert re.search(rf"\[pipeline\] seed{s}/slimming_50/finetune: done in .*; test top-1 final", out)
    exp = parse_experiment(doc)
    assert all(st.done() for st in plan(exp))
    for s in (0, 1):
        assert "test top-1 final" in (tmp_path / f"run/logs/seed{s}/large.log").read_text()
        result = json.loads((tmp_path / f"run/seed{s}/slimming_50/finetune/result.json").read_text())
        assert result["seed"] == s and result["final_epoch"] == 1  # 1-based: the only epoch


PREDEFINED = ROOT / "configs/experiments/study_cifar10_vgg16w8_predefined.yaml"


def test_predefined_study_gives_the_prune_stages_its_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "my-cifar"
    main(["pipeline", str(PREDEFINED), "--data_dir", str(data), "--run_dir", str(tmp_path / "r"), "--dry-run"])
    lines = capsys.readouterr().out.splitlines()
    prunes = [line.split() for line in lines if line.startswith("pruning-lightning prune")]
    assert len(prunes) == 5 * 3
    for argv in prunes:  # the data config and its override come before the prune config, which may refine them
        assert argv[argv.index("--config") + 1] == "configs/data/cifar10_shared.yaml"
        assert argv[argv.index("--data.init_args.data_dir") + 1] == str(data)
        assert argv.index("--data.init_args.data_dir") < argv.index("--ckpt")
    stages = {st.key for st in plan(load_experiment(PREDEFINED))}
    assert "seed4/regression_50/finetune" in stages and "seed4/regression_50/scratch_b" not in stages


@pytest.mark.slow
def test_a_data_hungry_method_prunes_inside_the_pipeline(tmp_path: Path) -> None:
    # ThiNet samples training images: the prune stage must be given the experiment's data (it once was not).
    prune_cfg = tmp_path / "thinet.yaml"
    prune_cfg.write_text(
        yaml.safe_dump(
            {
                "pruner": {
                    "class_path": "pruning_lightning.pruning.ThiNetPruner",
                    "init_args": {"ratio": 0.5, "num_images": 8, "locations_per_image": 2, "finetune_steps": 0},
                },
                "base_epochs": 2,
            }
        )
    )
    doc = yaml.safe_load(TINY.read_text())
    doc.update(run_dir=str(tmp_path / "run"), seeds=[0], large={"configs": ["configs/regime/large.yaml"]})
    doc["methods"] = [{"name": "thinet_50", "prune": str(prune_cfg)}]
    doc["regimes"] = {"finetune": {"epochs": 1}}
    exp_path = tmp_path / "exp.yaml"
    exp_path.write_text(yaml.safe_dump(doc))
    main(["pipeline", str(exp_path)])
    stats = json.loads((tmp_path / "run/seed0/thinet_50/prune/result.json").read_text())["stats"]
    assert stats["flops_ratio"] > 1.5 and (tmp_path / "run/seed0/thinet_50/finetune/result.json").is_file()
