"""Bad inputs that need a patched environment (no network, no GPU, read-only or full disk), the rollback of
a failed run, the reuse of an unstarted run folder, --debug and --help (issue 11; see test_bad_inputs.py)."""

from __future__ import annotations

import json
import os
import pickle
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch

from pruning_lightning.data.safe_pickle import loads
from pruning_lightning.main import main
from tests.bad_inputs_helpers import (
    FIT,
    P50,
    Payload,
    cifar_args,
    error_of,
    exp_file,
    fake_cifar,
    make_res,
    read_only_folder,
    snapshot,
)


@pytest.fixture(scope="module")
def res(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_res(tmp_path_factory.mktemp("res"))


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_gpu_accelerator_without_gpu(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    error_of(capsys, [*FIT, "--trainer.accelerator", "gpu"], work, "--trainer.accelerator gpu", "cpu")


def test_cifar_download_offline(
    work: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def offline(*a: object, **k: object) -> None:
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    line = error_of(capsys, cifar_args(work / "data", download=True), work, "downloading cifar10", "data_dir")
    assert "download false" in line and not (work / "data").exists()


def test_prune_read_only_out(
    res: dict[str, str], work: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    read_only_folder(work, monkeypatch)
    argv = ["prune", "-c", P50, "--ckpt", res["ckpt"], "--out", str(work / "ro/out")]
    error_of(capsys, argv, work, "not writable", "ro")


def test_prune_disk_full_leaves_nothing(
    res: dict[str, str], work: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def full(*a: object, **k: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("pruning_lightning.formats.artifact.yaml.safe_dump", full)
    argv = ["prune", "-c", P50, "--ckpt", res["ckpt"], "--out", str(work / "new/out")]
    error_of(capsys, argv, work, "cannot write --out", "No space left")


def test_failed_fit_restores_previous_stage_outputs(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The failure comes after Lightning rewrote config.yaml: the previous file is back, new files gone."""
    (work / "stage").mkdir()
    (work / "stage/config.yaml").write_text("previous: run\n")
    bad = ["--model.init_args.lr_milestones", "[]", "--model.init_args.lr_step_every", "bogus"]
    error_of(capsys, [*FIT, *bad, "--trainer.default_root_dir", "stage"], work, "lr_step_every")
    assert (work / "stage/config.yaml").read_text() == "previous: run\n"


def test_artifact_folder_honours_umask(res: dict[str, str], work: Path) -> None:
    old = os.umask(0o022)
    try:
        main(["prune", "-c", P50, "--ckpt", res["ckpt"], "--out", "out"])
    finally:
        os.umask(old)
    assert (work / "out").stat().st_mode & 0o777 == 0o755


def test_unstarted_run_folder_is_reused_after_a_fix(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pruning_lightning.pipeline import load_experiment
    from pruning_lightning.pipeline.preflight import release_unstarted

    (work / "run").mkdir()
    (work / "run/experiment.json").write_text(json.dumps({"name": "tiny-slimming", "digest": "typo"}))
    exp = load_experiment(exp_file(work))
    release_unstarted(exp)
    assert not (work / "run/experiment.json").exists()  # the runner records the corrected experiment
    (work / "run/experiment.json").write_text(json.dumps({"name": "tiny-slimming", "digest": "typo"}))
    (work / "run/seed0/large/checkpoints").mkdir(parents=True)
    (work / "run/seed0/large/checkpoints/last.ckpt").write_bytes(b"x")
    release_unstarted(exp)  # work was done there: kept, and the runner refuses the other experiment
    assert (work / "run/experiment.json").is_file()


def test_safe_unpickler_refuses_payload_that_pickle_would_run(tmp_path: Path) -> None:
    data = pickle.dumps({"data": Payload(tmp_path / "PWNED")}, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        loads(data)
    assert not (tmp_path / "PWNED").exists()
    pickle.loads(data)  # the same bytes do run code under pickle.load: the test is meaningful
    assert (tmp_path / "PWNED").exists()


def test_fake_cifar_trains(work: Path) -> None:
    """The fake CIFAR folder of the data cases is valid: a bad case fails for the planted reason only."""
    fake_cifar(work / "c")
    main([*cifar_args(work / "c"), "--trainer.default_root_dir", "stage", "--trainer.logger", "false"])
    assert (work / "stage/checkpoints/last.ckpt").is_file()


def test_debug_shows_the_traceback(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(work)
    with pytest.raises(Exception, match="batch_size"):
        main(["--debug", *FIT, "--data.init_args.batch_size", "0"])
    assert snapshot(work) == before


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("fit", "validate", "test", "prune", "zoo", "arch", "info", "export", "demo", "pipeline", "report"):
        assert any(line.split()[:1] == [cmd] and len(line.split()) > 2 for line in out.splitlines()), cmd
    assert "predict" not in out


def test_every_command_is_listed_once_and_dispatched() -> None:
    """One list of command names (``main.COMMANDS``): each tool is a module of ``commands/`` with ``main``, and
    every such module is a listed tool; the stages are ``run_stage``'s and the LightningCLI's subcommands."""
    import importlib

    from pruning_lightning import main as entry

    tools = {n for n, c in entry.COMMANDS.items() if c.tool}
    folder = Path(entry.__file__).parent / "commands"
    runnable = {p.stem for p in folder.glob("*.py") if "\ndef main(" in p.read_text()}
    assert tools == runnable
    assert all(callable(importlib.import_module(f"pruning_lightning.commands.{t}").main) for t in tools)
    assert set(entry.COMMANDS) - tools == {"fit", "validate", "test", "prune", "zoo", "arch"}


# Issue 21 §4: `zoo` with non-finite weights, an --out below a file, an unwritable --out folder.


@pytest.fixture(scope="module")
def zoo_weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    import torchvision

    root = tmp_path_factory.mktemp("zoo")
    state = torchvision.models.resnet34(weights=None).state_dict()
    torch.save(state, root / "good.pth")
    state["conv1.weight"][0, 0, 0, 0] = float("nan")
    torch.save(state, root / "nan.pth")
    return {"good": str(root / "good.pth"), "nan": str(root / "nan.pth")}


ZOO = ["zoo", "--arch", str(Path(__file__).resolve().parents[1] / "configs/arch/imagenet/resnet34.yaml")]


def test_zoo_nan_weights(zoo_weights: dict[str, str], work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    error_of(capsys, [*ZOO, "--weights", zoo_weights["nan"], "--out", "x.ckpt"], work, "nan.pth", "non-finite")


def test_zoo_out_below_a_file(zoo_weights: dict[str, str], work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (work / "f").write_text("x")
    error_of(capsys, [*ZOO, "--weights", zoo_weights["good"], "--out", "f/x.ckpt"], work, "lies below", "a file")


def test_zoo_out_read_only(
    zoo_weights: dict[str, str], work: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    read_only_folder(work, monkeypatch)
    error_of(capsys, [*ZOO, "--weights", zoo_weights["good"], "--out", str(work / "ro/x.ckpt")], work, "not writable")


@pytest.mark.slow
def test_pipeline_refuses_a_malicious_artifact_and_leaves_no_stage_folder(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = exp_file(work, seeds=[0], regimes={"finetune": {"epochs": 1}})
    main(["pipeline", path, "--only", "seed0/large", "seed0/slimming_50/prune"])
    capsys.readouterr()
    artifact = work / "run/seed0/slimming_50/prune/pruned.pt"
    artifact.write_bytes(pickle.dumps({"weights": Payload(work / "PWNED")}, protocol=2))
    error_of(capsys, ["pipeline", path], work, "pruned.pt")  # the whole tree is left as it was
    assert not (work / "PWNED").exists()
    assert not (work / "run/seed0/slimming_50/finetune").exists()
