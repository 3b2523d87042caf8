"""SLURM launcher: generated sbatch scripts and their afterok chaining (no SLURM here)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pruning_lightning.core.errors import PruningError
from pruning_lightning.main import main
from pruning_lightning.pipeline import parse_experiment
from pruning_lightning.pipeline.slurm import launch

ROOT = Path(__file__).resolve().parents[1]


def _exp(tmp_path: Path, **slurm: object) -> dict:
    doc = yaml.safe_load((ROOT / "configs/experiments/tiny_slimming.yaml").read_text())
    doc["run_dir"] = str(tmp_path / "run")
    doc["slurm"] = {"nodes": 2, "gpus_per_node": 4, "partition": "gpu", **slurm}
    return doc


def test_scripts_and_dependency_chain(tmp_path: Path) -> None:
    exp = parse_experiment(_exp(tmp_path))
    calls: list[list[str]] = []

    def fake_sbatch(cmd: list[str]) -> str:
        calls.append(cmd)
        return f"{100 + len(calls)};cluster\n"

    ids = launch(exp, "configs/experiments/tiny_slimming.yaml", out_dir=str(tmp_path / "s"), sbatch=fake_sbatch)
    assert len(calls) == 10 and ids["seed0/large"] == "101"
    by_script = {Path(c[-1]).name: c for c in calls}
    assert by_script["seed0__large.sbatch"][:2] == ["sbatch", "--parsable"]
    assert "--dependency" not in " ".join(by_script["seed0__large.sbatch"])
    assert "--dependency=afterok:101" in by_script["seed0__slimming_50__prune.sbatch"]
    assert f"--dependency=afterok:{ids['seed0/slimming_50/prune']}" in by_script["seed0__slimming_50__scratch_b.sbatch"]
    assert f"--dependency=afterok:{ids['seed1/large']}" in by_script["seed1__slimming_50__prune.sbatch"]

    large = (tmp_path / "s/seed0__large.sbatch").read_text()
    for line in (
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks-per-node=4",
        "#SBATCH --gres=gpu:4",
        "#SBATCH --signal=SIGUSR1@90",
        "#SBATCH --requeue",
        "#SBATCH --partition=gpu",
    ):
        assert line in large.splitlines()
    cmds = [ln for ln in large.splitlines() if ln.startswith("srun")]
    assert cmds[0].endswith("--only seed0/large --step fit")
    assert cmds[1].startswith("srun --nodes=1 --ntasks=1") and cmds[1].endswith("--step test")
    prune = (tmp_path / "s/seed0__slimming_50__prune.sbatch").read_text()
    assert "#SBATCH --nodes=1" in prune and "srun" not in prune


def test_print_only_and_finished_stages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _exp(tmp_path)
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    done = tmp_path / "run/seed0/large/result.json"
    done.parent.mkdir(parents=True)
    done.write_text("{}")
    (done.parent / "checkpoints").mkdir()
    (done.parent / "checkpoints/last.ckpt").write_bytes(b"")  # a finished stage has its checkpoint
    main(["pipeline", str(path), "--launcher", "slurm", "--submit", "false", "--slurm-dir", str(tmp_path / "s")])
    out = capsys.readouterr().out
    assert out.count("#!/bin/bash") == 9  # the finished large stage of seed 0 gets no job
    assert "# sbatch --parsable " in out and "seed0__large" not in out


def test_unknown_slurm_key(tmp_path: Path) -> None:
    with pytest.raises(PruningError, match="unknown slurm key"):
        launch(parse_experiment(_exp(tmp_path, gpus=3)), "x.yaml", submit=False, out_dir=str(tmp_path / "s"))


def test_example_templates_use_the_requeue_contract() -> None:
    templates = sorted((ROOT / "configs/slurm").glob("*.sbatch"))
    assert templates
    for t in templates:
        text = t.read_text()
        assert "#SBATCH --signal=SIGUSR1@90" in text and "#SBATCH --requeue" in text and "srun " in text
