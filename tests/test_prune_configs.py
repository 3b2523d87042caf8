"""Every configs/prune/*.yaml through the real `prune` command on a matching trained checkpoint, then
fine-tune and Scratch-E each accept the artifact (one training step each)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from pruning_lightning.cli.lightning_cli import cli_main
from pruning_lightning.data import RandomImageDataModule
from pruning_lightning.formats.artifact import load_artifact
from pruning_lightning.main import main
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.modules import LargeModule
from tests.helpers import TINY_VGG

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
VGG16 = ArchSpec("vgg", 16, cfg=[8, 8, "M", 16, 16, "M", 16, 16, 16, "M", 32, 32, 32, "M", 32, 32, 32])
R34 = ArchSpec("resnet_imagenet", 34, options={"base_width": 8})
SSS_NET = ArchSpec("resnet_cifar", 20, options={"block_scale": True})


def target(config: str) -> tuple[ArchSpec, int]:
    """The network (and image size) a prune config is meant for."""
    if config.startswith(("thinet_vgg16", "regression_vgg16", "l1_norm_vgg16")):
        return VGG16, 32
    if config.startswith("l1_norm_resnet34"):
        return R34, 64
    if config.startswith("l1_norm_resnet"):
        return ArchSpec("resnet_cifar", int(config.split("resnet")[1].split("_")[0])), 32
    if config == "sss":
        return SSS_NET, 32
    return TINY_VGG, 32


PRUNE_CONFIGS = sorted(p.stem for p in (CONFIGS / "prune").glob("*.yaml"))


@pytest.mark.slow
@pytest.mark.parametrize("config", PRUNE_CONFIGS)
def test_prune_config_end_to_end(tmp_path: Path, config: str, trainer_args: list[str]) -> None:
    spec, size = target(config)
    model = LargeModule(spec, num_classes=10)
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=1,
        limit_val_batches=0,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    trainer.fit(model, RandomImageDataModule(num_samples=8, image_size=size, batch_size=4))
    if config == "sss":  # as if BlockScaleSparsity had driven some scales to zero
        with torch.no_grad():
            for name, p in model.net.named_parameters():
                if name.endswith(".scale") and name.split(".")[1] in ("1", "2"):
                    p.zero_()
    ckpt = tmp_path / "large.ckpt"
    trainer.save_checkpoint(ckpt)
    out = tmp_path / "prune"
    data = [
        "--data",
        "pruning_lightning.data.RandomImageDataModule",
        "--data.init_args.num_samples",
        "16",
        "--data.init_args.image_size",
        str(size),
    ]
    main(["prune", "-c", str(CONFIGS / "prune" / f"{config}.yaml"), "--ckpt", str(ckpt), "--out", str(out), *data])
    art = load_artifact(out)
    assert art.stats["flops_after"] < art.stats["flops_before"]
    data_cfg = ["--config", str(CONFIGS / "data/synthetic.yaml"), "--data.init_args.image_size", str(size)]
    for regime, key in (("finetune", "weights_from"), ("scratch_e", "structure_from")):
        cli = cli_main(
            [
                "fit",
                *data_cfg,
                "--config",
                str(CONFIGS / f"regime/{regime}.yaml"),
                "--config",
                str(out / "arch.yaml"),
                f"--model.init_args.{key}",
                str(out / "pruned.pt"),
                *trainer_args,
                "--trainer.default_root_dir",
                str(tmp_path / regime),
                "--trainer.max_steps",
                "1",
            ]
        )
        assert cli.trainer.global_step == 1
        assert cli.model.arch.cfg == art.arch.cfg
