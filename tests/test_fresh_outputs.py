"""How a stage's folder appears (issue 23 §3): one-step outputs are written into a fresh folder or file and
renamed into place on success, so a failure leaves nothing half-written; a fit resumes in place, its finished
marker is written atomically and a fit failing before its first checkpoint is undone by the guard it is given."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pruning_lightning.formats.fresh import fresh_folder
from pruning_lightning.formats.run_dir import StageDir
from pruning_lightning.main import main

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "configs/experiments"


def test_the_finished_marker_is_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    st = StageDir(tmp_path)
    st.write_result({"old": 1})
    replaced: list[tuple[str, str]] = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (replaced.append((str(a), str(b))), real(a, b))[1])

    class Unwritable:
        def __str__(self) -> str:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        st.write_result({"new": Unwritable()})  # fails while the temporary file is written
    assert json.loads(st.result.read_text()) == {"old": 1} and os.listdir(tmp_path) == ["result.json"]
    st.write_result({"new": 2})
    assert json.loads(st.result.read_text()) == {"new": 2} and os.listdir(tmp_path) == ["result.json"]
    assert len(replaced) == 1 and replaced[0][1] == str(st.result) and replaced[0][0] != replaced[0][1]


def test_a_failing_fresh_folder_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "a/b/out"

    def fail(folder: Path) -> None:
        (folder / "half.txt").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        fresh_folder(out, fail)
    assert not (tmp_path / "a").exists()  # nor the parent folders it created
    out.mkdir(parents=True)
    (out / "keep.txt").write_text("old")
    with pytest.raises(RuntimeError):
        fresh_folder(out, fail, overwrite=True)
    with pytest.raises(RuntimeError):
        fresh_folder(out, fail, merge=True)
    assert os.listdir(out) == ["keep.txt"] and os.listdir(out.parent) == ["out"]  # the old folder, untouched


def test_a_merged_fresh_folder_keeps_other_files(tmp_path: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    (out / "report.md").write_text("old")
    fresh_folder(out, lambda f: (f / "report.md").write_text("new"), merge=True)
    assert sorted(os.listdir(tmp_path)) == ["report"]
    assert (out / "report.md").read_text() == "new" and (out / "keep.txt").read_text() == "mine"


def test_a_failing_arch_stage_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pruning_lightning.formats.artifact as artifact

    data, arch = str(ROOT / "configs/data/synthetic.yaml"), str(EXPERIMENTS / "tiny/arch_vgg11_tiny.yaml")
    out = tmp_path / "run/seed0/small/prune"
    argv = ["arch", "--reference", data, arch, "--preset", arch, "--base_epochs", "2", "--out", str(out)]
    main(argv)  # the stage works
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    half: list[list[str]] = []  # what the hidden sibling held when the write failed

    def full(*a: Any, **k: Any) -> str:
        half.extend(sorted(os.listdir(p)) for p in out.parent.parent.glob("*/.prune.*"))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(artifact.yaml, "safe_dump", full)  # fails after pruned.pt was written
    with pytest.raises(SystemExit):
        main([*argv, "--overwrite", "true"])
    assert half == [["pruned.pt"]]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the finished artifact, untouched
    assert os.listdir(out.parent) == ["prune"]  # no hidden half-written sibling
    with pytest.raises(SystemExit):
        main([*argv[:-1], str(tmp_path / "new/seed0/small/prune")])
    assert not (tmp_path / "new").exists()
    assert "No space left" in capsys.readouterr().err


def test_a_failing_zoo_import_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    from pruning_lightning.stages import zoo

    monkeypatch.setattr(zoo, "zoo_network", lambda spec, weights: (spec, torch.nn.Linear(2, 2), "test weights"))
    monkeypatch.setattr(zoo, "zoo_checkpoint", lambda arch, net, source: {"state_dict": net.state_dict()})

    def full(obj: Any, path: Path) -> None:
        Path(path).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zoo.torch, "save", full)
    out = tmp_path / "run/seed0/large/checkpoints/last.ckpt"
    with pytest.raises(SystemExit):
        main(["zoo", "--arch", str(ROOT / "configs/arch/imagenet/resnet34.yaml"), "--out", str(out)])
    assert "nothing was written" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_output_guard_is_handed_to_the_stage_it_guards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fit failing before its first checkpoint is undone by the guard passed to run_stage (no module global)."""
    import shutil

    from pruning_lightning.modules.base import ClassificationModule
    from pruning_lightning.stages import run_stage
    from pruning_lightning.training import cli_guard
    from tests.bad_inputs_helpers import FIT

    def killed(self: Any, batch: Any, batch_idx: int) -> None:
        raise RuntimeError("killed")

    monkeypatch.setattr(ClassificationModule, "training_step", killed)
    argv = [*FIT, "--trainer.default_root_dir", str(tmp_path / "stage")]
    with pytest.raises(RuntimeError, match="killed"):
        run_stage(argv)  # no guard: what the run wrote stays
    assert (tmp_path / "stage/config.yaml").is_file() and not StageDir(tmp_path / "stage").checkpoint_files()
    shutil.rmtree(tmp_path / "stage")
    with pytest.raises(RuntimeError, match="killed"), cli_guard.guarded_outputs() as guard:
        run_stage(argv, guard=guard)
    assert not (tmp_path / "stage").exists() and not hasattr(cli_guard, "_GUARD")
