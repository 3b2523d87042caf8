"""End-to-end slice through the real entry points: sparse large -> prune -> fine-tune / Scratch-E / Scratch-B."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from pruning_lightning.cli.lightning_cli import cli_main
from pruning_lightning.formats.artifact import load_artifact
from pruning_lightning.main import main
from pruning_lightning.models.spec import ArchSpec
from tests.helpers import TINY_VGG

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _arch_yaml(tmp_path: Path, spec: ArchSpec) -> str:
    p = tmp_path / "tiny_arch.yaml"
    p.write_text(spec.to_yaml())
    return str(p)


def _fit(tmp_path: Path, trainer_args: list[str], root: str, *configs: str, extra: tuple[str, ...] = ()) -> Path:
    args = ["fit", "--config", str(CONFIGS / "data/synthetic.yaml")]
    for c in configs:
        args += ["--config", c]
    args += [*trainer_args, "--trainer.default_root_dir", str(tmp_path / root), *extra]
    cli_main(args)
    return tmp_path / root


@pytest.mark.slow
def test_whole_slice(tmp_path: Path, trainer_args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    arch = _arch_yaml(tmp_path, TINY_VGG)
    large = _fit(
        tmp_path,
        trainer_args,
        "large",
        str(CONFIGS / "regime/large.yaml"),
        arch,
        str(CONFIGS / "sparsity/slimming.yaml"),
        extra=(
            "--trainer.max_epochs",
            "2",
            "--trainer.logger",
            "lightning.pytorch.loggers.CSVLogger",
            "--trainer.logger.save_dir",
            str(tmp_path / "large"),
        ),
    )
    ckpt = large / "checkpoints" / "last.ckpt"  # default place: <default_root_dir>/checkpoints
    assert ckpt.is_file() and (large / "checkpoints" / "best.ckpt").is_file()
    hp = torch.load(ckpt, weights_only=True)["hyper_parameters"]
    assert hp["arch"]["cfg"] == TINY_VGG.cfg

    main(
        [
            "prune",
            "--config",
            str(CONFIGS / "prune/slimming_50.yaml"),
            "--ckpt",
            str(ckpt),
            "--out",
            str(tmp_path / "prune"),
            "--base_epochs",
            "2",
        ]
    )
    out = capsys.readouterr().out
    assert "Scratch-B epochs" in out and "FLOPs" in out
    art = load_artifact(tmp_path / "prune")
    assert sum(c for c in art.arch.cfg if c != "M") < sum(c for c in TINY_VGG.cfg if c != "M")
    arch_yaml = str(tmp_path / "prune" / "arch.yaml")
    pruned = str(tmp_path / "prune" / "pruned.pt")

    ft = _fit(
        tmp_path,
        trainer_args,
        "finetune",
        str(CONFIGS / "regime/finetune.yaml"),
        arch_yaml,
        extra=("--model.init_args.weights_from", pruned, "--trainer.max_epochs", "1"),
    )
    saved = yaml.safe_load((ft / "config.yaml").read_text())
    assert saved["model"]["init_args"]["arch"]["cfg"] == art.arch.cfg  # the pruned widths are visible

    _fit(
        tmp_path,
        trainer_args,
        "scratch_e",
        str(CONFIGS / "regime/scratch_e.yaml"),
        arch_yaml,
        extra=("--model.init_args.structure_from", pruned, "--trainer.max_epochs", "2"),
    )
    sb = _fit(
        tmp_path,
        trainer_args,
        "scratch_b",
        str(CONFIGS / "regime/scratch_b.yaml"),
        arch_yaml,
        str(tmp_path / "prune" / "scratch_b.yaml"),
        extra=("--model.init_args.structure_from", pruned),
    )
    saved = yaml.safe_load((sb / "config.yaml").read_text())
    assert saved["trainer"]["max_epochs"] == art.stats["scratch_b_epochs"] >= 2

    # Resume the fine-tune from its checkpoint with no architecture on the command line.
    ft_ckpt = ft / "checkpoints" / "last.ckpt"
    args = [
        "fit",
        "--config",
        str(CONFIGS / "data/synthetic.yaml"),
        *trainer_args,
        "--trainer.default_root_dir",
        str(tmp_path / "finetune"),
        "--trainer.max_epochs",
        "2",
        "--ckpt_path",
        str(ft_ckpt),
    ]
    cli = cli_main(args)
    assert cli.trainer.current_epoch == 2
    assert cli.model.arch.cfg == art.arch.cfg
    assert type(cli.model).__name__ == "FineTuneModule"
