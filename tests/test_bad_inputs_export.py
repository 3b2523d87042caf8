"""``pruning-lightning export`` end to end (checkpoint, slimming artifact, masked artifact) and its bad inputs
(issue 20 §2): each is one ``error:`` line, exit status 2, and nothing written (see test_bad_inputs.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import yaml

from pruning_lightning.deploy import export as deploy_export
from pruning_lightning.main import main
from tests.bad_inputs_helpers import error_of, make_res, put

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def res(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_res(tmp_path_factory.mktemp("res"))


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("source", ["ckpt", "art", "masked"])
def test_export_writes_checked_files(
    source: str, res: dict[str, str], work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = "--ckpt" if source == "ckpt" else "--artifact"
    main(["export", flag, res[source], "--out", str(work / "deploy"), "--inputs", "8"])
    out = capsys.readouterr().out
    assert sorted(p.name for p in (work / "deploy").iterdir()) == ["export.yaml", "model.onnx", "model.pt2"]
    assert not [p for p in work.iterdir() if p.name.startswith(".deploy.")]  # no temporary folder left
    rep = yaml.safe_load((work / "deploy/export.yaml").read_text())
    assert f"opset {rep['opset']}" in out and rep["exporter"] in ("dynamo", "torchscript")
    assert rep["onnxruntime_check"]["max_abs_diff"] <= 1e-4 and rep["torch_export_check"]["top1_agreement"] == 1.0
    assert "top-1 agreement 100.0%" in out and "passed" in out
    if source == "masked":
        assert rep["simplified"]["masks_baked"] > 0
        weights = dict(torch.export.load(str(work / "deploy/model.pt2")).module().named_parameters())
        assert sum(int((w == 0).sum()) for w in weights.values()) > 0


def test_masked_checkpoint_with_real_inputs(
    res: dict[str, str], work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkpoint of a masked regime carries its masks as ``weight_masks.*`` buffers: export applies them."""
    ckpt = torch.load(res["ckpt"], map_location="cpu", weights_only=True)
    name = next(k for k in ckpt["state_dict"] if k.startswith("net.") and k.endswith("conv2.weight"))
    mask = torch.rand(ckpt["state_dict"][name].shape, generator=torch.Generator().manual_seed(0)) > 0.5
    ckpt["state_dict"]["weight_masks." + name[4:].replace(".", "/")] = mask
    torch.save(ckpt, work / "masked.ckpt")
    synthetic = str(Path(__file__).resolve().parents[1] / "configs/data/synthetic.yaml")
    main(["export", "--ckpt", str(work / "masked.ckpt"), "--out", "d", "--data", synthetic, "--inputs", "8"])
    out = capsys.readouterr().out
    assert "1 masks baked" in out and f"8 validation images of {synthetic}" in out
    weights = dict(torch.export.load(str(work / "d/model.pt2")).module().named_parameters())
    assert (weights[name[4:]][~mask] == 0).all() and (weights[name[4:]][mask] != 0).any()


def test_not_a_model_of_this_project(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.save({"state_dict": {"w": torch.zeros(2)}}, work / "other.ckpt")
    error_of(capsys, ["export", "--ckpt", str(work / "other.ckpt"), "--out", "d"], work, "not a pruning-lightning")
    torch.save([1, 2, 3], work / "list.ckpt")
    error_of(capsys, ["export", "--ckpt", str(work / "list.ckpt"), "--out", "d"], work, "not a pruning-lightning")


def test_unknown_format(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    onnx = put(work, "model.onnx", b"\x08\x07\x12\x04onnx")
    error_of(capsys, ["export", "--ckpt", onnx, "--out", "d"], work, "unreadable")
    torch.save({"format": "someone-else/v3"}, work / "pruned.pt")
    error_of(capsys, ["export", "--artifact", str(work), "--out", "d"], work, "not a pruning-lightning artifact")


def test_existing_output(res: dict[str, str], work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (work / "deploy").mkdir()
    error_of(capsys, ["export", "--ckpt", res["ckpt"], "--out", "deploy"], work, "already exists")
    put(work, "file", "x")
    error_of(capsys, ["export", "--ckpt", res["ckpt"], "--out", "file"], work, "existing file")


def test_runtime_not_installed(
    res: dict[str, str], work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as when it is not installed
    error_of(capsys, ["export", "--ckpt", res["ckpt"], "--out", "d"], work, "onnxruntime is not installed", "[deploy]")


def test_tolerance_exceeded_writes_nothing(
    res: dict[str, str], work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = deploy_export.run_onnx
    monkeypatch.setattr(deploy_export, "run_onnx", lambda s, x: real(s, x) + 1e-3)  # a runtime that drifts
    err = error_of(capsys, ["export", "--ckpt", res["ckpt"], "--out", "d", "--inputs", "4"], work, "--tolerance")
    assert "ONNX 0.001" in err


def test_failure_leaves_no_new_parent_folders(
    res: dict[str, str], work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = deploy_export.run_onnx
    monkeypatch.setattr(deploy_export, "run_onnx", lambda s, x: real(s, x) + 1.0)
    error_of(capsys, ["export", "--ckpt", res["ckpt"], "--out", "a/b/d", "--inputs", "2"], work, "--tolerance")
    assert not (work / "a").exists()


def test_torchscript_exporter_when_dynamo_fails(
    res: dict[str, str], work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = torch.onnx.export

    def no_dynamo(*args: object, **kwargs: object) -> object:
        if kwargs.get("dynamo"):
            raise RuntimeError("the dynamo exporter failed")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(torch.onnx, "export", no_dynamo)
    main(["export", "--ckpt", res["ckpt"], "--out", "d", "--inputs", "4"])
    assert "ONNX (torchscript exporter, opset 18)" in capsys.readouterr().out
    assert yaml.safe_load((work / "d/export.yaml").read_text())["exporter"] == "torchscript"


def test_source_and_options(res: dict[str, str], work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    error_of(capsys, ["export", "--out", "d"], work, "exactly one of --ckpt")
    error_of(capsys, ["export", "--ckpt", res["ckpt"], "--artifact", res["art"], "--out", "d"], work, "exactly one")
    error_of(capsys, ["export", "--ckpt", res["ckpt"], "--out", "d", "--tolerance", "0"], work, "--tolerance > 0")


def test_fold_selections_reaches_simplify(
    res: dict[str, str], work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pruning_lightning.commands import export as command

    seen: list[str] = []

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(str(kwargs["fold"]))
        return deploy_export.export_model(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(command, "export_model", spy)
    main(["export", "--artifact", res["art"], "--out", str(work / "d"), "--inputs", "4", "--fold-selections", "always"])
    main(["export", "--artifact", res["art"], "--out", str(work / "e"), "--inputs", "4"])
    assert seen == ["always", "cheaper"]
    error_of(capsys, ["export", "--ckpt", res["ckpt"], "--out", "f", "--fold-selections", "no"], work, "fold")
