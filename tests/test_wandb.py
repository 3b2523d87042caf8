"""W&B offline: group per experiment, job_type per stage, tags/config, Table, artifacts and lineage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pruning_lightning.pipeline import parse_experiment
from pruning_lightning.pipeline.plan import plan
from pruning_lightning.pipeline.runner import run
from pruning_lightning.pipeline.wandb_args import run_id
from tests.wandb_records import records, runs_of

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    yield
    if wandb.run is not None:
        wandb.finish()


@pytest.mark.slow
def test_offline_runs_record_group_job_type_and_lineage(tmp_path: Path, offline: None) -> None:
    doc = yaml.safe_load((ROOT / "configs/experiments/tiny_slimming.yaml").read_text())
    doc.update(run_dir=str(tmp_path / "run"), seeds=[0], wandb={"project": "pl-test", "mode": "offline"})
    doc["methods"][0]["regimes"] = ["scratch_e"]
    exp = parse_experiment(doc)
    run(exp, echo=lambda s: None)
    root = tmp_path / "run/seed0"

    large = runs_of(root / "large")
    assert len(large) == 1  # the test phase adds to the fit's run (summary, artifact), never a reopened run
    assert {r["id"] for r in large} == {run_id(exp, "seed0/large")}
    for r in large:
        assert (r["group"], r["job_type"]) == ("tiny-slimming", "large")
        assert "seed0" in r["tags"] and r["config"]["seed"] == 0
    assert ("tiny-slimming-seed0-large", "model") in large[-1]["artifacts"]

    (prune,) = runs_of(root / "slimming_50/prune")
    assert (prune["group"], prune["job_type"]) == ("tiny-slimming", "prune")
    assert "ratio0.5" in prune["tags"] and prune["config"]["ratio"] == 0.5
    assert ("tiny-slimming-seed0-slimming_50-prune", "pruned-model") in prune["artifacts"]
    assert prune["config"]["lineage/uses"] == ["tiny-slimming-seed0-large:latest"]
    table = json.loads(next((prune["dir"] / "files/media/table").glob("prune/kept_*.table.json")).read_text())
    assert table["columns"] == ["layer", "kept", "total"] and len(table["data"]) == 8  # the 8 convs of VGG-11

    scratch = runs_of(root / "slimming_50/scratch_e")
    assert {r["job_type"] for r in scratch} == {"scratch_e"}
    assert scratch[-1]["config"]["lineage/uses"] == ["tiny-slimming-seed0-slimming_50-prune:latest"]
    lineage = [json.loads(x) for x in (tmp_path / "run/wandb_lineage.jsonl").read_text().splitlines()]
    assert [x["uses"] for x in lineage] == [
        "tiny-slimming-seed0-large:latest",
        "tiny-slimming-seed0-slimming_50-prune:latest",
    ]


def test_no_logger_without_wandb(tmp_path: Path) -> None:
    doc = yaml.safe_load((ROOT / "configs/experiments/tiny_slimming.yaml").read_text())
    doc["run_dir"] = str(tmp_path / "run")
    stages = plan(parse_experiment(doc))
    text = " ".join(a for st in stages for a in st.args)
    assert "WandbLogger" not in text and "CSVLogger" in text
    doc["wandb"] = {"project": "p"}
    stages = plan(parse_experiment(doc))
    fit = stages[0].args
    logger = json.loads(fit[fit.index("--trainer.logger") + 1])
    assert logger["class_path"].endswith("WandbLogger")
    assert logger["init_args"]["group"] == "tiny-slimming" and logger["init_args"]["job_type"] == "large"


def test_logger_config_records_metrics_offline(tmp_path: Path, offline: None, trainer_args: list[str]) -> None:
    """configs/logger/wandb.yaml through the fit CLI: the offline run labels itself and holds the metrics."""
    from pruning_lightning.cli.lightning_cli import cli_main
    from tests.helpers import TINY_VGG

    arch = tmp_path / "arch.yaml"
    arch.write_text(TINY_VGG.to_yaml())
    cli_main(
        [
            "fit",
            "--config",
            str(ROOT / "configs/data/synthetic.yaml"),
            "--config",
            str(ROOT / "configs/regime/large.yaml"),
            "--config",
            str(arch),
            *trainer_args,
            "--trainer.max_epochs",
            "2",
            "--config",
            str(ROOT / "configs/logger/wandb.yaml"),
        ]
    )
    import wandb

    wandb.finish()
    (run_file,) = tmp_path.glob("run/wandb/offline-run-*/run-*.wandb")  # in the stage folder
    history: list[dict[str, Any]] = []
    group = job_type = None
    for r in records(run_file):
        kind = r.WhichOneof("record_type")
        if kind == "run":
            group, job_type = r.run.run_group, r.run.job_type
        elif kind == "history":
            history.append({(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in r.history.item})
    assert (group, job_type) == ("randomimage-vgg11", "large")  # labelled by the data, network and regime
    val = [h["val/acc1"] for h in history if "val/acc1" in h]
    assert len(val) == 2 and all(0.0 <= v <= 100.0 for v in val)  # one per epoch, in percent
    assert any("train/loss_epoch" in h for h in history)
