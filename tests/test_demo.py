"""The demo is an experiment file run by ``pipeline`` + ``report`` (``make demo``, ``pruning-lightning demo``)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from pruning_lightning.commands import demo
from pruning_lightning.pipeline import plan

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("large", "slimming_50/prune", "slimming_50/finetune", "slimming_50/finetune_kd", "slimming_50/scratch_e",
          "slimming_50/scratch_b")  # fmt: skip


def test_make_demo_runs_the_experiment_file() -> None:
    """``make demo`` is exactly what a user runs: ``pipeline <demo experiment>`` then ``report <its run_dir>``."""
    text = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^demo:.*\n((?:\t.*\n)+)", text, re.MULTILINE)
    assert recipe is not None
    lines = [line.strip() for line in recipe.group(1).splitlines()]
    exp = demo.demo_experiment()
    rel = demo.EXPERIMENT.relative_to(ROOT)
    assert lines == [f"$(BIN)/pruning-lightning pipeline {rel}", f"$(BIN)/pruning-lightning report {exp.root}"]


def test_demo_experiment_defaults_and_flags() -> None:
    exp = demo.demo_experiment()
    assert (exp.run_dir, exp.seeds, exp.base_epochs) == ("runs/demo", (0,), 16)
    assert list(exp.regimes) == ["finetune", "finetune_kd", "scratch_e", "scratch_b"]
    epochs = {st.key: st.args[st.args.index("--trainer.max_epochs") + 1] for st in plan(exp)
              if "--trainer.max_epochs" in st.args}  # fmt: skip
    # large 16, fine-tune (with and without KD) 4 = the paper's 40:160, Scratch-E 16 (Scratch-B: from the prune)
    assert epochs == {"seed0/large": "16", "seed0/slimming_50/finetune": "4", "seed0/slimming_50/finetune_kd": "4",
                      "seed0/slimming_50/scratch_e": "16"}  # fmt: skip
    exp = demo.demo_experiment("x", seed=3, large_epochs=5, finetune_epochs=2, progress=False)
    assert (exp.run_dir, exp.seeds, exp.base_epochs, exp.trainer["enable_progress_bar"]) == ("x", (3,), 5, False)
    fine = {k: r.epochs for k, r in exp.regimes.items() if k.startswith("finetune")}
    assert fine == {"finetune": 2, "finetune_kd": 2}


def test_demo_flags_reach_the_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    monkeypatch.setattr(demo, "run_demo", seen.append)
    demo.main(["--out", str(tmp_path / "d"), "--seed", "2", "--large_epochs", "3", "--finetune_epochs", "1"])
    assert (seen[0].root, seen[0].seeds, seen[0].base_epochs) == (tmp_path / "d", (2,), 3)
    assert not (tmp_path / "d").exists()


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    """The demo experiment through the demo's entry point, tiny: every stage, the report's table and plots."""
    tiny = {
        "limit_train_batches": 2,
        "limit_val_batches": 1,
        "limit_test_batches": 1,
        "num_sanity_val_steps": 0,
        "log_every_n_steps": 1,
    }
    exp = demo.demo_experiment(str(tmp_path / "demo"), large_epochs=1, finetune_epochs=1, progress=False, trainer=tiny)
    report = demo.run_demo(exp)
    seed = tmp_path / "demo" / "seed0"
    results = {s.split("/")[-1]: json.loads((seed / s / "result.json").read_text()) for s in STAGES}
    assert results["large"]["epochs"] == results["finetune"]["epochs"] == results["finetune_kd"]["epochs"] == 1
    assert results["scratch_b"]["epochs"] == results["prune"]["stats"]["scratch_b_epochs"]
    # The table: one row per stage, its final-epoch accuracy the stage's own result.json.
    with (report / "report.csv").open(newline="") as f:
        rows = {r["regime"]: r for r in csv.DictReader(f)}
    md = (report / "report.md").read_text()
    for regime in ("large", "finetune", "finetune_kd", "scratch_e", "scratch_b"):
        acc = results[regime]["test_acc1"]
        assert float(rows[regime]["acc_mean"]) == pytest.approx(acc, abs=1e-4)
        method = "-" if regime == "large" else "slimming_50"
        assert re.search(rf"^\| {re.escape(method)} +\| {regime} +\| 1 +\| {acc:.2f} \(1 seed\) ", md, re.MULTILINE)
    for png in ("acc_vs_flops", "acc_vs_params", "learning_curves", "widths_slimming_50"):
        assert (report / f"{png}.png").stat().st_size > 0
