"""Bad inputs through the real entry point (issue 11): exit 2, one ``error:`` line (+ one ``hint:``),
no traceback, the working folder unchanged, and no code run from a data or torch file.

Each case builds its inputs inside the test's working folder (the cwd, so stray ``lightning_logs`` or
``config.yaml`` would be seen), then :func:`error_of` snapshots it, runs ``main`` and compares.
docs/errors.md lists the classes of bad input, their messages and these cases.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from tests.bad_inputs_helpers import (
    CONFIGS,
    FIT,
    LARGE,
    P50,
    SYN,
    TINY,
    TRAIN,
    Payload,
    cifar_args,
    error_of,
    exp_file,
    fake_cifar,
    make_res,
    put,
    truncated,
)


@pytest.fixture(scope="module")
def res(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_res(tmp_path_factory.mktemp("res"))  # outside the snapshotted folder


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def evil(w: Path, name: str = "evil.ckpt") -> str:
    """A torch file whose unpickling would create ``w/PWNED``."""
    torch.save({"state_dict": Payload(w / "PWNED"), "format": "pruning-lightning/pruned-v1"}, w / name)
    return str(w / name)


def cifar_with(w: Path, name: str, data: bytes, verify: bool = False) -> list[str]:
    folder = fake_cifar(w / "c")
    (folder / name).write_bytes(data)
    return cifar_args(w / "c", verify)


def run_record(w: Path, experiment: str | None, result: str | None = None) -> str:
    (w / "run").mkdir()
    if experiment is not None:
        put(w, "run/experiment.json", experiment)
    if result is not None:
        put(w, "run/seed0/large/result.json", result)
    return str(w / "run")


def cifar_exp(w: Path) -> str:
    """The tiny experiment on CIFAR-10 (download off): its data folder comes from ``--data_dir``."""
    init = {"name": "cifar10", "download": False, "num_workers": 0, "batch_size": 4, "eval_batch_size": 4}
    data = {"class_path": "pruning_lightning.data.CIFARDataModule", "init_args": init}
    put(w, "c10.yaml", json.dumps({"data": data}))
    return exp_file(w, data=str(w / "c10.yaml"))


# A "billion laughs": nine levels of ten aliases each expand to 10**9 strings from 300 bytes of YAML.
BOMB = "l0: &l0 [" + ", ".join(["x"] * 10) + "]\n"
BOMB += "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n" for i in range(1, 10))
GOOD_REC = json.dumps({"name": "x", "digest": "0", "experiment": {"name": "x", "methods": [], "regimes": {}}})
PR = ["prune", "-c", P50]
Case = Callable[[dict[str, str], Path], tuple[list[str], tuple[str, ...]]]
CASES: dict[str, Case] = {
    # fit / validate / test: values, flags, classes, config files
    "fit-batch-size-0": lambda r, w: ([*FIT, "--data.init_args.batch_size", "0"], ("--data.init_args.batch_size",)),
    "fit-eval-batch-neg": lambda r, w: ([*FIT, "--data.init_args.eval_batch_size", "-4"], ("eval_batch_size",)),
    "fit-lr-negative": lambda r, w: ([*FIT, "--model.init_args.lr", "-1"], ("--model.init_args.lr",)),
    "fit-lr-zero": lambda r, w: ([*FIT, "--model.init_args.lr", "0"], ("--model.init_args.lr",)),
    "fit-lr-text": lambda r, w: ([*FIT, "--model.init_args.lr", "abc"], ("model.init_args.lr", "abc")),
    "fit-momentum-1.5": lambda r, w: ([*FIT, "--model.init_args.momentum", "1.5"], ("momentum",)),
    "fit-weight-decay-neg": lambda r, w: ([*FIT, "--model.init_args.weight_decay=-1e-4"], ("weight_decay",)),
    "fit-max-epochs-0": lambda r, w: ([*FIT, "--trainer.max_epochs", "0"], ("--trainer.max_epochs",)),
    "fit-max-epochs-text": lambda r, w: ([*FIT, "--trainer.max_epochs", "ten"], ("max_epochs",)),
    "fit-precision": lambda r, w: ([*FIT, "--trainer.precision", "17"], ("precision",)),
    "fit-unknown-flag": lambda r, w: ([*FIT, "--trainer.bogus_flag", "1"], ("bogus_flag",)),
    "fit-unknown-model-class": lambda r, w: ([*FIT, "--model", "pruning_lightning.modules.Nope"], ("Nope",)),
    "fit-unknown-data-class": lambda r, w: ([*FIT, "--data", "nowhere.Data"], ("nowhere",)),
    "fit-no-arch": lambda r, w: (["fit", "-c", SYN, "-c", LARGE, *TRAIN], ("arch",)),
    "fit-unknown-family": lambda r, w: ([*FIT, "--model.init_args.arch.family", "alexnet"], ("alexnet",)),
    "fit-num-classes-0": lambda r, w: ([*FIT, "--data.init_args.num_classes", "0"], ("num_classes",)),
    "fit-seed-text": lambda r, w: ([*FIT, "--seed_everything", "abc"], ("seed_everything",)),
    "fit-config-missing": lambda r, w: ([*FIT, "-c", "nope.yaml"], ("config file not found: nope.yaml",)),
    "fit-config-folder": lambda r, w: ([*FIT, "-c", str(w)], ("config file not found",)),
    "fit-config-no-value": lambda r, w: ([*FIT, "-c"], ("-c needs a value",)),
    "fit-config-yaml-error": lambda r, w: ([*FIT, "-c", put(w, "b.yaml", "data:\n  x: [1,\n")], ("b.yaml", "line")),
    "fit-config-tab-yaml": lambda r, w: ([*FIT, "-c", put(w, "t.yaml", "model:\n\tlr: 1\n")], ("t.yaml",)),
    "fit-config-list": lambda r, w: ([*FIT, "-c", put(w, "l.yaml", "- a\n- b\n")], ("l.yaml", "mapping")),
    "fit-config-binary": lambda r, w: ([*FIT, "-c", put(w, "x.yaml", b"\xff\xfe\x00bin")], ("x.yaml",)),
    "fit-config-unknown-key": lambda r, w: ([*FIT, "-c", put(w, "u.yaml", "modle: {}\n")], ("u.yaml", "modle")),
    "fit-config-bad-value": lambda r, w: (
        [*FIT, "-c", put(w, "v.yaml", "model:\n  init_args:\n    lr: fast\n")],
        ("lr", "fast"),
    ),
    "fit-init-from-missing": lambda r, w: (
        [
            *FIT,
            "--model",
            "pruning_lightning.modules.FineTuneModule",
            "--model.init_args.weights_from",
            "gone/pruned.pt",
        ],
        ("gone/pruned.pt",),
    ),
    "fit-init-from-malicious": lambda r, w: (
        [*FIT, "-c", str(CONFIGS / "regime/finetune.yaml"), "--model.init_args.weights_from", evil(w, "pruned.pt")],
        ("pruned.pt", "unreadable"),
    ),
    "fit-structure-from-truncated": lambda r, w: (
        [*FIT, "-c", str(CONFIGS / "regime/scratch_e.yaml"), "--model.init_args.structure_from", truncated(r, w)],
        ("trunc.ckpt", "truncated"),
    ),
    "fit-teacher-malicious": lambda r, w: (
        [*FIT, "-c", str(CONFIGS / "regime/finetune_kd.yaml"), "--model.init_args.weights_from", r["art"]]
        + ["-c", str(Path(r["art"]) / "arch.yaml"), "--model.init_args.teacher", evil(w)],
        ("evil.ckpt",),
    ),
    "fit-init-pt-malicious": lambda r, w: (
        [*FIT, "-c", str(CONFIGS / "regime/lottery_winning.yaml"), "-c", str(Path(r["masked"]) / "arch.yaml")]
        + ["--model.init_args.structure_from", r["masked"], "--model.init_args.init_from", evil(w, "init.pt")],
        ("init.pt",),
    ),
    "test-ckpt-no-value": lambda r, w: (["test", "-c", SYN, "--ckpt_path"], ("--ckpt_path needs a value",)),
    "validate-ckpt-empty": lambda r, w: (["validate", "-c", SYN, "--ckpt_path="], ("--ckpt_path needs a value",)),
    "test-ckpt-missing": lambda r, w: (["test", "-c", SYN, "--ckpt_path", "no.ckpt"], ("no.ckpt",)),
    "test-ckpt-truncated": lambda r, w: (["test", "-c", SYN, "--ckpt_path", truncated(r, w)], ("truncated",)),
    "test-ckpt-malicious": lambda r, w: (["test", "-c", SYN, "--ckpt_path", evil(w)], ("evil.ckpt",)),
    "test-ckpt-foreign": lambda r, w: (
        ["test", "-c", SYN, "--ckpt_path", (torch.save({"a": 1}, w / "f.ckpt"), str(w / "f.ckpt"))[1]],
        ("f.ckpt", "not a pruning-lightning checkpoint"),
    ),
    "unknown-command": lambda r, w: (["frobnicate"], ("unknown command 'frobnicate'",)),
    "no-command": lambda r, w: ([], ("give a command",)),
    "predict-removed": lambda r, w: (["predict", "-c", SYN], ("predict",)),
    # CIFAR data files
    "cifar-missing-download-off": lambda r, w: (cifar_args(w / "none"), ("download is off",)),
    "cifar-truncated-batch": lambda r, w: (cifar_with(w, "data_batch_2", b"\x80\x02}q\x00(U\x04data"), ("truncated",)),
    "cifar-garbage-batch": lambda r, w: (cifar_with(w, "data_batch_1", os.urandom(512)), ("data_batch_1",)),
    "cifar-malicious-batch": lambda r, w: (
        cifar_with(w, "data_batch_3", pickle.dumps({"data": Payload(w / "PWNED")}, protocol=2)),
        ("data_batch_3", "not plain data"),
    ),
    "cifar-malicious-meta": lambda r, w: (
        cifar_with(w, "batches.meta", pickle.dumps(Payload(w / "PWNED"))),
        ("batches.meta", "not plain data"),
    ),
    "cifar-malicious-checksums-on": lambda r, w: (
        cifar_with(w, "test_batch", pickle.dumps(Payload(w / "PWNED")), verify=True),
        ("checksum",),
    ),
    "cifar-wrong-structure": lambda r, w: (cifar_with(w, "test_batch", pickle.dumps([1, 2])), ("test_batch",)),
    "cifar-bad-name": lambda r, w: ([*cifar_args(w), "--data.init_args.name", "cifar1000"], ("cifar1000",)),
    "cifar-subset-0": lambda r, w: ([*cifar_args(w), "--data.init_args.subset", "0"], ("subset",)),
    # prune
    "prune-no-args": lambda r, w: (["prune"], ("required",)),
    "prune-ckpt-missing": lambda r, w: ([*PR, "--ckpt", "no.ckpt", "--out", "o"], ("checkpoint not found",)),
    "prune-ckpt-no-value": lambda r, w: ([*PR, "--out", "o", "--ckpt"], ("--ckpt needs a value",)),
    "prune-ckpt-malicious": lambda r, w: ([*PR, "--ckpt", evil(w), "--out", "o"], ("evil.ckpt",)),
    "prune-out-below-file": lambda r, w: ([*PR, "--ckpt", r["ckpt"], "--out", put(w, "f", "x") + "/o"], ("a file",)),
    "prune-out-is-file": lambda r, w: ([*PR, "--ckpt", r["ckpt"], "--out", put(w, "f", "x")], ("existing file",)),
    "prune-out-exists": lambda r, w: (
        [*PR, "--ckpt", r["ckpt"], "--out", put(w, "o/keep.txt", "mine").rsplit("/", 1)[0]],
        ("already exists",),
    ),
    "prune-ratio-1.5": lambda r, w: ([*PR, "--pruner.init_args.ratio", "1.5", "--ckpt", r["ckpt"], "--out", "o"], ()),
    "prune-base-epochs-0": lambda r, w: ([*PR, "--base_epochs", "0", "--ckpt", r["ckpt"], "--out", "o"], ("base",)),
    "prune-max-ratio-0.5": lambda r, w: ([*PR, "--max_ratio", "0.5", "--ckpt", r["ckpt"], "--out", "o"], ("max_",)),
    "prune-unknown-pruner": lambda r, w: ([*PR, "--pruner", "a.B", "--ckpt", r["ckpt"], "--out", "o"], ("pruner",)),
    "prune-config-yaml": lambda r, w: (["prune", "-c", put(w, "p.yaml", "pruner: {")], ("p.yaml",)),
    # info
    "info-nothing": lambda r, w: (["info"], ("--config",)),
    "info-yaml-error": lambda r, w: (["info", "-c", put(w, "a.yaml", "model: [")], ("a.yaml",)),
    "info-arch-list": lambda r, w: (
        ["info", "-c", put(w, "a.yaml", "model: {init_args: {arch: [1, 2]}}")],
        ("a.yaml",),
    ),
    "info-arch-list-after-data": lambda r, w: (  # once a TypeError naming neither the file nor the key
        ["info", "-c", SYN, "-c", put(w, "a.yaml", "model: {init_args: {arch: [{family: vgg}]}}")],
        ("a.yaml", "model.init_args.arch", "must be a mapping"),
    ),
    "info-arch-unknown-key": lambda r, w: (
        ["info", "-c", put(w, "a.yaml", "model: {init_args: {arch: {family: vgg, depth: 11, widht: 2}}}")],
        ("widht",),
    ),
    "info-no-arch": lambda r, w: (["info", "-c", SYN], ("no model.init_args.arch",)),
    "info-classes-claim": lambda r, w: (
        ["info", "-c", str(CONFIGS / "arch/cifar/presets/vgg16_a.yaml"), "--num_classes", "100"],
        ("vgg16_a.yaml", "10-class", "num_classes declares 100 classes"),
    ),
    "info-preset-classes": lambda r, w: (
        ["info", "-c", str(CONFIGS / "data/cifar100.yaml"), "-c", str(CONFIGS / "arch/cifar/presets/vgg16_a.yaml")],
        ("vgg16_a.yaml", "10-class", "100 classes"),
    ),
    "info-config-missing": lambda r, w: (["info", "-c", "gone.yaml"], ("gone.yaml",)),
    "info-runs-0": lambda r, w: (["info", "-c", TINY, "--runs", "0"], ("--runs",)),
    "info-runs-text": lambda r, w: (["info", "-c", TINY, "--runs", "x"], ("--runs",)),
    "info-artifact-missing": lambda r, w: (["info", "--artifact", "gone"], ("gone",)),
    "info-artifact-malicious": lambda r, w: (["info", "--artifact", evil(w, "pruned.pt")], ("pruned.pt",)),
    "info-ckpt-malicious": lambda r, w: (["info", "--ckpt", evil(w)], ("evil.ckpt",)),
    "info-unknown-flag": lambda r, w: (["info", "--bogus"], ("--bogus",)),
    # pipeline
    "pipeline-no-file": lambda r, w: (["pipeline"], ("experiment YAML",)),
    "pipeline-missing": lambda r, w: (["pipeline", "gone.yaml"], ("gone.yaml",)),
    "pipeline-yaml-error": lambda r, w: (["pipeline", put(w, "e.yaml", "name: [")], ("e.yaml", "line")),
    "pipeline-not-mapping": lambda r, w: (["pipeline", put(w, "e.yaml", "- 1")], ("e.yaml", "mapping")),
    "pipeline-seeds-3": lambda r, w: (["pipeline", exp_file(w, seeds=3)], ("seeds", "exp.yaml")),
    "pipeline-seeds-text": lambda r, w: (["pipeline", exp_file(w, seeds=["a", "b"])], ("seeds",)),
    "pipeline-seeds-duplicate": lambda r, w: (["pipeline", exp_file(w, seeds=[0, 0])], ("seeds",)),
    "pipeline-unknown-key": lambda r, w: (["pipeline", exp_file(w, sedes=[0])], ("sedes",)),
    "pipeline-base-epochs-text": lambda r, w: (["pipeline", exp_file(w, base_epochs="ten")], ("base_epochs",)),
    "pipeline-no-methods": lambda r, w: (["pipeline", exp_file(w, methods=[])], ("methods",)),
    "pipeline-prune-typo": lambda r, w: (
        ["pipeline", exp_file(w, methods=[{"name": "s", "prune": "configs/prune/slimming_5O.yaml"}])],
        ("slimming_5O.yaml",),
    ),
    "pipeline-prune-ratio": lambda r, w: (
        ["pipeline", exp_file(w, methods=[{"name": "s", "prune": P50, "args": {"pruner.init_args.ratio": 2}}])],
        ("seed0/s/prune", "ratio"),
    ),
    "pipeline-bad-lr": lambda r, w: (["pipeline", exp_file(w, args={"model.init_args.lr": "x"})], ("seed0/large",)),
    "pipeline-bad-trainer-key": lambda r, w: (["pipeline", exp_file(w, trainer={"max_epochz": 2})], ("max_epochz",)),
    "pipeline-regime-lr": lambda r, w: (
        ["pipeline", exp_file(w, regimes={"finetune": {"args": {"model.init_args.lr": -1}}})],
        ("finetune", "lr"),
    ),
    "pipeline-unknown-regime": lambda r, w: (["pipeline", exp_file(w, regimes=["finetuned"])], ("finetuned",)),
    "pipeline-only-unknown": lambda r, w: (["pipeline", exp_file(w), "--only", "seed9/large"], ("seed9/large",)),
    "pipeline-bad-step": lambda r, w: (["pipeline", exp_file(w), "--step", "train"], ("--step",)),
    "pipeline-run-dir-is-file": lambda r, w: (["pipeline", exp_file(w), "--run_dir", put(w, "f", "x")], ("run_dir",)),
    "pipeline-data-dir-missing": lambda r, w: (["pipeline", cifar_exp(w), "--data_dir", str(w / "none")], ("none",)),
    "pipeline-data-dir-is-file": lambda r, w: (["pipeline", cifar_exp(w), "--data_dir", put(w, "f", "x")], ("f",)),
    "pipeline-data-dir-not-cifar": lambda r, w: (
        ["pipeline", cifar_exp(w), "--data_dir", put(w, "d/cifar-10-batches-py/data_batch_1", "x").rsplit("/", 2)[0]],
        ("missing or fails its checksum",),
    ),
    "fit-config-alias-bomb": lambda r, w: ([*FIT, "-c", put(w, "bomb.yaml", BOMB)], ("bomb.yaml", "aliases")),
    "pipeline-alias-bomb": lambda r, w: (["pipeline", put(w, "e.yaml", BOMB)], ("e.yaml", "aliases")),
    "pipeline-regime-epochs-neg": lambda r, w: (
        ["pipeline", exp_file(w, regimes={"finetune": {"epochs": -1}})],
        ("regimes.finetune.epochs", "-1"),
    ),
    "pipeline-base-epochs-huge": lambda r, w: (["pipeline", exp_file(w, base_epochs=10**9)], ("base_epochs",)),
    "fit-max-epochs-1e20": lambda r, w: ([*FIT, "--trainer.max_epochs", "1e20"], ("--trainer.max_epochs",)),
    "prune-base-epochs-1e30": lambda r, w: (
        [*PR, "--base_epochs", "1e30", "--ckpt", r["ckpt"], "--out", "o"],
        ("--base_epochs",),
    ),
    "fit-flag-abbreviation": lambda r, w: ([*FIT, "--trainer.max_epoch", "3"], ("--trainer.max_epoch",)),
    "pipeline-flag-abbreviation": lambda r, w: (["pipeline", exp_file(w), "--stage"], ("--stage",)),
    "pipeline-args-abbreviation": lambda r, w: (
        ["pipeline", exp_file(w, args={"trainer.max_epoch": 3})],
        ("trainer.max_epoch",),
    ),
    # report
    "report-no-finished-stage": lambda r, w: (["report", run_record(w, GOOD_REC)], ("no finished stage",)),
    "report-missing": lambda r, w: (["report", "gone"], ("gone",)),
    "report-no-record": lambda r, w: (["report", run_record(w, None)], ("experiment.json",)),
    "report-corrupt-record": lambda r, w: (["report", run_record(w, '{"name": ')], ("experiment.json", "corrupt")),
    "report-wrong-record": lambda r, w: (["report", run_record(w, "[1]")], ("experiment.json",)),
    "report-corrupt-result": lambda r, w: (["report", run_record(w, GOOD_REC, "{")], ("result.json",)),
    "report-out-is-file": lambda r, w: (["report", run_record(w, GOOD_REC), "--out", put(w, "f", "x")], ("--out",)),
    # demo
    "demo-epochs-0": lambda r, w: (["demo", "--out", "d", "--large_epochs", "0"], ("--large_epochs",)),
    "demo-out-is-file": lambda r, w: (["demo", "--out", put(w, "f", "x")], ("--out",)),
    "demo-seed-text": lambda r, w: (["demo", "--seed", "x"], ("--seed",)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name: str, res: dict[str, str], work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv, needles = CASES[name](res, work)
    error_of(capsys, argv, work, *needles)
    assert not (work / "PWNED").exists()


def test_enough_distinct_cases() -> None:
    assert len(CASES) >= 60
