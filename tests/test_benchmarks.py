"""The three benchmark scripts run end to end in their smoke modes (in-process) and compute what they print."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_train_throughput_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    threads = torch.get_num_threads()
    res = _script("train_throughput").main(["--smoke", "--root", str(tmp_path)])
    assert torch.get_num_threads() == threads  # the smoke's single thread does not leak into other tests
    assert len(res["lightning_runs"]) == len(res["bare_runs"]) == 1
    out = capsys.readouterr().out
    for k, clock in enumerate(("wall", "cpu")):
        r = res[clock]
        assert r["lightning_ips"] == res["lightning_runs"][0][k] > 0 and r["bare_ips"] == res["bare_runs"][0][k] > 0
        assert r["ratio"] == pytest.approx(r["lightning_ips"] / r["bare_ips"]) == r["paired_ratio"]
        assert f"ratio Lightning/bare {r['ratio']:.3f}" in out


def test_gpu_epoch_smoke_and_projection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mod = _script("gpu_epoch")
    rows = mod.main(["--device", "cpu", "--smoke", "--root", str(tmp_path), "--seeds", "2"])
    assert [r["variant"] for r in rows] == ["dataloader", "device", "bf16", "channels_last"]  # compile off in smoke
    assert rows[0]["speedup"] == 1.0 and all(r["epoch_s"] > 0 and r["pruned_epoch_s"] > 0 for r in rows)
    assert all(math.isnan(r["mfu"]) for r in rows)  # no peak given on CPU
    b = rows[0]["scratch_b_epochs"]
    assert 295 <= b <= 315 and f"Scratch-B {b} epochs" in capsys.readouterr().out  # 160 / ~0.52 (ENVIRONMENT §8)
    for r in rows:  # the projection is the documented sum: 2 seeds x (160 large + (40 + 160 + B) pruned epochs)
        assert r["row_hours"] == pytest.approx(2 * (160 * r["epoch_s"] + (200 + b) * r["pruned_epoch_s"]) / 3600)
    args = mod.parse(["--device", "cpu"])
    assert mod.epoch_seconds({"step_s": 1.0, "eval_step_s": 2.0}, 64, True, args) == 781 + 2 * 40
    assert mod.epoch_seconds({"step_s": 1.0, "eval_step_s": 2.0}, 64, False, args) == 782 + 2 * 40
    assert mod.parse(["--device", "cuda"]).peak_tflops == 989.0


def test_pruned_latency_smoke_and_rounding(capsys: pytest.CaptureFixture[str]) -> None:
    mod = _script("pruned_latency")
    rows = mod.main(["--smoke"])
    assert [(r["device"], r["batch"]) for r in rows] == [("cpu", 1), ("cpu", 8)]
    for r in rows:
        assert r["dense_flops"] > r["round8_flops"] > r["pruned_flops"]  # rounding up costs FLOPs, stays below dense
        assert r["pruned_flops_speedup"] == pytest.approx(r["dense_flops"] / r["pruned_flops"])
        assert r["pruned_speedup"] == pytest.approx(r["dense_ms"] / r["pruned_ms"]) and r["pruned_ms"] > 0
    assert "speedup (FLOPs ratio)" in capsys.readouterr().out
    assert mod.round_cfg([3, "M", 9, 0, 60, [5, 17]], [64, "M", 16, 8, 62, [64, 64]], 8) == [8, "M", 16, 0, 62, [8, 24]]


def test_uniform_gamma_slimming_keeps_about_30_percent() -> None:
    cfg = _script("pruned_latency").uniform_slimming_cfg(0.7)
    kept = sum(c for c in cfg if c != "M")
    assert 0.29 * 5504 <= kept <= 0.31 * 5504  # VGG-19 has 5,504 BN channels
    assert all(c == "M" or c > 0.15 * 512 for c in cfg[-4:])  # uniform gammas: no layer is emptied


def test_cpu_settings_smoke(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["cpu_settings.py", "--smoke"])
    _script("cpu_settings").main()  # it sets its own thread counts; conftest's fixture restores them
    out = capsys.readouterr().out
    assert "| fp32 (default) |" in out and "1.00x" in out and "| bf16 autocast |" in out


def test_deploy_latency_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnxruntime")
    threads = torch.get_num_threads()
    rows = _script("deploy_latency").main(["--smoke"])
    assert torch.get_num_threads() == threads
    assert [(r["runtime"], r["batch"]) for r in rows] == [
        ("torch", 1),
        ("torch", 4),
        ("onnxruntime", 1),
        ("onnxruntime", 4),
    ]
    out = capsys.readouterr().out
    for r in rows:
        assert r["latency_ratio"] == pytest.approx(r["pruned_ms"] / r["dense_ms"]) and r["pruned_ms"] > 0
        assert 0 < r["flops_ratio"] < 1  # SFP removed filters
        assert f"| {r['latency_ratio']:.2f} | {r['flops_ratio']:.2f} |" in out


def test_ort_profile_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnxruntime")
    rows = _script("ort_profile").main(["--smoke"])
    assert [r["net"] for r in rows] == ["unpruned", "sfp-resnet56", "sfp-resnet56-r8"]
    assert rows[0]["flops_ratio"] == rows[0]["latency_ratio"] == 1.0
    assert rows[0]["flops_ratio"] > rows[2]["flops_ratio"] > rows[1]["flops_ratio"]  # rounding keeps some FLOPs
    assert rows[0]["macs_ratio"] == 1.0 and 0 < rows[1]["macs_ratio"] < rows[2]["macs_ratio"] < 1
    for r in rows:  # every conv of the graph is counted once, as an NCHWc conv or a plain one
        convs = sum(r["ops"][op][1] for op in ("Conv", "FusedConv") if op in r["ops"])
        assert r["nchwc_conv"] + r["plain_conv"] == convs == 7 and r["ops"]["Conv"][0] > 0
    assert rows[1]["plain_conv"] > 0 == rows[2]["plain_conv"]  # odd widths fall off the blocked layout
    assert "| sfp-resnet56-r8 |" in capsys.readouterr().out


def test_ort_profile_layout_probe() -> None:
    """The layout probe reads ONNX Runtime's optimised graph: 24 channels run blocked (padded to the block), 23 do
    not (a multiple of 4 is needed, whatever the CPU's block of 8 or 16), fewer than one block read NCHW directly."""
    pytest.importorskip("onnxruntime")
    rows = {r["channels"]: r for r in _script("ort_profile").main(["--widths", "6", "23", "24"])}
    assert rows[23]["nchwc"] is False and rows[23]["weight"] == (23, 23)
    assert rows[24]["nchwc"] is True and rows[24]["weight"][0] % 8 == 0 and rows[24]["weight"][0] >= 24
    assert rows[6]["nchwc"] is True and rows[6]["weight"][1] == 6  # the input is read as it is
