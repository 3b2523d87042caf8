"""Divergence stops the run; non-finite files are refused; the configuration you give is the one you run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from pruning_lightning.main import main
from tests.bad_inputs_helpers import error_of

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
        "resume": [*_fit(tmp_path / "r", epochs=1), "--ckpt_path", str(bad)],
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


def test_resume_with_the_same_command_runs(good_ckpt: Path, tmp_path: Path) -> None:
    root = good_ckpt.parent.parent
    main([*_fit(root, epochs=1), "--ckpt_path", str(good_ckpt)])
    ck = torch.load(root / "checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert ck["epoch"] == 0 and ck["global_step"] == 2
    assert sorted(p.name for p in (root / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]


# Issue 21 §1: a re-run never mixes with an old run; every resume path is checked.


@pytest.fixture
def trained(tmp_path: Path) -> Path:
    main(_fit(tmp_path / "stage"))
    return tmp_path / "stage"


def test_fit_into_a_folder_holding_a_run_is_refused(trained: Path, capsys: pytest.CaptureFixture) -> None:
    line = error_of(capsys, _fit(trained), trained.parent, "already holds a run", "--overwrite", "--ckpt_path")
    assert str(trained / "checkpoints/last.ckpt") in line


def test_overwrite_replaces_the_previous_run(trained: Path, capsys: pytest.CaptureFixture) -> None:
    before = torch.load(trained / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    main([*_fit(trained, "--seed_everything", "7"), "--overwrite"])
    assert sorted(p.name for p in (trained / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]  # no -v1
    after = torch.load(trained / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert "removed 2 checkpoint(s)" in capsys.readouterr().out


def test_ckpt_path_last_is_checked_like_an_explicit_path(trained: Path, capsys: pytest.CaptureFixture) -> None:
    argv = [*_fit(trained, epochs=1), "--model.init_args.lr", "0.05", "--ckpt_path", "last"]
    error_of(capsys, argv, trained.parent, "model.init_args.lr is 0.05", "0.1 in the checkpoint", "last.ckpt")


def test_ckpt_path_from_a_config_file_is_checked(trained: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = trained.parent / "resume.yaml"
    cfg.write_text(f"ckpt_path: {trained / 'checkpoints/last.ckpt'}\n")
    argv = [*_fit(trained, epochs=1), "-c", str(cfg), "--model.init_args.lr", "0.05"]
    error_of(capsys, argv, trained.parent, "model.init_args.lr is 0.05")


def test_ckpt_path_last_without_a_checkpoint_starts_a_new_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    main([*_fit(tmp_path / "new"), "--ckpt_path", "last"])
    assert "this is a new run" in capsys.readouterr().out
    assert (tmp_path / "new/checkpoints/last.ckpt").is_file()


def test_resume_with_a_longer_schedule_is_refused(trained: Path, capsys: pytest.CaptureFixture) -> None:
    # Trained for 1 epoch: no LR step; 3 epochs would step at epochs 1 and 2, which a resume cannot do.
    argv = [*_fit(trained, epochs=3), "--ckpt_path", str(trained / "checkpoints/last.ckpt")]
    error_of(capsys, argv, trained.parent, "--trainer.max_epochs 3", "epochs []", "[1, 2]", "Extending a run")


def test_prune_says_where_base_epochs_come_from(good_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    p50 = str(ROOT / "configs/prune/slimming_50.yaml")
    main(["prune", "-c", p50, "--ckpt", str(good_ckpt), "--out", str(tmp_path / "a")])
    out = capsys.readouterr().out
    assert f"Scratch-B base: 160 epochs (--base_epochs, from {p50})" in out
    assert "warning: the checkpoint was trained for 1 epoch(s) but --base_epochs is 160" in out
    main(["prune", "-c", p50, "--ckpt", str(good_ckpt), "--out", str(tmp_path / "b"), "--base_epochs", "1"])
    out = capsys.readouterr().out
    assert "(--base_epochs, from the command line)" in out and "warning" not in out


def test_divergence_names_the_lr_of_the_step_not_the_next_epochs() -> None:
    # A non-finite parameter is found when the epoch's checkpoint is written, after the scheduler may have
    # lowered the LR for the next epoch: the message names the LR the diverging steps used.
    from types import SimpleNamespace

    from pruning_lightning.core.errors import PruningError
    from pruning_lightning.models.spec import ArchSpec
    from pruning_lightning.modules import LargeModule

    module = LargeModule(ArchSpec("vgg", 11, cfg=[4, "M", 4, "M", 4, 4, "M", 4, 4, "M", 4, 4]), lr=0.1, num_classes=10)
    opt = SimpleNamespace(param_groups=[{"lr": 0.001}])  # already stepped: 100x lower
    module._trainer = SimpleNamespace(optimizers=[opt], current_epoch=3, global_step=40, default_root_dir="stage")  # type: ignore[assignment]
    module._step_lr = 0.1
    with pytest.raises(PruningError, match=r"at epoch 4, step 40, lr 0\.1 \(stage stage\)"):  # 1-based: current_epoch 3
        module._diverged("non-finite parameter net.x")
