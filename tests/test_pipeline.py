"""Pipeline: experiment schema, planning, dry run, idempotent/resumable runs, bad input, kill + resume."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from pruning_lightning.core.errors import PruningError
from pruning_lightning.main import main
from pruning_lightning.pipeline import parse_experiment, plan
from pruning_lightning.pipeline.preflight import referenced_files
from pruning_lightning.pipeline.runner import run
from tests.helpers import assert_same_state, load_ckpt

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs/experiments/tiny_slimming.yaml"


def tiny(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    doc = yaml.safe_load(TINY.read_text())
    doc["run_dir"] = str(tmp_path / "run")
    doc.update(changes)
    return doc


def write(tmp_path: Path, doc: dict[str, Any], name: str = "exp.yaml") -> str:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(p)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"epochz": 3}, "unknown key(s) ['epochz']"),
        ({"large": {"configs": ["x.yaml"], "epoch": 2}}, "unknown key(s) ['epoch'] in large"),
        ({"methods": [{"name": "m", "prune": "p.yaml", "ratio": 0.5}]}, "unknown key(s) ['ratio'] in methods[0]"),
        ({"regimes": {"finetune": {"epochs": 1, "lr": 3}}}, "unknown key(s) ['lr'] in regimes.finetune"),
        ({"regimes": ["finetune_kd"]}, "regime 'finetune_kd' is not built in"),
        ({"methods": [{"name": "m", "prune": "p.yaml", "preset": "a.yaml"}]}, "exactly one of prune, preset"),
        ({"seeds": [1, 1]}, "distinct"),
        ({"source": "x.yaml"}, "unknown key(s) ['source']"),
        ({"regimes": {"kd": "x"}}, "regimes.kd must be a mapping"),
        (
            {"regimes": {"kd": {"configs": ["configs/regime/finetune.yaml"], "args": [1]}}},
            "regimes.kd.args must be a mapping",
        ),
    ],
)
def test_schema_rejects_bad_experiments(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    with pytest.raises(PruningError, match=re.escape(message)):
        parse_experiment(tiny(tmp_path, **change))


def test_a_custom_regime_needs_no_args(tmp_path: Path) -> None:
    exp = parse_experiment(tiny(tmp_path, regimes={"kd": {"configs": ["configs/regime/finetune.yaml"]}}))
    assert exp.regimes["kd"].args == {} and exp.regimes["kd"].configs == ("configs/regime/finetune.yaml",)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"large": None}, "need the large stage"),
        (
            {"methods": [{"name": "p", "preset": "configs/arch/cifar/vgg11.yaml"}], "regimes": ["finetune"]},
            "inherits trained weights",
        ),
        (
            {
                "regimes": {
                    "kd": {
                        "configs": ["configs/regime/finetune_kd.yaml", "{artifact}/arch.yaml"],
                        "args": {"model.init_args.teacher": "{large}/checkpoints/last.ckpt"},
                    }
                },
                "large": None,
                "methods": [{"name": "p", "preset": "configs/arch/cifar/vgg11.yaml"}],
            },
            "uses {large} but the experiment has no large stage",
        ),
        ({"methods": [{"name": "g", "guided_from": "nope"}]}, "has no method 'nope'"),
        (
            {"methods": [{"name": "m", "prune": "configs/prune/slimming_50.yaml", "regimes": ["scratch_x"]}]},
            "not in regimes",
        ),
    ],
)
def test_plan_rejects_missing_dependencies(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    with pytest.raises(PruningError, match=re.escape(message)):
        plan(parse_experiment(tiny(tmp_path, **change)))


def test_plan_order_and_dependencies(tmp_path: Path) -> None:
    stages = plan(parse_experiment(tiny(tmp_path)))
    keys = [s.key for s in stages]
    assert keys[:5] == [
        "seed0/large",
        "seed0/slimming_50/prune",
        "seed0/slimming_50/finetune",
        "seed0/slimming_50/scratch_e",
        "seed0/slimming_50/scratch_b",
    ]
    assert len(keys) == 10
    pos = {k: i for i, k in enumerate(keys)}
    for st in stages:
        assert all(pos[d] < pos[st.key] for d in st.deps), st.key
    by = {s.key: s for s in stages}
    assert by["seed1/slimming_50/scratch_b"].deps == ("seed1/slimming_50/prune",)
    # Scratch-E gets the large budget, Scratch-B none (it reads scratch_b.yaml), fine-tune its override.
    args = {k: by[f"seed0/slimming_50/{k}"].args for k in ("finetune", "scratch_e", "scratch_b")}
    assert args["scratch_e"][args["scratch_e"].index("--trainer.max_epochs") + 1] == "2"
    assert args["finetune"][args["finetune"].index("--trainer.max_epochs") + 1] == "1"
    assert "--trainer.max_epochs" not in args["scratch_b"]
    assert any(a.endswith("seed0/slimming_50/prune/scratch_b.yaml") for a in args["scratch_b"])


def test_methods_with_the_same_own_large_share_one_large_stage(tmp_path: Path) -> None:
    own = {"configs": ["configs/regime/large.yaml"], "epochs": 3}
    other = {"configs": ["configs/regime/large.yaml"], "epochs": 4}
    methods = [
        {"name": "a", "prune": "configs/prune/slimming_50.yaml", "large": own},
        {"name": "b", "prune": "configs/prune/slimming_50.yaml", "large": dict(own)},
        {"name": "c", "prune": "configs/prune/slimming_50.yaml", "large": other},
    ]
    stages = plan(parse_experiment(tiny(tmp_path, seeds=[0], methods=methods)))
    by = {s.key: s for s in stages}
    assert [k for k in by if k.endswith("/large")] == ["seed0/large", "seed0/a/large", "seed0/c/large"]
    # b is pruned from a's large model (one training, not two identical ones); c's differs, so it has its own.
    assert by["seed0/b/prune"].deps == ("seed0/a/large",)
    assert by["seed0/c/prune"].deps == ("seed0/c/large",)
    ckpt = by["seed0/b/prune"].args[by["seed0/b/prune"].args.index("--ckpt") + 1]
    assert ckpt == str(by["seed0/a/large"].ckpt)


def test_dry_run_prints_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["pipeline", write(tmp_path, tiny(tmp_path)), "--dry-run"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 * 3 * 4 + 2  # per seed: 4 fit stages x (fit + test last + test best) + 1 prune
    assert lines[0].startswith("pruning-lightning fit --seed_everything 0 --config ")
    assert lines[1].startswith("pruning-lightning test --config ") and "--trainer.devices 1" in lines[1]
    assert "checkpoints/last.ckpt" in lines[1] and "checkpoints/best.ckpt" in lines[2]
    assert lines[3].startswith("pruning-lightning prune --config ") and "large/checkpoints/last.ckpt" in lines[3]
    assert not (tmp_path / "run").exists()  # a dry run writes nothing


def _mtimes(root: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file() and "report" not in p.parts}


def test_run_is_idempotent_and_guards_its_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tiny(tmp_path, seeds=[3])
    path = write(tmp_path, doc)
    main(["pipeline", path])
    root = tmp_path / "run"
    results = sorted(root.glob("seed3/**/result.json"))
    assert len(results) == 5
    large = json.loads((root / "seed3/large/result.json").read_text())
    assert 0 <= large["test_acc1"] <= 100 and large["epochs"] == 2 and "test/acc1" in large["metrics"]
    saved = yaml.safe_load((root / "seed3/slimming_50/finetune/config.yaml").read_text())
    assert saved["seed_everything"] == 3 and saved["trainer"]["max_epochs"] == 1
    before = _mtimes(root)
    capsys.readouterr()
    main(["pipeline", path])  # finished: trains nothing, touches nothing
    assert _mtimes(root) == before
    assert capsys.readouterr().out.count("done, skipped") == 5

    # Another experiment in the same run directory is refused.
    other = write(tmp_path, {**doc, "seeds": [4]}, "other.yaml")
    with pytest.raises(SystemExit) as e:
        main(["pipeline", other])
    assert e.value.code == 2
    assert "belongs to experiment" in capsys.readouterr().err

    # A corrupt result.json is not "finished": the stage runs again (its fit resumes: nothing more to train).
    ft = root / "seed3/slimming_50/finetune/result.json"
    acc = json.loads(ft.read_text())["test_acc1"]
    ft.write_text("{")
    # A kill while writing the prune artifact leaves a temporary folder: the re-run of that stage removes it.
    (root / "seed3/slimming_50/.prune.k1ll3d").mkdir()
    (root / "seed3/slimming_50/prune/result.json").unlink()
    capsys.readouterr()
    main(["pipeline", path])
    out = capsys.readouterr().out
    assert "finetune: " in out and "is corrupt (JSONDecodeError); running the stage again" in out
    assert out.count("done, skipped") == 3 and json.loads(ft.read_text())["test_acc1"] == acc
    assert not list((root / "seed3/slimming_50").glob(".prune.*"))

    # The identity of an experiment is its content: the run folder moved elsewhere is still this experiment.
    shutil.copytree(root, tmp_path / "moved")
    before = _mtimes(tmp_path / "moved")
    main(["pipeline", path, "--run_dir", str(tmp_path / "moved")])
    assert capsys.readouterr().out.count("done, skipped") == 5 and _mtimes(tmp_path / "moved") == before

    # A half-finished stage with a corrupt checkpoint: one clear error, nothing finished touched.
    (root / "seed3/slimming_50/scratch_e/result.json").unlink()
    (root / "seed3/slimming_50/scratch_e/checkpoints/last.ckpt").write_bytes(b"PK\x03\x04 truncated")
    before = _mtimes(root)
    with pytest.raises(PruningError, match="seed3/slimming_50/scratch_e: checkpoint .* is corrupt"):
        run(parse_experiment(doc), echo=lambda s: None)
    assert _mtimes(root) == before


def test_referenced_files_of_tiny_exist() -> None:
    exp = parse_experiment(yaml.safe_load(TINY.read_text()))
    assert all((ROOT / f).is_file() for f in referenced_files(exp))


def _pipeline(path: str, cwd: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "pruning_lightning", "pipeline", path],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_kill_and_resume_matches_uninterrupted(tmp_path: Path) -> None:
    # scratch_e is long enough (2 epochs x 40 batches) to be killed in its second epoch.
    changes = {"args": {"data.init_args.num_samples": 640}}
    doc = tiny(tmp_path, **changes)
    doc["regimes"]["scratch_e"] = {"args": {"trainer.limit_train_batches": 40}}
    ref_doc = {**doc, "run_dir": str(tmp_path / "ref")}
    run(parse_experiment(ref_doc), echo=lambda s: None)  # uninterrupted, in-process

    path = write(tmp_path, doc)
    root = tmp_path / "run"
    target = root / "seed0/slimming_50/scratch_e/checkpoints/last.ckpt"
    proc = _pipeline(path, ROOT)
    deadline = time.time() + 240
    while not target.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (root / "seed0/slimming_50/scratch_e/result.json").exists()
    finished = {p: p.stat().st_mtime_ns for p in root.glob("seed0/**/result.json")}
    assert sorted(p.parent.name for p in finished) == ["finetune", "large", "prune"], finished
    ckpts = {p: p.stat().st_mtime_ns for p in root.glob("seed0/*/checkpoints/last.ckpt")}

    rerun = _pipeline(path, ROOT)
    assert rerun.wait() == 0, rerun.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # finished stages not re-run
    assert {p: p.stat().st_mtime_ns for p in ckpts} == ckpts

    main(["report", str(root)])
    main(["report", str(tmp_path / "ref")])
    got = (root / "report/report.csv").read_text()
    want = (tmp_path / "ref/report/report.csv").read_text()
    assert got.splitlines()[0] == want.splitlines()[0] and len(got.splitlines()) == len(want.splitlines()) == 5
    # Deterministic CPU ops + (seed, epoch)-determined data: the resumed run is exact, tensor for tensor.
    assert got == want
    for stage in ("large", "slimming_50/finetune", "slimming_50/scratch_e", "slimming_50/scratch_b"):
        ckpt = f"seed0/{stage}/checkpoints/last.ckpt"
        assert_same_state(load_ckpt(root / ckpt), load_ckpt(tmp_path / "ref" / ckpt))


def test_a_second_pipeline_on_a_run_folder_is_refused_at_once(tmp_path: Path) -> None:
    """Two pipelines on one run folder: the second is refused at once, the first ends as it would alone."""
    doc = tiny(tmp_path, seeds=[0], regimes={"finetune": {"epochs": 1}})
    run(parse_experiment({**doc, "run_dir": str(tmp_path / "alone")}), echo=lambda s: None)
    path = write(tmp_path, doc)
    first = _pipeline(path, ROOT)
    deadline = time.time() + 240
    while not (tmp_path / "run/seed0/large/config.yaml").exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGSTOP)  # paused mid-stage (the tiny run would end before a second one starts)
    assert first.poll() is None, first.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
    t0 = time.time()
    second = _pipeline(path, ROOT)
    stderr = second.communicate()[1].decode()
    first.send_signal(signal.SIGCONT)
    err = [line for line in stderr.splitlines() if line.startswith("error: ")]  # Lightning logs "Seed set to 0"
    assert second.returncode == 2 and "Traceback" not in stderr, stderr
    assert len(err) == 1 and "is in use by another pipeline" in err[0], err
    assert time.time() - t0 < 120  # refused without waiting for the first
    assert first.wait() == 0, first.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
    for stage in ("large", "slimming_50/finetune"):
        ckpt = f"seed0/{stage}/checkpoints/last.ckpt"
        assert_same_state(load_ckpt(tmp_path / "run" / ckpt), load_ckpt(tmp_path / "alone" / ckpt))
        got, want = (json.loads((tmp_path / r / f"seed0/{stage}/result.json").read_text()) for r in ("run", "alone"))
        assert got["test_acc1"] == want["test_acc1"] and got["metrics"] == want["metrics"]
    assert not list((tmp_path / "run").rglob("*-v1.ckpt"))


EXPERIMENTS = sorted((ROOT / "configs/experiments").glob("*.yaml"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_every_experiment_config_plans_and_its_files_exist(path: Path) -> None:
    from pruning_lightning.pipeline import load_experiment
    from pruning_lightning.pipeline.reference import REFERENCE

    exp = load_experiment(path)
    assert plan(exp)
    missing = [f for f in referenced_files(exp) if not (ROOT / f).is_file()]
    assert not missing, f"{path.name} references missing files {missing}"
    assert all(key in REFERENCE for key in exp.paper.values()), exp.paper


def test_paper_tables_are_covered() -> None:
    """Every CIFAR row of Tables 1/4/6 and the ImageNet rows of 1-6 have an experiment."""
    from pruning_lightning.pipeline import load_experiment
    from pruning_lightning.pipeline.reference import REFERENCE

    covered = {k for p in EXPERIMENTS for k in load_experiment(p).paper.values()}
    assert covered == set(REFERENCE)
