"""Report: aggregation over seeds, paper numbers beside ours, Markdown/CSV/plots, reference data."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from pruning_lightning.cli import main
from pruning_lightning.errors import PruningError
from pruning_lightning.pipeline.results import collect
from pruning_lightning.reference import REFERENCE, lookup

KEY = "table4/cifar10/vgg19/slimming_70"


def _fake_run(root: Path, accs: dict[str, list[float]]) -> None:
    """A run directory as the pipeline leaves it: experiment.json + result.json per stage."""
    exp = {
        "name": "fake",
        "description": "",
        "methods": [{"name": "slim"}],
        "regimes": {"finetune": {}, "scratch_e": {}, "scratch_b": {}},
        "paper": {"slim": KEY},
        "wandb": None,
    }
    root.mkdir(parents=True)
    (root / "experiment.json").write_text(json.dumps({"name": "fake", "digest": "x", "experiment": exp}))
    for regime, values in accs.items():
        for seed, acc in enumerate(values):
            d = root / f"seed{seed}" / ("" if regime == "large" else "slim") / regime
            d.mkdir(parents=True)
            r = {
                "key": "",
                "job_type": regime,
                "seed": seed,
                "method": None if regime == "large" else "slim",
                "test_acc1": acc,
                "params_nonzero": 1000,
                "flops": 4000,
            }
            (d / "result.json").write_text(json.dumps(r))
    for seed, ratio in enumerate((2.0, 4.0)):
        d = root / f"seed{seed}/slim/prune"
        d.mkdir(parents=True, exist_ok=True)
        stats = {
            "params_after": 100 * (seed + 1),
            "flops_after": 1000 * (seed + 1),
            "flops_ratio": ratio,
            "kept": {"features.bn1": f"{3 + seed}/8", "features.bn2": "5/16"},
        }
        (d / "result.json").write_text(
            json.dumps({"job_type": "prune", "seed": seed, "method": "slim", "stats": stats})
        )


def test_report_aggregates_and_compares(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "run"
    _fake_run(
        root, {"large": [93.0, 94.0], "finetune": [90.0, 92.0], "scratch_e": [91.0, 91.0], "scratch_b": [93.5, 94.5]}
    )
    _, rows, _ = collect(root)
    by = {r.regime: r for r in rows}
    assert [r.regime for r in rows] == ["large", "finetune", "scratch_e", "scratch_b"]
    assert by["finetune"].mean == pytest.approx(91.0) and by["finetune"].std == pytest.approx(1.0)
    assert by["scratch_e"].std == 0.0
    assert by["large"].paper == (93.53, 0.16)
    assert by["scratch_b"].diff == pytest.approx(94.0 - 93.81)
    assert by["finetune"].flops_ratio == pytest.approx(3.0) and by["finetune"].params == pytest.approx(150)
    assert by["large"].flops_ratio == 1.0 and by["large"].flops == 4000

    main(["report", str(root)])
    out = root / "report"
    md = (out / "report.md").read_text()
    assert "| slim   | scratch_b | 2     | 94.00 ± 0.50 | 93.81 ± 0.14 | +0.19 |" in md
    table = list(csv.DictReader(io.StringIO((out / "report.csv").read_text())))
    assert [t["regime"] for t in table] == ["large", "finetune", "scratch_e", "scratch_b"]
    assert float(table[1]["acc_mean"]) == 91.0 and table[1]["accs"] == "90.0000 92.0000"
    for png in ("acc_vs_flops.png", "acc_vs_params.png", "widths_slim.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in capsys.readouterr().out


def test_report_needs_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(PruningError, match="not a pipeline run directory"):
        collect(tmp_path)


def test_reference_table_is_consistent() -> None:
    assert lookup("table1/imagenet/resnet34/resnet34_a", "scratch_b") == (73.03, None)
    assert lookup(KEY, "scratch_e") == (93.30, 0.11)
    assert lookup("nope", "large") is None
    for key, entry in REFERENCE.items():
        assert set(entry) == {"large", "finetune", "scratch_e", "scratch_b"}, key
        assert all(0 < m < 100 and (s is None or 0 <= s < 1) for m, s in entry.values()), key
        cifar = "/cifar" in key
        assert all((s is not None) == cifar for _, s in entry.values()), key  # CIFAR: 5-run std; ImageNet: 1 run
