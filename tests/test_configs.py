"""Every YAML fragment under configs/ parses and instantiates through the real parsers."""

from __future__ import annotations

from pathlib import Path

import pytest

from pruning_lightning.cli.lightning_cli import cli_main
from tests.helpers import TINY_VGG

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
BASE = [str(CONFIGS / "data/synthetic.yaml")]
TINY = TINY_VGG.to_yaml()


def _rel(p: Path) -> str:
    return str(p.relative_to(CONFIGS))


def _glob(*patterns: str) -> list[Path]:
    return sorted(p for pat in patterns for p in CONFIGS.glob(pat))


def _instantiate(tmp_path: Path, *configs: str, extra: tuple[str, ...] = (), data: str = BASE[0]) -> object:
    args = ["--config", data]
    for c in configs:
        args += ["--config", c]
    args += ["--trainer.logger", "false", "--trainer.default_root_dir", str(tmp_path), *extra]
    return cli_main(args, run=False)


@pytest.mark.parametrize("path", _glob("arch/**/*.yaml"), ids=_rel)
def test_arch_configs(tmp_path: Path, path: Path) -> None:
    import yaml

    pinned = yaml.safe_load(path.read_text())["model"]["init_args"].get("num_classes")
    classes = str(pinned or 7)
    cli = _instantiate(
        tmp_path, str(CONFIGS / "regime/large.yaml"), str(path), extra=("--data.init_args.num_classes", classes)
    )
    assert cli.model.num_classes == int(classes)  # linked from the data module


@pytest.mark.parametrize("preset", ["cifar/presets/vgg16_a.yaml", "imagenet/thinet_resnet50_70.yaml"])
def test_preset_with_wrong_class_count(tmp_path: Path, preset: str, capsys: pytest.CaptureFixture[str]) -> None:
    from pruning_lightning.main import main

    with pytest.raises(SystemExit) as exc:
        main(
            [
                "fit",
                "--config",
                BASE[0],
                "--config",
                str(CONFIGS / "regime/large.yaml"),
                "--config",
                str(CONFIGS / "arch" / preset),
                "--data.init_args.num_classes",
                "100",
                "--trainer.logger",
                "false",
                "--trainer.default_root_dir",
                str(tmp_path),
            ]
        )
    assert exc.value.code == 2
    assert "class network but the data module has 100 classes" in capsys.readouterr().err


@pytest.mark.parametrize("path", _glob("regime/**/*.yaml"), ids=_rel)
def test_regime_configs(tmp_path: Path, path: Path) -> None:
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(TINY)
    import importlib
    import inspect

    import yaml

    class_path = (yaml.safe_load(path.read_text()).get("model") or {}).get("class_path")
    if class_path is None:  # e.g. an ImageNet scratch_b fragment that only sets epochs: compose with scratch_e
        class_path = "pruning_lightning.modules.ScratchModule"
    module, name = class_path.rsplit(".", 1)
    params = inspect.signature(getattr(importlib.import_module(module), name)).parameters
    # Paths are only read at setup(); instantiation must succeed with any string.
    extra = [
        f"--model.init_args.{k}=unused.pt"
        for k in ("weights_from", "init_from", "structure_from", "teacher")
        if k in params
    ]
    cli = _instantiate(tmp_path, str(path), str(tiny), extra=tuple(extra))
    assert cli.model.arch.cfg == TINY_VGG.cfg


@pytest.mark.parametrize("path", _glob("sparsity/*.yaml", "logger/*.yaml", "fast/*.yaml", "demo/*.yaml"), ids=_rel)
def test_other_fit_fragments(tmp_path: Path, path: Path) -> None:
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(TINY)
    extra = ("--trainer.logger.init_args.save_dir", str(tmp_path)) if path.parent.name == "logger" else ()
    if path.parent.name == "logger":
        cli = cli_main(
            [
                "--config",
                BASE[0],
                "--config",
                str(CONFIGS / "regime/large.yaml"),
                "--config",
                str(tiny),
                "--config",
                str(path),
                "--trainer.default_root_dir",
                str(tmp_path),
                *extra,
            ],
            run=False,
        )
        assert cli.trainer.logger is not None
        return
    if path.parent.name == "fast":  # the GPU fast path also sets CIFARDataModule options (device_resident, drop_last)
        cli = cli_main(
            [
                "--config",
                str(CONFIGS / "data/cifar10.yaml"),
                "--config",
                str(CONFIGS / "regime/large.yaml"),
                "--config",
                str(tiny),
                "--config",
                str(path),
                "--trainer.logger",
                "false",
                "--trainer.default_root_dir",
                str(tmp_path),
            ],
            run=False,
        )
        assert cli.datamodule.hparams.device_resident and cli.model.hparams.channels_last
        return
    # The GPU fast path configures the CIFAR data module (device-resident loading); nothing is loaded here.
    data = str(CONFIGS / "data/cifar10.yaml") if path.parent.name == "fast" else BASE[0]
    cli = _instantiate(tmp_path, str(CONFIGS / "regime/large.yaml"), str(tiny), str(path), data=data)
    assert cli.model is not None


@pytest.mark.parametrize("path", _glob("prune/*.yaml"), ids=_rel)
def test_prune_configs(path: Path) -> None:
    from pruning_lightning.cli.config import prune_parser
    from pruning_lightning.pruning import Pruner

    parser = prune_parser()
    cfg = parser.parse_args(["--config", str(path), "--ckpt", "x.ckpt", "--out", "out"])
    init = parser.instantiate_classes(cfg)
    assert isinstance(init.pruner, Pruner)
    assert cfg.base_epochs >= 1
