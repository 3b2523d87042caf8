"""Issue 23 §4: the class count is the data's, never the architecture's.

``ArchSpec`` holds no ``num_classes``; whoever builds a network passes it, checkpoints and artifacts store it
beside the spec, and files written while the spec held it are read correctly (the value moved beside the
spec, then checked against the data) or refused with one line when they contradict themselves.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import lightning
import pytest
import torch
import yaml

from pruning_lightning.cli.lightning_cli import cli_main
from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.artifact import OLD_FORMATS, PrunedArtifact, load_artifact, write_artifact
from pruning_lightning.formats.checkpoint import checkpoint_classes, load_network
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.models.spec import ArchSpec, split_classes
from pruning_lightning.modules import LargeModule
from pruning_lightning.modules.regimes import ScratchModule
from pruning_lightning.stages.prune import check_data_classes
from tests.helpers import TINY_VGG

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SYN = str(CONFIGS / "data/synthetic.yaml")  # RandomImageDataModule: 10 classes unless told otherwise
OLD_ARCH = {**resolve(TINY_VGG).to_dict(), "num_classes": 10}  # an arch mapping as files held it before


def test_the_spec_holds_no_class_count() -> None:
    assert "num_classes" not in ArchSpec("vgg", 11).to_dict()
    with pytest.raises(PruningError, match="num_classes is not part of the architecture"):
        ArchSpec.from_dict(OLD_ARCH)
    assert build_arch(TINY_VGG, 7)(torch.randn(1, 3, 32, 32)).shape == (1, 7)
    for bad in (0, -1, True, 2.0):
        with pytest.raises(PruningError, match="num_classes must be an integer >= 1"):
            build_arch(TINY_VGG, bad)  # type: ignore[arg-type]


def test_split_classes_reads_both_layouts() -> None:
    new = resolve(TINY_VGG).to_dict()
    assert split_classes(OLD_ARCH) == (new, 10)  # old: inside the arch
    assert split_classes(new, 10) == (new, 10)  # new: beside it
    assert split_classes(OLD_ARCH, 10) == (new, 10)  # both, agreeing
    assert split_classes(new) == (new, None)  # none: the caller decides (the data module's)
    with pytest.raises(PruningError, match="x.pt: the arch says num_classes 10 but num_classes beside it is 100"):
        split_classes(OLD_ARCH, 100, "x.pt")
    with pytest.raises(PruningError, match="must be a positive integer"):
        split_classes({**new, "num_classes": "ten"})


def _artifact(tmp_path: Path) -> Path:
    net = build_arch(TINY_VGG, 10)
    art = PrunedArtifact(TINY_VGG, TINY_VGG, "hand", 10, weights=net.state_dict(), stats={"scratch_b_epochs": 1})
    return write_artifact(art, tmp_path / "prune")


def test_artifacts_store_the_count_beside_the_spec_and_old_ones_are_read(tmp_path: Path) -> None:
    out = _artifact(tmp_path)
    payload = torch.load(out / "pruned.pt", weights_only=True)
    assert payload["num_classes"] == 10 and "num_classes" not in payload["arch"]
    assert yaml.safe_load((out / "arch.yaml").read_text())["model"]["init_args"]["num_classes"] == 10
    # A pruned-v1 file: the count inside both archs, none beside them.
    old = {**payload, "format": OLD_FORMATS[0], "arch": OLD_ARCH, "reference_arch": OLD_ARCH}
    del old["num_classes"]
    torch.save(old, out / "pruned.pt")
    art = load_artifact(out)
    assert art.num_classes == 10 and art.arch == resolve(TINY_VGG) and art.reference_arch == resolve(TINY_VGG)
    torch.save({**old, "reference_arch": {**OLD_ARCH, "num_classes": 100}}, out / "pruned.pt")
    with pytest.raises(PruningError, match=r"\(reference_arch\): the arch says num_classes 100 but .* is 10"):
        load_artifact(out)


def test_an_artifact_of_another_class_count_is_refused(tmp_path: Path) -> None:
    out = _artifact(tmp_path)
    ok = ScratchModule(TINY_VGG, structure_from=str(out / "pruned.pt"), num_classes=10)
    assert ok._load_checked().num_classes == 10
    other = ScratchModule(TINY_VGG, structure_from=str(out / "pruned.pt"), num_classes=100)
    with pytest.raises(PruningError, match="is a 10-class network but the data module has 100 classes"):
        other._load_checked()


def _old_checkpoint(path: Path) -> Path:
    """A checkpoint as fit wrote it while the arch held the class count."""
    module = LargeModule(TINY_VGG, num_classes=10)
    hp = {k: v for k, v in module.hparams.items() if k != "num_classes"}
    hp = {**hp, "arch": OLD_ARCH, "_class_path": "pruning_lightning.modules.LargeModule"}
    ckpt = {"hyper_parameters": hp, "state_dict": module.state_dict(), "epoch": 0, "global_step": 1}
    torch.save({**ckpt, "pytorch-lightning_version": lightning.__version__}, path)
    return path


def test_old_checkpoints_are_read(tmp_path: Path, trainer_args: list[str]) -> None:
    ckpt = _old_checkpoint(tmp_path / "old.ckpt")
    arch, classes, net, _ = load_network(ckpt)
    assert (arch, classes) == (resolve(TINY_VGG), 10) and net(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    with pytest.raises(PruningError, match="records no class count"):
        checkpoint_classes({"arch": resolve(TINY_VGG).to_dict()}, "x.ckpt")
    cli = cli_main(["validate", "-c", SYN, *trainer_args, "--ckpt_path", str(ckpt)])
    assert cli.model.num_classes == 10 and cli.model.hparams["num_classes"] == 10
    with pytest.raises(PruningError, match="holds a 10-class network but the data module has 100 classes"):
        cli_main(
            ["validate", "-c", SYN, "--data.init_args.num_classes", "100", *trainer_args, "--ckpt_path", str(ckpt)]
        )


def _arch_file(path: Path, init: dict) -> str:
    path.write_text(yaml.safe_dump({"model": {"init_args": init}}))
    return str(path)


def test_old_arch_files_are_read_and_checked(tmp_path: Path) -> None:
    old = _arch_file(tmp_path / "old.yaml", {"arch": OLD_ARCH})
    both = _arch_file(tmp_path / "both.yaml", {"arch": OLD_ARCH, "num_classes": 100})
    args = ["-c", SYN, "--trainer.accelerator", "cpu", "--trainer.logger", "false"]
    cli = cli_main([*args, "-c", old], run=False)
    assert cli.model.num_classes == 10 and cli.model.arch == resolve(TINY_VGG)
    with pytest.raises(PruningError, match="old.yaml describes a 10-class network but the data module has 100"):
        cli_main([*args, "--data.init_args.num_classes", "100", "-c", old], run=False)
    with pytest.raises(PruningError, match="both.yaml writes model.init_args.arch.num_classes 10 and .* 100; keep"):
        cli_main([*args, "-c", both], run=False)


def test_prune_data_must_have_the_checkpoint_class_count() -> None:
    check_data_classes(SimpleNamespace(num_classes=10), 10, "x.ckpt")
    with pytest.raises(PruningError, match="--data has 100 classes but the network of x.ckpt has 10"):
        check_data_classes(SimpleNamespace(num_classes=100), 10, "x.ckpt")


def test_old_teacher_checkpoints_and_init_files_are_read(tmp_path: Path) -> None:
    from pruning_lightning.modules.lottery import INIT_FORMAT, load_init
    from pruning_lightning.modules.teacher import load_teacher

    ckpt = _old_checkpoint(tmp_path / "old.ckpt")
    arch, net = load_teacher(str(ckpt), TINY_VGG, 10)
    assert arch == resolve(TINY_VGG) and net(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    with pytest.raises(PruningError, match="predicts 10 classes but the student has 5"):
        load_teacher(str(ckpt), TINY_VGG, 5)
    state = build_arch(TINY_VGG, 10).state_dict()
    torch.save({"format": INIT_FORMAT, "arch": OLD_ARCH, "state_dict": state}, tmp_path / "init.pt")
    assert load_init(tmp_path / "init.pt")[0] == resolve(TINY_VGG)
