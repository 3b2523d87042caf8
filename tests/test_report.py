"""Report: aggregation over seeds, paper numbers beside ours, Markdown/CSV/plots, reference data."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from pruning_lightning.core.errors import PruningError
from pruning_lightning.main import main
from pruning_lightning.pipeline.reference import REFERENCE, lookup
from pruning_lightning.pipeline.results import collect

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
                "test_acc1_best": acc + 0.5,
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
    assert by["scratch_b"].best_mean == pytest.approx(94.5)
    assert by["scratch_b"].diff == pytest.approx(94.5 - 93.81)  # the paper's code reports the best epoch
    assert by["finetune"].flops_ratio == pytest.approx(3.0) and by["finetune"].params == pytest.approx(150)
    assert by["large"].flops_ratio == 1.0 and by["large"].flops == 4000

    main(["report", str(root)])
    out = root / "report"
    md = (out / "report.md").read_text()
    assert "| slim   | scratch_b | 2     | 94.00 ± 0.50    | 94.50 ± 0.50   | 93.81 ± 0.14 | +0.69        |" in md
    assert "**final** = test top-1 of `last.ckpt`" in md and "**best** = test top-1 of `best.ckpt`" in md
    # Paired by seed: scratch_b - finetune = (+3.5, +2.5) in both columns; t(0.975, 1) = 12.706.
    assert "| slim   | scratch_b - finetune | final      | 2     | +3.50 +2.50" in md
    assert "[-3.35, +9.35]" in md and "inconclusive at this scale" in md
    table = list(csv.DictReader(io.StringIO((out / "report.csv").read_text())))
    assert [t["regime"] for t in table] == ["large", "finetune", "scratch_e", "scratch_b"]
    assert float(table[1]["acc_mean"]) == 91.0 and table[1]["accs"] == "90.0000 92.0000"
    for png in ("acc_vs_flops.png", "acc_vs_params.png", "widths_slim.png", "paired_differences.png"):
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


T975 = {1: 12.706204736174698, 2: 4.302652729749464, 3: 3.182446305284263}  # Student t 0.975 quantiles


@pytest.mark.parametrize(
    ("diffs", "verdict"),
    [
        ((1.0, 2.0, 3.0), "inconclusive"),
        ((1.0, 1.2, 0.8, 1.1), "supported"),
        ((-2.0, -2.5, -1.5), "not supported"),
    ],
)
def test_paired_interval_known_answers(diffs: tuple[float, ...], verdict: str) -> None:
    from pruning_lightning.pipeline.paired import paired

    table = {("m", "finetune"): {s: 90.0 for s in range(len(diffs))}}
    table[("m", "scratch_b")] = {s: 90.0 + d for s, d in enumerate(diffs)}
    table[("m", "finetune")][99] = 1.0  # a seed only one regime finished is left out
    p = paired(table, "m", "scratch_b", "final")
    assert p is not None and p.seeds == tuple(range(len(diffs)))
    n = len(diffs)
    mean = sum(diffs) / n
    sd = (sum((d - mean) ** 2 for d in diffs) / (n - 1)) ** 0.5
    half = T975[n - 1] * sd / n**0.5
    assert p.mean == pytest.approx(mean)
    assert p.interval == pytest.approx((mean - half, mean + half))
    assert p.verdict.split(": ")[1].startswith(verdict)
    one = paired({("m", "finetune"): {0: 1.0}, ("m", "scratch_e"): {0: 2.0}}, "m", "scratch_e", "best")
    assert one is not None and one.interval is None and "1 seed" in one.verdict


def test_plot_labels_title_and_reduced_budget_note(tmp_path: Path) -> None:
    from pruning_lightning.pipeline.plot_labels import labels
    from pruning_lightning.pipeline.plots import layer_labels

    root = tmp_path / "run"
    _fake_run(root, {"large": [93.0], "finetune": [90.0]})
    exp = json.loads((root / "experiment.json").read_text())["experiment"]
    arch = {"family": "vgg", "depth": 19, "num_classes": 10, "cfg": None, "variant": "default", "options": {}}
    big = {"epochs": 160, "arch": {**arch, "cfg": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512,
                                                   512, "M", 512, 512, 512, 512]}}  # fmt: skip
    (root / "seed0/large/result.json").write_text(json.dumps(big))
    exp["data"] = ["configs/data/cifar10.yaml"]
    assert labels(exp, root) == {"title": "CIFAR-10 / VGG-19 / slim", "note": None}  # paper scale: no note
    small = {**big, "epochs": 8, "arch": {**arch, "cfg": [8, 8, "M", 16, 16, "M", 32, 32, 32, 32, "M", 64, 64, 64, 64,
                                                          "M", 64, 64, 64, 64]}}  # fmt: skip
    (root / "seed0/large/result.json").write_text(json.dumps(small))
    got = labels({**exp, "description": "Mini reproduction on a CIFAR-10 subset"}, root)
    assert got["title"] == "CIFAR-10 / VGG-19 (narrowed) / slim"
    assert got["note"] is not None and got["note"].startswith("Reduced budget, not comparable with the paper")
    assert "8 epochs (paper: 160)" in got["note"] and "description" in got["note"]
    assert layer_labels(["features.conv1.weight", "features.conv2.weight"]) == ["conv1", "conv2"]
    assert layer_labels(["layer1.0.conv1.weight", "layer2.0.conv1.weight"]) == ["layer1.0.conv1", "layer2.0.conv1"]


def test_learning_curves_of_shared_and_own_large_models(tmp_path: Path) -> None:
    from pruning_lightning.pipeline.curves import large_curves, plot_curves

    header = "epoch,step,train/acc1,val/acc1\n"
    for folder, rows in (("seed0/large", "0,9,0.1,\n0,9,,0.25\n1,19,,0.5\n"), ("seed1/l1/large", "0,9,,0.4\n")):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "metrics.csv").write_text(header + rows)
    curves = large_curves(tmp_path)
    assert curves == {"large": {0: [(0, 25.0), (1, 50.0)]}, "l1 (own large)": {1: [(0, 40.0)]}}
    png = plot_curves(tmp_path, tmp_path, "fake")
    assert png is not None and png.read_bytes()[:4] == b"\x89PNG"
    assert plot_curves(tmp_path / "seed0/l1", tmp_path, "none") is None
