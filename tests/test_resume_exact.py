"""Numbers you can trust: last means last, a SIGKILLed fit resumes bit-exactly, metrics.csv continues.

The kill is a real SIGKILL of a real ``pruning-lightning fit`` subprocess, sent by the process to
itself at a chosen optimiser step (``KillAt``, active only when ``PL_TEST_KILL_AT`` is set), so the
killed, resumed and reference runs use the very same command line (the resume adds ``--ckpt_path``).
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import yaml

from pruning_lightning.cli.lightning_cli import cli_main
from tests.helpers import assert_same_state, load_ckpt

ROOT = Path(__file__).resolve().parents[1]
ARCH = "configs/experiments/tiny/arch_vgg11_tiny.yaml"


class KillAt(L.Callback):
    """SIGKILL this process after optimiser step ``$PL_TEST_KILL_AT`` (a no-op when unset)."""

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        at = os.environ.get("PL_TEST_KILL_AT")
        if at is not None and trainer.global_step == int(at):
            os.kill(os.getpid(), signal.SIGKILL)


SHARED = ROOT.parent / "shared" / "data"
DATA = {
    # per-item augmentation in two DataLoader worker processes
    "workers": ["-c", "configs/data/digits.yaml", "--data.init_args.num_workers", "2"],
    # CIFAR held in memory, crop/flip per batch (configs/fast/cpu.yaml, the GPU fast path)
    "resident": ["-c", "configs/data/cifar10_shared.yaml", "--data.init_args.data_dir", str(SHARED),
                 "--data.init_args.subset", "640", "--data.init_args.device_resident", "true"],
}  # fmt: skip


def _fit_cmd(root: Path, extra: list[str], data: str = "workers") -> list[str]:
    return [
        "fit",
        *DATA[data],
        "-c",
        ARCH,
        "-c",
        "configs/regime/large.yaml",
        "--seed_everything",
        "3",
        "--trainer.max_epochs",
        "4",
        "--trainer.limit_train_batches",
        "6",
        "--trainer.limit_val_batches",
        "2",
        "--trainer.log_every_n_steps",
        "2",
        "--trainer.deterministic",
        "true",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
        "--trainer.callbacks+=tests.test_resume_exact.KillAt",
        "--trainer.default_root_dir",
        str(root),
        *extra,
    ]


def _run(args: list[str], kill_at: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    env.pop("PL_TEST_KILL_AT", None)
    if kill_at is not None:
        env["PL_TEST_KILL_AT"] = str(kill_at)
    return subprocess.run(
        [sys.executable, "-m", "pruning_lightning", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_last_ckpt_is_the_final_state_and_best_is_apart(tmp_path: Path) -> None:
    # The command of the report: val/acc1 never improves after epoch 0, so Lightning's own save_last
    # left last.ckpt at epoch 0. Ours holds the last epoch; best.ckpt holds the best one.
    root = tmp_path / "x"
    cli_main(
        [
            "fit",
            "-c",
            str(ROOT / "configs/data/synthetic.yaml"),
            "-c",
            str(ROOT / ARCH),
            "-c",
            str(ROOT / "configs/regime/large.yaml"),
            "--trainer.max_epochs",
            "3",
            "--trainer.limit_train_batches",
            "3",
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.default_root_dir",
            str(root),
        ]
    )
    last, best = load_ckpt(root / "checkpoints/last.ckpt"), load_ckpt(root / "checkpoints/best.ckpt")
    assert (last["epoch"], last["global_step"]) == (2, 9)
    rows = list(csv.DictReader((root / "metrics.csv").open()))
    val = {int(r["epoch"]): float(r["val/acc1"]) for r in rows if r["val/acc1"]}
    assert sorted(val) == [0, 1, 2]  # metrics.csv and config.yaml live in the stage folder
    assert (root / "config.yaml").is_file()
    best_epoch = max(val, key=lambda e: (val[e], -e))  # first epoch reaching the maximum
    assert best["epoch"] == best_epoch
    assert best["best_val_acc1"] == pytest.approx(max(val.values()))


@pytest.mark.slow
@pytest.mark.parametrize("data", list(DATA))
def test_sigkill_mid_epoch_then_readme_resume_is_bit_exact(tmp_path: Path, data: str) -> None:
    if data == "resident" and not (SHARED / "cifar-10-batches-py").is_dir():
        pytest.skip("../shared/data (CIFAR-10 subset) absent")
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    done = _run(_fit_cmd(ref, [], data))
    assert done.returncode == 0, done.stderr[-3000:]

    # 6 steps per epoch: step 16 is the 4th batch of epoch 2 (0-based); last.ckpt then holds epoch 1.
    killed = _run(_fit_cmd(cut, [], data), kill_at=16)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert load_ckpt(cut / "checkpoints/last.ckpt")["epoch"] == 1
    rows = list(csv.DictReader((cut / "metrics.csv").open()))
    assert any(r["epoch"] == "2" for r in rows)  # the killed epoch had already logged step rows

    resumed = _run(_fit_cmd(cut, ["--ckpt_path", str(cut / "checkpoints/last.ckpt")], data))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_state(load_ckpt(cut / "checkpoints/last.ckpt"), load_ckpt(ref / "checkpoints/last.ckpt"))
    # Every epoch logged exactly once, with the uninterrupted run's values.
    assert (cut / "metrics.csv").read_text() == (ref / "metrics.csv").read_text()


def test_resume_config_is_the_checkpoint_config(tmp_path: Path) -> None:
    """config.yaml of a resumed run records the same model as the checkpoint (nothing silently replaced)."""
    root = tmp_path / "s"
    base = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1", "--trainer.default_root_dir"]
    base += [str(root), "--trainer.enable_progress_bar", "false"]
    base += ["--model.init_args.lr_milestones", "[]"]  # no LR steps: a longer resume keeps the schedule
    common = ["fit", "-c", str(ROOT / "configs/data/synthetic.yaml"), "-c", str(ROOT / ARCH)]
    cli_main([*common, "-c", str(ROOT / "configs/regime/large.yaml"), *base])
    first = yaml.safe_load((root / "config.yaml").read_text())["model"]
    cli_main([*common, "-c", str(ROOT / "configs/regime/large.yaml"), *base[:1], "2", *base[2:], "--ckpt_path",
              str(root / "checkpoints/last.ckpt")])  # fmt: skip
    assert yaml.safe_load((root / "config.yaml").read_text())["model"] == first
    assert load_ckpt(root / "checkpoints/last.ckpt")["epoch"] == 1
