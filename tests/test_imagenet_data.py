"""ImageNetDataModule on a tiny ImageFolder tree of real JPEGs: recipe, class count, errors, CLI link."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from torch.utils.data import SequentialSampler

from pruning_lightning.cli.lightning_cli import cli_main
from pruning_lightning.core.errors import PruningError
from pruning_lightning.data.imagenet import ImageNetDataModule, imagenet_eval_transform
from pruning_lightning.data.transforms import MEAN_STD
from pruning_lightning.models.spec import ArchSpec

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CLASSES = ["n01", "n02", "n03"]


def _tree(root: Path, per_class: int = 2, classes: dict[str, list[str]] | None = None) -> Path:
    """``root/{train,val}/<class>/img*.JPEG``, random colours, odd sizes."""
    g = torch.Generator().manual_seed(0)
    for split, names in (classes or {"train": CLASSES, "val": CLASSES}).items():
        for c in names:
            (root / split / c).mkdir(parents=True)
            for i in range(per_class):
                rgb = torch.randint(0, 256, (3,), generator=g).tolist()
                Image.new("RGB", (40 + 7 * i, 30), tuple(rgb)).save(root / split / c / f"img{i}.JPEG")
    return root


def test_num_classes_before_setup_and_batches(tmp_path: Path) -> None:
    dm = ImageNetDataModule(str(_tree(tmp_path)), batch_size=4, eval_batch_size=3, num_workers=0, pin_memory=False)
    assert dm.num_classes == 3 and dm.classes == CLASSES  # readable before setup (CLI link)
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 3, 224, 224) and set(y.tolist()) <= {0, 1, 2}
    val = dm.val_dataloader()
    assert isinstance(val.sampler, SequentialSampler) and val.batch_size == 3
    xv, yv = next(iter(val))
    assert xv.shape == (3, 3, 224, 224) and yv.tolist() == [0, 0, 1]


def test_eval_transform_resizes_crops_and_normalises() -> None:
    mean, std = MEAN_STD["imagenet"]
    assert mean == (0.485, 0.456, 0.406) and std == (0.229, 0.224, 0.225)
    colour = tuple(round(m * 255) for m in mean)
    out = imagenet_eval_transform()(Image.new("RGB", (300, 200), colour))
    assert out.shape == (3, 224, 224)
    assert out.abs().max() < 1 / 255 / min(std) + 1e-6  # the mean colour maps to ~0
    white = imagenet_eval_transform()(Image.new("RGB", (300, 200), (255, 255, 255)))
    torch.testing.assert_close(white[:, 0, 0], torch.tensor([(1 - m) / s for m, s in zip(mean, std, strict=True)]))


@pytest.mark.parametrize(
    ("layout", "match"),
    [
        (None, "not found"),
        ({"train": CLASSES}, "val not found"),
        ({"train": [], "val": CLASSES}, "no class sub-folders"),
        ({"train": CLASSES, "val": ["n01", "n02", "n09"]}, "different classes"),
    ],
    ids=["missing-dir", "missing-val", "empty-train", "class-mismatch"],
)
def test_bad_folders(tmp_path: Path, layout: dict[str, list[str]] | None, match: str) -> None:
    root = tmp_path / "imagenet"
    if layout is not None:
        _tree(root, classes=layout)
        (root / "train").mkdir(exist_ok=True)
    dm = ImageNetDataModule(str(root), num_workers=0)
    with pytest.raises(PruningError, match=match):
        _ = dm.num_classes


def test_class_folder_without_images(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "val" / "n03" / "img0.JPEG").unlink()
    (root / "val" / "n03" / "img1.JPEG").unlink()
    dm = ImageNetDataModule(str(root), num_workers=0)
    assert dm.num_classes == 3
    with pytest.raises(PruningError, match="class without images"):
        dm.setup("validate")


def test_bad_sizes() -> None:
    with pytest.raises(PruningError, match="crop_size"):
        ImageNetDataModule(crop_size=256, resize_size=224)


def test_cli_links_classes_from_folder(tmp_path: Path, trainer_args: list[str]) -> None:
    root = _tree(tmp_path / "imagenet")
    arch = tmp_path / "arch.yaml"
    arch.write_text(ArchSpec("resnet_imagenet", 18, options={"base_width": 4}).to_yaml())
    cli = cli_main(
        [
            "fit",
            "--config",
            str(CONFIGS / "data" / "imagenet.yaml"),
            "--config",
            str(CONFIGS / "regime" / "imagenet" / "large.yaml"),
            "--config",
            str(arch),
            "--data.init_args.data_dir",
            str(root),
            "--data.init_args.batch_size",
            "2",
            "--data.init_args.num_workers",
            "0",
            "--data.init_args.crop_size",
            "32",
            "--data.init_args.resize_size",
            "36",
            "--data.init_args.pin_memory",
            "false",
            *trainer_args,
            "--trainer.max_epochs",
            "1",
        ]
    )
    assert cli.model.num_classes == 3 and cli.model.net.fc.out_features == 3
    assert cli.trainer.state.finished and cli.trainer.global_step == 2
    assert cli.datamodule.hparams.batch_size == 2
