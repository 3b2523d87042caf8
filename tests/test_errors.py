"""Bad input through the real entry points: one `error:` line, exit status 2, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pruning_lightning.cli.lightning_cli import cli_main
from pruning_lightning.formats.artifact import load_artifact, write_artifact
from pruning_lightning.main import main
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.modules import LargeModule
from pruning_lightning.pruning import SlimmingPruner, prune
from tests.helpers import TINY_VGG

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    return err[0]


@pytest.fixture
def large_ckpt(tmp_path: Path) -> Path:
    """A checkpoint of a tiny model, written the way Lightning writes it."""
    import lightning as L

    from pruning_lightning.data import RandomImageDataModule

    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=0,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(LargeModule(TINY_VGG, num_classes=10), RandomImageDataModule())
    path = tmp_path / "large.ckpt"
    trainer.save_checkpoint(path)
    return path


def test_missing_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _error_line(
        capsys,
        [
            "prune",
            "--config",
            str(CONFIGS / "prune/slimming_50.yaml"),
            "--ckpt",
            str(tmp_path / "nope.ckpt"),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert "checkpoint not found" in line
    assert not (tmp_path / "out").exists()


def test_truncated_checkpoint(tmp_path: Path, large_ckpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(large_ckpt.read_bytes()[:2000])
    line = _error_line(
        capsys,
        [
            "prune",
            "--config",
            str(CONFIGS / "prune/slimming_50.yaml"),
            "--ckpt",
            str(bad),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert "unreadable or truncated" in line
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


@pytest.mark.parametrize("ratio", ["0", "1.0", "1.5"])
def test_ratio_outside_unit_interval(
    tmp_path: Path, large_ckpt: Path, capsys: pytest.CaptureFixture[str], ratio: str
) -> None:
    line = _error_line(
        capsys,
        [
            "prune",
            "--config",
            str(CONFIGS / "prune/slimming_50.yaml"),
            "--pruner.init_args.ratio",
            ratio,
            "--ckpt",
            str(large_ckpt),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert "ratio must be in (0, 1)" in line
    assert not (tmp_path / "out").exists()


def test_existing_output_is_not_overwritten(
    tmp_path: Path, large_ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    line = _error_line(
        capsys,
        ["prune", "--config", str(CONFIGS / "prune/slimming_50.yaml"), "--ckpt", str(large_ckpt), "--out", str(out)],
    )
    assert "already exists" in line and (out / "keep.txt").read_text() == "mine"


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arch = resolve(TINY_VGG)
    art = prune(build_arch(arch, 10), arch, SlimmingPruner(0.5))

    def boom(*a, **k) -> None:  # noqa: ANN002, ANN003
        raise OSError("disk full")

    monkeypatch.setattr("pruning_lightning.formats.artifact.yaml.safe_dump", boom)
    with pytest.raises(OSError):
        write_artifact(art, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_artifact_arch_mismatch(tmp_path: Path, trainer_args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    arch = resolve(TINY_VGG)
    art = prune(build_arch(arch, 10), arch, SlimmingPruner(0.5))
    write_artifact(art, tmp_path / "prune")
    unpruned = tmp_path / "arch.yaml"
    unpruned.write_text(TINY_VGG.to_yaml())
    line = _error_line(
        capsys,
        [
            "fit",
            "--config",
            str(CONFIGS / "data/synthetic.yaml"),
            "--config",
            str(CONFIGS / "regime/finetune.yaml"),
            "--config",
            str(unpruned),
            "--model.init_args.weights_from",
            str(tmp_path / "prune"),
            *trainer_args,
        ],
    )
    assert "holds architecture" in line and "arch.yaml" in line


def test_artifact_loads_weights_only_and_rejects_foreign_files(tmp_path: Path) -> None:
    arch = resolve(TINY_VGG)
    write_artifact(prune(build_arch(arch, 10), arch, SlimmingPruner(0.5)), tmp_path / "p")
    payload = torch.load(tmp_path / "p" / "pruned.pt", weights_only=True)  # no pickled classes inside
    assert payload["arch"]["family"] == "vgg"
    torch.save({"something": 1}, tmp_path / "other.pt")
    from pruning_lightning.core.errors import PruningError

    with pytest.raises(PruningError, match="not a pruning-lightning artifact"):
        load_artifact(tmp_path / "other.pt")


def test_scratch_b_requires_the_computed_epochs(
    tmp_path: Path, trainer_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    arch = resolve(TINY_VGG)
    net = build_arch(arch, 10)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(-1, 1)
    write_artifact(prune(net, arch, SlimmingPruner(0.5), base_epochs=10), tmp_path / "prune")
    line = _error_line(
        capsys,
        [
            "fit",
            "--config",
            str(CONFIGS / "data/synthetic.yaml"),
            "--config",
            str(CONFIGS / "regime/scratch_b.yaml"),
            "--config",
            str(tmp_path / "prune" / "arch.yaml"),
            "--model.init_args.structure_from",
            str(tmp_path / "prune" / "pruned.pt"),
            "--trainer.max_epochs",
            "10",
            *trainer_args,
        ],
    )
    assert "Scratch-B needs max_epochs=" in line and "scratch_b.yaml" in line


def test_unknown_family_from_cli(tmp_path: Path, trainer_args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    line = _error_line(
        capsys,
        [
            "fit",
            "--config",
            str(CONFIGS / "data/synthetic.yaml"),
            "--config",
            str(CONFIGS / "regime/large.yaml"),
            "--model.init_args.arch",
            '{"family": "alexnet", "depth": 8}',
            *trainer_args,
        ],
    )
    assert "unknown architecture family 'alexnet'" in line


def test_info_prints_vgg19_params(capsys: pytest.CaptureFixture[str]) -> None:
    c10, vgg19 = str(CONFIGS / "data/cifar10.yaml"), str(CONFIGS / "arch/cifar/vgg19.yaml")
    main(["info", "-c", c10, "-c", vgg19, "--no-latency"])
    assert "20.04M" in capsys.readouterr().out


def test_cli_in_process_returns_trainer(trainer_args: list[str]) -> None:
    cli = cli_main(
        [
            "fit",
            "--config",
            str(CONFIGS / "data/synthetic.yaml"),
            "--config",
            str(CONFIGS / "regime/large.yaml"),
            "--config",
            str(CONFIGS / "arch/cifar/vgg11.yaml"),
            "--model.init_args.arch.cfg",
            str(TINY_VGG.cfg).replace("'", '"'),
            "--trainer.max_epochs",
            "1",
            *trainer_args,
        ]
    )
    assert cli.trainer.current_epoch == 1
