"""Issue 22 §1: a logger config on the pipeline's command line, metrics.csv beside it, one accuracy unit, LR."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from pruning_lightning.core.errors import PruningError
from pruning_lightning.core.units import percent_checkpoint, read_metrics
from pruning_lightning.main import main
from pruning_lightning.pipeline import parse_experiment
from pruning_lightning.pipeline.logger_config import with_logger_configs
from tests.wandb_records import runs_of

ROOT = Path(__file__).resolve().parents[1]
WANDB_YAML = str(ROOT / "configs/logger/wandb.yaml")


def _tiny(tmp_path: Path) -> dict:
    doc = yaml.safe_load((ROOT / "configs/experiments/tiny_slimming.yaml").read_text())
    doc.update(run_dir=str(tmp_path / "run"), seeds=[0])
    doc["methods"][0]["regimes"] = ["scratch_e"]
    return doc


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


@pytest.mark.slow
def test_pipeline_with_wandb_logger_config_labels_every_stage_and_keeps_metrics_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(_tiny(tmp_path)))
    try:
        main(["pipeline", str(exp), "-c", WANDB_YAML])
    finally:
        if wandb.run is not None:
            wandb.finish()
    out = capsys.readouterr().out
    root = tmp_path / "run/seed0"
    for stage, job_type in (("large", "large"), ("slimming_50/prune", "prune"), ("slimming_50/scratch_e", "scratch_e")):
        runs = runs_of(root / stage)
        assert runs and {(r["group"], r["job_type"]) for r in runs} == {("tiny-slimming", job_type)}, stage
    # The test phase adds no run and no history row at step 0: the fit's run is the stage's only run.
    assert len(runs_of(root / "large")) == 1
    for stage in ("large", "slimming_50/scratch_e"):
        header, rows = _rows(root / stage / "metrics.csv")  # kept beside the W&B logger
        assert "train/lr" in header and "val/acc1" in header, header
        lrs = [float(r["train/lr"]) for r in rows if r["train/lr"]]
        assert len(lrs) == 2 and lrs[0] > 0  # one learning rate per epoch (2 epochs)
        result = json.loads((root / stage / "result.json").read_text())
        assert result["acc_unit"] == "percent" and result["metrics"]["test/acc1"] == result["test_acc1"]
        assert result["final_epoch"] == 2  # 1-based: the second of two epochs
    assert out.count("test top-1 final") == 2 and "Test metric" not in out  # one line per fit stage, no tables
    assert "litlogger" not in out


def test_percent_accuracy_is_the_fraction_times_100() -> None:
    import torch

    from pruning_lightning.modules.base import PercentAccuracy

    logits = torch.eye(4)[[0, 1, 2, 0]]  # three of four right
    acc = PercentAccuracy(4, top_k=1, average="micro")
    assert float(acc(logits, torch.tensor([0, 1, 2, 3]))) == pytest.approx(75.0)


def test_old_fraction_metrics_csv_reads_as_percent(tmp_path: Path) -> None:
    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    old.write_text("epoch,step,train/acc1,val/acc1,val/loss\n0,9,0.5,0.25,2.0\n")
    new.write_text("epoch,step,train/lr,val/acc1,val/loss\n0,9,0.1,25.0,2.0\n")
    assert [(r["val/acc1"], r["train/acc1"], r["val/loss"]) for r in read_metrics(old)] == [("25.0", "50.0", "2.0")]
    assert read_metrics(new)[0]["val/acc1"] == "25.0"


def test_resumed_old_run_converts_the_rows_it_keeps(tmp_path: Path) -> None:
    from pruning_lightning.training.loggers import StageCSVLogger

    (tmp_path / "metrics.csv").write_text("epoch,step,val/acc1\n0,9,0.25\n1,19,0.5\n")
    StageCSVLogger(str(tmp_path)).continue_at(1)
    header, rows = _rows(tmp_path / "metrics.csv")
    assert "train/lr" in header and [r["val/acc1"] for r in rows] == ["25.0"]
    assert read_metrics(tmp_path / "metrics.csv")[0]["val/acc1"] == "25.0"  # not converted twice


def test_rows_logged_after_resuming_an_old_run_land_in_their_columns(tmp_path: Path) -> None:
    """A fit resumed across the percent change appended its rows in another column order than the header
    (Lightning sorts its keys; the resume had appended ``train/lr`` last): ``val/acc1`` read 0.001, the LR."""
    from pruning_lightning.training.loggers import StageCSVLogger

    (tmp_path / "metrics.csv").write_text(
        "epoch,step,train/acc1,val/acc1,val/loss\n0,9,0.5,0.25,2.0\n1,19,0.6,0.5,1.5\n"
    )
    logger = StageCSVLogger(str(tmp_path))
    logger.continue_at(1)
    logger.log_metrics({"epoch": 1, "train/lr": 0.001}, step=20)
    logger.log_metrics({"epoch": 1, "val/acc1": 55.0, "val/loss": 1.25, "train/acc1": 60.0}, step=29)
    logger.save()
    rows = read_metrics(tmp_path / "metrics.csv")
    assert [(r["epoch"], r["train/lr"], r["val/acc1"], r["val/loss"]) for r in rows] == [
        ("0", "", "25.0", "2.0"),
        ("1", "0.001", "", ""),
        ("1", "", "55.0", "1.25"),
    ]
    logger.log_metrics({"epoch": 2, "val/acc5": 90.0}, step=39)  # a new key: Lightning rewrites the file
    logger.save()
    assert read_metrics(tmp_path / "metrics.csv")[2]["val/acc1"] == "55.0"


def test_old_checkpoint_best_accuracy_becomes_percent() -> None:
    ck = {"best_val_acc1": 0.5, "callbacks": {"StageCheckpoint{'monitor': 'val/acc1'}": {"best_model_score": 0.5}}}
    percent_checkpoint(ck)
    percent_checkpoint(ck)  # idempotent
    (state,) = ck["callbacks"].values()
    assert ck["best_val_acc1"] == 50.0 and state["best_model_score"] == 50.0


def test_logger_config_sets_wandb_and_other_settings_are_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    exp = parse_experiment(_tiny(tmp_path))
    got = with_logger_configs(exp, [WANDB_YAML])
    assert got.wandb is not None and got.wandb.project == "pruning-lightning" and got.wandb.mode is None
    assert got.digest() == exp.digest()  # a logger changes nothing that is trained
    from pruning_lightning.pipeline.plan import plan
    from pruning_lightning.pipeline.wandb_args import wandb_logger

    init = wandb_logger(got, plan(got)[0])["init_args"]
    assert "mode" not in init  # W&B's own WANDB_MODE (else online) decides, not a project default
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer: {max_epochs: 3}\n")
    with pytest.raises(PruningError, match="-c takes logger configs"):
        with_logger_configs(exp, [str(bad)])


def test_report_names_the_plots_it_skips(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from tests.test_report import _fake_run

    _fake_run(tmp_path / "run", {"large": [93.0], "finetune": [92.0]})  # result.json only: no metrics.csv
    main(["report", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert "report: skipped learning_curves.png: no large stage has a metrics.csv" in out
    assert "skipped regime_curves.png" in out
    assert "Plot skipped:** `learning_curves.png`" in (tmp_path / "run/report/report.md").read_text()


def test_report_replays_offline_lineage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import wandb

    calls: list[tuple[str, str]] = []

    class Run:
        def __init__(self, path: str) -> None:
            self.path = path

        def use_artifact(self, art: str) -> None:
            calls.append((self.path, art))

    class Api:
        def run(self, path: str) -> Run:
            return Run(path)

        def artifact(self, name: str, type: str) -> str:  # noqa: A002
            return f"{name} ({type})"

    run = tmp_path / "run"
    with pytest.raises(SystemExit):
        main(["report", str(tmp_path), "--replay_lineage"])
    assert "wandb_lineage.jsonl not found" in capsys.readouterr().err
    run.mkdir()
    rec = {"project": "p", "run_id": "abc", "uses": "exp-seed0-large:latest", "type": "model"}
    (run / "wandb_lineage.jsonl").write_text(json.dumps(rec) + "\n")
    monkeypatch.setattr(wandb, "Api", Api)
    main(["report", str(run), "--replay-lineage", "--entity", "team"])
    assert calls == [("team/p/abc", "team/p/exp-seed0-large:latest (model)")]
    assert "declared 1 artifact use(s) online" in capsys.readouterr().out


def test_a_config_yaml_written_before_the_layout_still_parses(tmp_path: Path) -> None:
    """Saved config.yaml files name ``pruning_lightning.loggers.StageCSVLogger`` (issue 23 moved the class): the
    old path still loads, is written back under the class's own path, and stays the stage's one CSV logger."""
    from pruning_lightning.cli.lightning_cli import STAGE_LOGGER, cli_main
    from pruning_lightning.training.loggers import StageCSVLogger
    from tests.bad_inputs_helpers import FIT

    saved = tmp_path / "config.yaml"
    logger = {"class_path": "pruning_lightning.loggers.StageCSVLogger", "init_args": {"save_dir": str(tmp_path)}}
    saved.write_text(yaml.safe_dump({"trainer": {"logger": logger, "default_root_dir": str(tmp_path)}}))
    cli = cli_main([*FIT[1:], "-c", str(saved)], run=False)
    assert cli.config.trainer.logger.class_path == STAGE_LOGGER == "pruning_lightning.training.loggers.StageCSVLogger"
    assert [type(lg) for lg in cli.trainer.loggers] == [StageCSVLogger]
