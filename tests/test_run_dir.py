"""One owner of the run folder (issue 23 §3): ``formats/run_dir.py`` lays out the stage folders and owns the
``experiment.json`` record (how a folder appears: ``tests/test_fresh_outputs.py``)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

import pruning_lightning
from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.fresh import write_json
from pruning_lightning.formats.run_dir import RunDir, StageDir
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
