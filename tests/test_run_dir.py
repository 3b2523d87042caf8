"""One owner of the run folder (issue 23 §3): ``formats/run_dir.py`` lays out the stage folders and owns the
``experiment.json`` record; one-step stages write a fresh folder and rename it on success; a fit resumes in
place and its finished marker is atomic."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from typing import Any

import pytest

import pruning_lightning
from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.fresh import fresh_folder, write_json
from pruning_lightning.formats.run_dir import RunDir, StageDir
from pruning_lightning.main import main
from pruning_lightning.pipeline import load_experiment, parse_experiment, plan
from pruning_lightning.pipeline.schema import Experiment

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(pruning_lightning.__file__).resolve().parent
EXPERIMENTS = ROOT / "configs/experiments"


def _old_layout(exp: Experiment) -> dict[str, Path]:
    """Stage key -> folder, computed as ``pipeline/plan.py`` did before the run folder had one owner."""
    out: dict[str, Path] = {}
    for seed in exp.seeds:
        sd = exp.root / f"seed{seed}"
        if exp.large is not None:
            out[f"seed{seed}/large"] = sd / "large"
        own: list[Any] = []
        for m in exp.methods:
            if m.large is not None and m.large not in own:
                own.append(m.large)
                out[f"seed{seed}/{m.name}/large"] = sd / m.name / "large"
            out[f"seed{seed}/{m.name}/prune"] = sd / m.name / "prune"
            for r in m.regimes if m.regimes is not None else tuple(exp.regimes):
                out[f"seed{seed}/{m.name}/{r}"] = sd / m.name / r
    return out


@pytest.mark.parametrize(
    "name",
    [
        "study_cifar10_vgg16w8_lottery.yaml",  # methods with their own (shared) large model
        "demo_digits_slimming.yaml",
        "study_cifar10_vgg19w8.yaml",  # guided methods
        "imagenet_resnet34_l1.yaml",  # a zoo large stage
        "imagenet_resnet50_sss.yaml",  # preset methods
    ],
)
def test_the_layout_is_the_one_plan_computed_before(name: str) -> None:
    exp = load_experiment(EXPERIMENTS / name)
    stages = plan(exp)
    assert {st.key: st.dir for st in stages} == _old_layout(exp)
    by_key = {st.key: st for st in stages}
    for st in stages:
        args = dict(zip(st.args, [*st.args[1:], ""], strict=True))
        if st.kind == "fit":
            assert args["--trainer.default_root_dir"] == str(st.dir)
            assert args["--checkpoint.dirpath"] == str(st.dir / "checkpoints") == str(st.folder.checkpoints)
        elif st.kind == "zoo":
            assert args["--out"] == str(st.dir / "checkpoints" / "last.ckpt") == str(st.ckpt)
        else:
            assert args["--out"] == str(st.dir)
        if st.kind == "prune":
            assert args["--ckpt"] == str(by_key[st.deps[0]].dir / "checkpoints/last.ckpt")
        assert st.marker == st.dir / "result.json"


def test_the_layout_of_two_real_experiments_spelt_out() -> None:
    demo = load_experiment(EXPERIMENTS / "demo_digits_slimming.yaml")
    assert [str(st.dir.relative_to(demo.root)) for st in plan(demo)] == [
        "seed0/large",
        "seed0/slimming_50/prune",
        *[f"seed0/slimming_50/{r}" for r in ("finetune", "finetune_kd", "scratch_e", "scratch_b")],
    ]
    lottery = load_experiment(EXPERIMENTS / "study_cifar10_vgg16w8_lottery.yaml")
    seed0 = [str(st.dir.relative_to(lottery.root)) for st in plan(lottery) if st.seed == 0]
    assert seed0 == [
        "seed0/large",
        *[f"seed0/{m}/{s}" for m in ("magnitude_80", "l1_norm_a") for s in ("prune", "winning", "random")],
        "seed0/magnitude_80_lr0.01/large",  # the first method with that own large model trains it
        *[f"seed0/magnitude_80_lr0.01/{s}" for s in ("prune", "winning_lr0.01", "random_lr0.01")],
        *[f"seed0/l1_norm_a_lr0.01/{s}" for s in ("prune", "winning_lr0.01", "random_lr0.01")],
    ]
    assert RunDir(lottery.root).stage(3, None, "large").path == lottery.root / "seed3/large"


def test_a_stage_folder_names_its_files(tmp_path: Path) -> None:
    st = StageDir(tmp_path / "s")
    assert (st.checkpoints, st.last_ckpt, st.best_ckpt) == (
        tmp_path / "s/checkpoints",
        tmp_path / "s/checkpoints/last.ckpt",
        tmp_path / "s/checkpoints/best.ckpt",
    )
    assert (st.config, st.metrics, st.result) == tuple(
        tmp_path / "s" / n for n in ("config.yaml", "metrics.csv", "result.json")
    )
    assert StageDir.of_checkpoint(st.last_ckpt).path == st.path.resolve()
    assert StageDir.of_checkpoint(tmp_path / "x.ckpt").path == tmp_path.resolve()
    assert not st.resumable() and st.result_problem([]) == "no result.json"
    st.last_ckpt.parent.mkdir(parents=True)
    st.last_ckpt.write_bytes(b"x")
    assert st.resumable() and list(st.checkpoint_files()) == [st.last_ckpt]
    st.write_result({"seed": 0})
    assert st.result_problem([st.last_ckpt]) is None
    assert "['best.ckpt'] are missing" in str(st.result_problem([st.best_ckpt]))


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


def _module_sources() -> dict[str, ast.Module]:
    return {str(p.relative_to(PACKAGE)): ast.parse(p.read_text()) for p in sorted(PACKAGE.rglob("*.py"))}


def _code_strings(tree: ast.Module) -> list[str]:
    """String constants of the code (docstrings left out: they may describe the layout)."""
    docs = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and n.body
        and isinstance(n.body[0], ast.Expr)
    }
    return [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
    ]


def test_only_the_run_dir_module_reads_or_writes_the_record() -> None:
    sources = _module_sources()
    naming = sorted(m for m, tree in sources.items() if any("experiment.json" in s for s in _code_strings(tree)))
    assert naming == ["formats/run_dir.py"]
    checking = sorted(
        m
        for m, tree in sources.items()
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "same_as"
    )
    assert set(checking) == {"formats/run_dir.py"}  # the record is checked against an experiment in one place


def test_the_record_refuses_another_experiment(tmp_path: Path) -> None:
    doc = {**_tiny(), "run_dir": str(tmp_path / "run")}
    exp, other = parse_experiment(doc), parse_experiment({**doc, "seeds": [5]})
    run = RunDir(exp.root)
    assert run.holds(exp) is None
    run.check(exp)
    assert run.holds(exp) is True and run.holds(other) is False and run.read_record()["digest"] == exp.digest()
    with pytest.raises(PruningError, match="belongs to experiment"):
        run.check(other)
    assert not run.release_unstarted(exp)  # its own record stays
    assert run.release_unstarted(other) and run.holds(other) is None  # nothing started: the record is released
    run.check(exp)
    write_json(run.stage(0, None, "large").result, {"seed": 0})
    assert run.started() and not run.release_unstarted(other)  # work was done there: kept


def _tiny() -> dict[str, Any]:
    import yaml

    return yaml.safe_load((EXPERIMENTS / "tiny_slimming.yaml").read_text())
