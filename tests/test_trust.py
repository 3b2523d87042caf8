"""Divergence stops the run; non-finite files are refused; the configuration you give is the one you run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from pruning_lightning.main import main

ROOT = Path(__file__).resolve().parents[1]
DATA = str(ROOT / "configs/data/synthetic.yaml")
ARCH = str(ROOT / "configs/experiments/tiny/arch_vgg11_tiny.yaml")
LARGE = str(ROOT / "configs/regime/large.yaml")
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def _fit(root: Path, *extra: str, epochs: int = 1) -> list[str]:
    return ["fit", "-c", DATA, "-c", ARCH, "-c", LARGE, "--trainer.max_epochs", str(epochs), *QUIET]  + [
        "--trainer.limit_train_batches", "2", "--trainer.default_root_dir", str(root), *extra
    ]  # fmt: skip


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if line.startswith("error: ")]
    assert len(err) == 1, err
    return err[0]


@pytest.fixture(scope="module")
def good_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("good")
    main(_fit(root))
    return root / "checkpoints/last.ckpt"


def _poisoned(src: Path, dst: Path) -> Path:
    ck = torch.load(src, map_location="cpu", weights_only=True)
    key = next(k for k in ck["state_dict"] if k.endswith("conv1.weight"))
    ck["state_dict"][key][0, 0, 0, 0] = float("nan")
    torch.save(ck, dst)
    return dst


def test_divergence_stops_with_one_line_and_no_nan_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "div"
    line = _error(capsys, _fit(root, "--model.init_args.lr", "1e9", epochs=3))
    assert re.search(r"LargeModule diverged: non-finite .* at epoch \d+, step \d+, lr 1e\+0[89] \(stage .*div\)", line)
    for name in ("last.ckpt", "best.ckpt"):
        f = root / "checkpoints" / name
        if f.exists():  # an earlier, finite epoch may have been saved; never a non-finite one
            sd = torch.load(f, map_location="cpu", weights_only=True)["state_dict"]
            assert all(torch.isfinite(v).all() for v in sd.values() if v.is_floating_point())


@pytest.mark.parametrize("command", ["prune", "info", "test", "resume"])
def test_non_finite_checkpoint_is_refused_naming_the_file(
    command: str, good_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bad = _poisoned(good_ckpt, tmp_path / "nan.ckpt")
    argv = {
        "prune": ["prune", "-c", str(ROOT / "configs/prune/slimming_50.yaml"), "--ckpt", str(bad), "--out",
                  str(tmp_path / "art"), "--base_epochs", "1"],
        "info": ["info", "--ckpt", str(bad)],
        "test": ["test", "-c", DATA, "--ckpt_path", str(bad), *QUIET, "--trainer.limit_test_batches", "1"],
        "resume": [*_fit(tmp_path / "r", epochs=2), "--ckpt_path", str(bad)],
    }[command]  # fmt: skip
    line = _error(capsys, argv)
    assert "non-finite" in line and "nan.ckpt" in line
    assert not (tmp_path / "art").exists()


def test_non_finite_artifact_is_refused(good_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    art = tmp_path / "art"
    main(["prune", "-c", str(ROOT / "configs/prune/slimming_50.yaml"), "--ckpt", str(good_ckpt), "--out", str(art),
          "--base_epochs", "1"])  # fmt: skip
    payload = torch.load(art / "pruned.pt", weights_only=True)
    next(iter(payload["weights"].values())).view(-1)[0] = float("inf")
    torch.save(payload, art / "pruned.pt")
    line = _error(
        capsys,
        ["fit", "-c", DATA, "-c", str(ROOT / "configs/regime/finetune.yaml"), "-c", str(art / "arch.yaml"), *QUIET,
         "--model.init_args.weights_from", str(art), "--trainer.max_epochs", "1", "--trainer.default_root_dir",
         str(tmp_path / "ft")],
    )  # fmt: skip
    assert "non-finite" in line and "pruned.pt" in line


def test_checkpoint_never_overrides_an_explicit_architecture(
    good_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # A ResNet-20 config with a VGG checkpoint: an error, not a silently trained VGG.
    argv = [a if a != ARCH else str(ROOT / "configs/arch/cifar/resnet20.yaml") for a in _fit(tmp_path / "a", epochs=2)]
    line = _error(capsys, [*argv, "--ckpt_path", str(good_ckpt)])
    assert "holds architecture" in line and "resnet_cifar" in line
    line = _error(capsys, ["test", "-c", DATA, "-c", str(ROOT / "configs/arch/cifar/resnet20.yaml"), "--ckpt_path",
                           str(good_ckpt), *QUIET])  # fmt: skip
    assert "holds architecture" in line


def test_resume_refuses_a_changed_hyperparameter(
    good_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    line = _error(capsys, [*_fit(tmp_path / "b", epochs=2), "--model.init_args.lr", "0.05", "--ckpt_path",
                           str(good_ckpt)])  # fmt: skip
    assert "model.init_args.lr is 0.05" in line and "0.1 in the checkpoint" in line
    assert not (tmp_path / "b/checkpoints").exists()


def test_resume_with_the_same_command_and_longer_schedule_runs(good_ckpt: Path, tmp_path: Path) -> None:
    root = good_ckpt.parent.parent
    main([*_fit(root, epochs=2), "--ckpt_path", str(good_ckpt)])
    ck = torch.load(root / "checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert ck["epoch"] == 1 and ck["global_step"] == 4
