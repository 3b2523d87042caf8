"""Issue 22 §3-§4: what the console shows once (or not), the end-of-fit line, options and their spelling."""

from __future__ import annotations

import io
import logging
import re
import sys
from pathlib import Path

import pytest

from pruning_lightning.main import canonical_options, main
from tests.bad_inputs_helpers import FIT, P50


def test_tips_are_dropped_and_repeats_shown_once() -> None:
    from pruning_lightning.core import console_once

    log = logging.getLogger("lightning.pytorch.test_console_once")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.getLogger("lightning.pytorch").addHandler(handler)
    try:
        console_once.install()
        for _ in range(3):
            log.info("💡 Tip: For seamless cloud logging ... litlogger")
            log.info("Seed set to 9000")  # seeds no other test uses: the filter is per process, as intended
        log.info("Seed set to 9001")
        with console_once.quiet("Restoring states"):  # the pipeline's test phase: its result is one line
            log.info("Restoring states from the checkpoint path at x/last.ckpt")
        log.info("Restoring states from the checkpoint path at y/last.ckpt")
    finally:
        logging.getLogger("lightning.pytorch").removeHandler(handler)
    assert stream.getvalue().splitlines() == [
        "Seed set to 9000",
        "Seed set to 9001",
        "Restoring states from the checkpoint path at y/last.ckpt",
    ]


@pytest.mark.slow
def test_fit_ends_with_accuracy_and_checkpoints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "stage"
    main([*FIT, "--trainer.max_epochs", "2", "--trainer.default_root_dir", str(root), "--trainer.logger", "false"])
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("[fit] finished"))
    assert "finished 2 epoch(s), final val top-1 " in line and "% (epoch 2), best " in line
    assert f"checkpoints: {root / 'checkpoints'}/{{last,best}}.ckpt" in line


def test_epoch_bar_counts_from_1_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from pruning_lightning.callbacks.console import EpochBar

    err = io.StringIO()
    monkeypatch.setattr(sys, "stdout", err)  # where Lightning's bars write
    bar = EpochBar()
    trainer = SimpleNamespace(max_epochs=2, current_epoch=0, num_training_batches=3, is_global_zero=True)
    bar._trainer = trainer  # type: ignore[assignment]
    bar.train_progress_bar = bar.init_train_tqdm()
    for epoch in (0, 1):
        trainer.current_epoch = epoch
        bar.on_train_epoch_start(trainer)
    bar.train_progress_bar.close()
    shown = set(re.findall(r"Epoch [0-9/]+:", err.getvalue().replace("\r", "\n")))
    assert shown == {"Epoch 1/2:", "Epoch 2/2:"}  # never Lightning's 0-based "Epoch 0:" beside them


def test_limit_batches_integer_is_a_number_of_batches(tmp_path: Path) -> None:
    from pruning_lightning.cli.lightning_cli import cli_main

    args = ["--trainer.default_root_dir", str(tmp_path), "--trainer.logger", "false"]
    cli = cli_main([*FIT[1:], *args], run=False)
    assert cli.trainer.limit_val_batches == 1 and isinstance(cli.trainer.limit_val_batches, int)
    cli = cli_main([*FIT[1:], *args, "--trainer.limit_val_batches", "1.0"], run=False)
    assert isinstance(cli.trainer.limit_val_batches, float)  # 1.0: all of them


def test_options_use_underscores_with_dashes_as_aliases() -> None:
    argv = ["pipeline", "e.yaml", "--dry-run", "--run-dir", "my-dir", "--data_dir=a-b", "-c", "x-y.yaml"]
    assert canonical_options(argv) == ["pipeline", "e.yaml", "--dry_run", "--run_dir", "my-dir", "--data_dir=a-b"] + [
        "-c",
        "x-y.yaml",
    ]


def test_overwrite_is_a_switch_everywhere() -> None:
    from pruning_lightning.cli.config import prune_parser
    from pruning_lightning.stages.zoo import build_parser

    base = ["-c", P50, "--ckpt", "a.ckpt", "--out", "o", "--base_epochs", "2"]
    p = prune_parser()
    assert p.parse_args([*base, "--overwrite"]).overwrite is True
    assert p.parse_args([*base, "--overwrite", "false"]).overwrite is False
    assert p.parse_args(base).overwrite is False
    z = build_parser()
    assert z.parse_args(["--arch", "a.yaml", "--out", "o", "--overwrite"]).overwrite is True
    assert z.parse_args(["--arch", "a.yaml", "--out", "o", "--overwrite", "true"]).overwrite is True


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--version"])
    assert capsys.readouterr().out.startswith("pruning-lightning ")
