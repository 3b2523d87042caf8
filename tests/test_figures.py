"""Report figures: the paper's names, readable units, curves with their bands (known inputs -> known values)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pruning_lightning.pipeline.curves import _mean_band, plot_regime_curves
from pruning_lightning.pipeline.names import method_label, regime_label
from pruning_lightning.pipeline.plots import ci_half, unit
from pruning_lightning.pipeline.results import Row


@pytest.mark.parametrize(
    ("method", "pruner", "label"),
    [
        ("slimming_50", "slimming", "Network Slimming 50 %"),
        ("l1_norm_a", "l1_norm", "L1-norm (A)"),
        ("uniform_50", "uniform_channel", "Uniform 50 %"),
        ("magnitude_80", None, "Magnitude 80 %"),
        ("thinet_50", "thinet", "ThiNet 50 %"),
        ("my_method", None, "my_method"),
        ("magnitude_80_lr0.01", "magnitude", "Magnitude 80 % (LR 0.01)"),
        ("l1_norm_a_lr0.01", "l1_norm", "L1-norm (A, LR 0.01)"),
        ("sfp_30", None, "SFP 30 %"),
    ],
)
def test_method_names_are_the_papers(method: str, pruner: str | None, label: str) -> None:
    assert method_label(method, pruner) == label


def test_regime_names_and_units() -> None:
    assert [regime_label(r) for r in ("finetune", "scratch_e", "scratch_b", "mine")] == [
        "Fine-tuned",
        "Scratch-E",
        "Scratch-B",
        "mine",
    ]
    assert unit([12.96e6, 3e6], "flops") == (1e6, "MFLOPs")
    assert unit([315_010.0, 69_500.0], "params") == (1e3, "K params")
    assert unit([4.1e9], "flops") == (1e9, "GFLOPs")


def test_curve_band_is_the_t_interval_over_the_seeds_that_reached_each_epoch() -> None:
    x, mean, half = _mean_band({0: [(0, 50.0), (1, 60.0), (2, 70.0)], 1: [(0, 52.0), (1, 64.0)]})
    assert x == [1, 2, 3]
    assert mean == [51.0, 62.0, 70.0]
    assert half[0] == pytest.approx(12.706204736174698 * 2**0.5 / 2**0.5)  # sd sqrt(2), n 2
    assert half[2] == 0.0 and ci_half([1.0]) == 0.0  # one seed reached epoch 3: no band


def test_rows_show_the_trained_epochs() -> None:
    assert Row("m", "scratch_b", epochs=[55, 51, 55]).epochs_text == "51-55"
    assert Row("m", "scratch_e", epochs=[32, 32]).epochs_text == "32"
    assert Row("m", "scratch_e").epochs_text == "-"


def test_regime_curves_figure(tmp_path: Path) -> None:
    rows = [Row("-", "large", accs=[70.0, 72.0]), Row("slim", "finetune"), Row("slim", "scratch_b")]
    assert plot_regime_curves(tmp_path, rows, tmp_path, "t") is None  # no metrics.csv yet
    for seed in (0, 1):
        for regime, n in (("finetune", 3), ("scratch_b", 6)):
            d = tmp_path / f"seed{seed}/slim/{regime}"
            d.mkdir(parents=True)
            lines = ["epoch,step,val/acc1"] + [f"{e},{e * 10},{0.5 + 0.01 * e + 0.01 * seed}" for e in range(n)]
            (d / "metrics.csv").write_text("\n".join(lines) + "\n")
    png = plot_regime_curves(tmp_path, rows, tmp_path, "t")
    assert png == tmp_path / "regime_curves.png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "regime_curves.pdf").read_bytes()[:5] == b"%PDF-"
