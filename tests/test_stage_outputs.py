"""What each stage leaves behind: manual W&B runs label themselves (job_type from the regime module, group from
data + network or a flag), config.yaml in each stage folder, `test` writing into the checkpoint's stage folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pruning_lightning.cli.lightning_cli import cli_main
from pruning_lightning.main import main
from tests.helpers import TINY_VGG
from tests.wandb_records import runs_of

ROOT = Path(__file__).resolve().parents[1]
C = ROOT / "configs"


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_RUN_GROUP", raising=False)
    yield
    if wandb.run is not None:
        wandb.finish()


def _fit(stage: Path, trainer_args: list[str], *configs: str | Path, extra: tuple[str, ...] = ()) -> None:
    """A 1-epoch fit with configs/logger/wandb.yaml (Scratch-B keeps its scratch_b.yaml epochs)."""
    import wandb

    args = ["fit", "--config", str(C / "data/synthetic.yaml")]
    for c in configs:
        args += ["--config", str(c)]
    args += [*trainer_args, "--config", str(C / "logger/wandb.yaml")]
    if not any(str(c).endswith("scratch_b.yaml") for c in configs):
        args += ["--trainer.max_epochs", "1"]
    cli_main([*args, "--trainer.default_root_dir", str(stage), *extra])
    wandb.finish()


@pytest.mark.slow
def test_each_regime_labels_its_run_and_keeps_its_config(
    tmp_path: Path, offline: None, trainer_args: list[str]
) -> None:
    arch = tmp_path / "arch.yaml"
    arch.write_text(TINY_VGG.to_yaml())
    _fit(tmp_path / "large", trainer_args, C / "regime/large.yaml", C / "sparsity/slimming.yaml", arch)
    teacher = str(tmp_path / "large/checkpoints/last.ckpt")
    prune = tmp_path / "prune"
    main(["prune", "--config", str(C / "prune/magnitude_50.yaml"), "--ckpt", teacher, "--out", str(prune),
          "--base_epochs", "1"])  # fmt: skip
    art = str(prune / "pruned.pt")
    regimes = {
        "finetune": (["finetune.yaml"], ("--model.init_args.weights_from", art)),
        "scratch_e": (["scratch_e.yaml"], ("--model.init_args.structure_from", art)),
        "scratch_b": (["scratch_b.yaml", prune / "scratch_b.yaml"], ("--model.init_args.structure_from", art)),
        "finetune_kd": (
            ["finetune_kd.yaml"],
            ("--model.init_args.weights_from", art, "--model.init_args.teacher", teacher),
        ),
        "scratch_e_kd": (
            ["scratch_e_kd.yaml"],
            ("--model.init_args.structure_from", art, "--model.init_args.teacher", teacher),
        ),
        "lottery": (["lottery_random.yaml"], ("--model.init_args.structure_from", art)),
    }
    for name, (configs, extra) in regimes.items():
        files = [C / "regime" / c if isinstance(c, str) else c for c in configs]
        _fit(tmp_path / name, trainer_args, files[0], prune / "arch.yaml", *files[1:], extra=extra)

    for name in ["large", *regimes]:
        stage = tmp_path / name
        (run,) = runs_of(stage)  # the W&B files live in the stage folder
        assert (run["job_type"], run["group"]) == (name, "randomimage-vgg11"), name
        assert (stage / "config.yaml").is_file(), name  # each stage keeps its own resolved config
        cfg = run["config"]
        assert cfg["model/params"] > 0 and cfg["model/flops"] > 0, name
        assert cfg["arch/widths"] == list(cfg["arch"]["cfg"]) and cfg["seed"] is not None, name
        if name != "large":
            assert cfg["artifact"] == art, name
    large = runs_of(tmp_path / "large")[0]["config"]
    assert large["callbacks/BNL1Sparsity"]["strength"] == 1.0e-4  # the sparsity strength s
    assert large["arch/widths"] == [8, "M", 16, "M", 16, 16, "M", 32, 32, "M", 32, 32]
    assert runs_of(tmp_path / "finetune_kd")[0]["config"]["distill/teacher"] == teacher


def test_group_and_job_type_flags_win(tmp_path: Path, offline: None, trainer_args: list[str]) -> None:
    arch = tmp_path / "arch.yaml"
    arch.write_text(TINY_VGG.to_yaml())
    stage = tmp_path / "stage"
    extra = ("--trainer.logger.init_args.group", "my-study", "--trainer.logger.init_args.job_type", "probe")
    _fit(stage, trainer_args, C / "regime/large.yaml", arch, extra=extra)
    (run,) = runs_of(stage)
    assert (run["group"], run["job_type"]) == ("my-study", "probe")
    assert (stage / "config.yaml").is_file() and not (tmp_path / "config.yaml").exists()


def test_test_writes_into_the_checkpoint_stage(
    tmp_path: Path, trainer_args: list[str], monkeypatch: pytest.MonkeyPatch, recwarn: pytest.WarningsRecorder
) -> None:
    """``test --ckpt_path`` without a default_root_dir: outputs go to the stage folder, none to the cwd."""
    arch = tmp_path / "arch.yaml"
    arch.write_text(TINY_VGG.to_yaml())
    base = trainer_args[: trainer_args.index("--trainer.logger")]  # the stage's own CSV logger, no root dir
    configs = [
        "--config",
        str(C / "data/synthetic.yaml"),
        "--config",
        str(C / "regime/large.yaml"),
        "--config",
        str(arch),
    ]
    stage = tmp_path / "stage"
    cli_main(["fit", *configs, *base, "--trainer.max_epochs", "1", "--trainer.default_root_dir", str(stage)])
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    recwarn.clear()
    cli = cli_main(["test", *configs, *base, "--ckpt_path", str(stage / "checkpoints/last.ckpt")])
    assert "test/acc1" in cli.trainer.callback_metrics
    assert list(cwd.iterdir()) == []  # no lightning_logs, no config.yaml in the working directory
    assert Path(cli.trainer.default_root_dir).resolve() == stage.resolve()
    assert not [w for w in recwarn if "dirpath" in str(w.message)]
