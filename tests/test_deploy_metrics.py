"""The four metrics of the shipped model (issue 20 §5): ``info --deploy`` and pruning_lightning/deploy/metrics.py."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from pruning_lightning.deploy import metrics
from pruning_lightning.formats.artifact import write_artifact
from pruning_lightning.main import main
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.pruning import MagnitudePruner, prune
from tests.helpers import TINY_VGG

pytest.importorskip("onnxruntime")


def test_sparse_bytes_counts_bitmask_and_csr() -> None:
    w = torch.zeros(4, 16)
    w[0, :4] = 1.0  # 4 non-zeros of 64
    got = metrics.sparse_bytes({"w": w, "b": torch.ones(4)})
    assert got["dense"] == 64 * 4 + 16
    assert got["bitmask_values"] == (8 + 4 * 4) + 16  # 64 bits + 4 float32 values; the bias stays dense
    assert got["csr"] == (4 * 8 + 5 * 4) + 16  # value + int32 column per non-zero, 5 row pointers
    dense = torch.ones(4, 16)  # no zeros: each tensor counts at most its dense size
    assert metrics.sparse_bytes({"w": dense})["csr"] == metrics.sparse_bytes({"w": dense})["dense"]


class FakeCounter:
    """A RAPL ``energy_uj`` file that gains 2 J per read."""

    def __init__(self) -> None:
        self.reads = itertools.count()

    def read_text(self) -> str:
        return str(2_000_000 * next(self.reads))


def test_energy_from_rapl_or_not_measurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    net = build_arch(resolve(TINY_VGG), 10).eval()
    path = tmp_path / "m.onnx"
    metrics.onnx_export(net, torch.zeros(2, 3, 32, 32), path)
    monkeypatch.setattr(metrics, "RAPL", tmp_path / "no-such-counter")
    value, why = metrics.energy_per_image(path, net, (4, 3, 32, 32), min_seconds=0)
    assert value == "not measurable here" and "does not exist" in why and "no GPU" in why
    monkeypatch.setattr(metrics, "RAPL", FakeCounter())
    value, why = metrics.energy_per_image(path, net, (4, 3, 32, 32), min_seconds=0)
    # One probe read, then a read before and after 3 batches of 4: 2 J / 12 images.
    assert value == pytest.approx(2.0 / 12) and "over 3 batches of 4" in why


def test_info_deploy_reports_the_shipped_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arch = resolve(TINY_VGG)
    write_artifact(prune(build_arch(arch, 10), arch, MagnitudePruner(0.8), base_epochs=2), tmp_path / "masked")
    main(["info", "--artifact", str(tmp_path / "masked"), "--deploy", "--no-latency"])
    rows = {r.split("|")[1].strip(): r.split("|")[2].strip() for r in capsys.readouterr().out.splitlines() if "|" in r}
    onnx = float(rows["shipped: ONNX file (dynamo exporter, simplified)"].split()[0])
    gz = float(rows["shipped: ONNX file, gzip -9"].split()[0])
    assert 0 < gz < onnx  # 80 % zeros compress
    bitmask = rows["shipped: weights, bitmask + non-zero values"]
    assert float(bitmask.split()[0]) < 0.5 * onnx and "do not run it faster" in bitmask
    for b in (1, 64):
        peak = rows[f"shipped: peak memory in ONNX Runtime, batch {b} (RSS growth of a fresh process)"]
        assert float(peak.split()[0]) > 0, peak
    assert rows["shipped: energy per image"].startswith("not measured")


def test_info_deploy_without_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(SystemExit) as exc:
        main(
            ["info", "--config", "configs/data/synthetic.yaml", "--config", "configs/arch/cifar/vgg19.yaml", "--deploy"]
        )
    assert exc.value.code == 2


def test_report_efficiency_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_report import _fake_run

    root = tmp_path / "run"
    _fake_run(root, {"large": [93.0, 94.0], "finetune": [90.0, 92.0], "scratch_e": [91.0, 91.0]})
    arch = resolve(TINY_VGG)
    write_artifact(prune(build_arch(arch, 10), arch, MagnitudePruner(0.8), base_epochs=2), tmp_path / "art")
    (tmp_path / "art/pruned.pt").rename(root / "seed0/slim/prune/pruned.pt")
    main(["report", str(root), "--efficiency"])
    md = (root / "report/report.md").read_text()
    section = md.split("## Efficiency of the shipped models")[1]
    lines = [ln for ln in section.splitlines() if ln.startswith("| ")]
    assert "ORT bs1 (ms)" in lines[0] and "finetune top-1" in lines[0] and "scratch_e top-1" in lines[0]
    large = [c.strip() for c in lines[1].split("|")[1:-1]]
    slim = [c.strip() for c in lines[2].split("|")[1:-1]]
    assert large[0] == "large" and large[3].startswith("- (PruningError)")  # the fake run has no checkpoint
    assert large[-3:] == ["94.00", "-", "-"]  # best-epoch means (test_acc1 + 0.5)
    assert slim[0] == "slim" and 0 < float(slim[4]) < float(slim[3]) and float(slim[5]) > 0
    assert slim[-2:] == ["91.50", "91.50"]
