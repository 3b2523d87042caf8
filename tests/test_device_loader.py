"""Device-resident CIFAR loader: augmentation distribution, equality with torchvision, DDP shards; fast-path config."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from scipy.stats import chi2
from torch.utils.data import DistributedSampler
from torchvision import transforms as T

from pruning_lightning.cli.lightning_cli import cli_main
from pruning_lightning.core.errors import PruningError
from pruning_lightning.data import CIFARDataModule
from pruning_lightning.data.device_loader import DeviceCIFARLoader, EpochShards
from pruning_lightning.data.transforms import MEAN_STD, cifar_eval_transform, cifar_train_transform
from tests.helpers import TINY_VGG

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SHARED_DATA = ROOT.parent / "shared" / "data"
MEAN, STD = MEAN_STD["cifar10"]


def _coded_images(n: int, seed: int = 0) -> torch.Tensor:
    """Channel 0 holds row+1, channel 1 col+1 (so crops/flips can be read back), channel 2 noise."""
    ar = torch.arange(1, 33, dtype=torch.uint8)
    img = torch.empty(n, 3, 32, 32, dtype=torch.uint8)
    img[:, 0] = ar[:, None]
    img[:, 1] = ar[None, :]
    img[:, 2] = torch.randint(0, 256, (n, 32, 32), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
    return img


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    mean, std = torch.tensor(MEAN)[:, None, None], torch.tensor(STD)[:, None, None]
    return ((x * std + mean) * 255).round().to(torch.uint8)


def _read_back(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(dy, dx, flip) of normalised crops of `_coded_images` (the centre pixel is never padding)."""
    u = _to_uint8(x).long()
    flip = u[:, 1, 16, 17] < u[:, 1, 16, 16]
    dy = u[:, 0, 16, 16] - 13
    dx = u[:, 1, 16, 16] - 13 + flip.long()
    return dy, dx, flip


def _chi2_ok(values: torch.Tensor, bins: int, p: float = 1e-3) -> bool:
    counts = torch.bincount(values, minlength=bins).double()
    expected = len(values) / bins
    return float(((counts - expected) ** 2 / expected).sum()) < chi2.ppf(1 - p, bins - 1)


def _draws(loader: DeviceCIFARLoader, epochs: int) -> list[torch.Tensor]:
    out = []
    for e in range(epochs):
        loader.set_epoch(e)
        out += [x for x, _ in loader]
    return out


def test_crop_offsets_and_flips_are_uniform() -> None:
    imgs = _coded_images(1000)
    loader = DeviceCIFARLoader(imgs, torch.zeros(1000, dtype=torch.long), 500, MEAN, STD, seed=3)
    dy, dx, flip = (torch.cat(t) for t in zip(*(_read_back(x) for x in _draws(loader, 10)), strict=True))
    assert len(dy) == 10000 and dy.min() == 0 and dy.max() == 8 and dx.min() == 0 and dx.max() == 8
    assert _chi2_ok(dy, 9) and _chi2_ok(dx, 9) and _chi2_ok(dy * 9 + dx, 81)  # offsets independent and uniform
    assert _chi2_ok(flip.long(), 2) and _chi2_ok(flip.long() * 81 + dy * 9 + dx, 162)
    # The bound has power: offsets that never reach 8 (a classic off-by-one) fail it.
    assert not _chi2_ok(torch.randint(0, 8, (10000,)), 9)
    assert not _chi2_ok((torch.rand(10000) < 0.46).long(), 2)


def test_batches_equal_torchvision_for_the_same_crop_and_flip(monkeypatch: pytest.MonkeyPatch) -> None:
    imgs = _coded_images(64, seed=1)
    loader = DeviceCIFARLoader(imgs, torch.arange(64), 16, MEAN, STD, seed=0)
    tf = cifar_train_transform("cifar10")
    crop, flipper = tf.transforms[0], tf.transforms[1]
    assert isinstance(crop, T.RandomCrop) and isinstance(flipper, T.RandomHorizontalFlip)
    n_flipped = 0
    for x, y in loader:
        for xi, yi, dy, dx, fl in zip(x, y, *_read_back(x), strict=True):
            offsets = (int(dy), int(dx), 32, 32)
            monkeypatch.setattr(T.RandomCrop, "get_params", staticmethod(lambda img, size, o=offsets: o))
            flipper.p = 1.0 if fl else 0.0
            ref = tf(Image.fromarray(imgs[yi].permute(1, 2, 0).numpy()))
            assert torch.equal(xi, ref)  # bit-identical, padding included
            n_flipped += int(fl)
    assert 0 < n_flipped < 64


def test_eval_batches_are_ordered_unaugmented_and_complete() -> None:
    imgs = _coded_images(50, seed=2)
    loader = DeviceCIFARLoader(imgs, torch.arange(50), 16, MEAN, STD, train=False)
    batches = list(loader)
    assert len(loader) == len(batches) == 4 and len(batches[-1][1]) == 2
    x, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    assert torch.equal(y, torch.arange(50))
    ref = cifar_eval_transform("cifar10")
    for i in (0, 17, 49):
        assert torch.equal(x[i], ref(Image.fromarray(imgs[i].permute(1, 2, 0).numpy())))


def test_shuffle_changes_per_epoch_and_is_reproducible() -> None:
    loader = DeviceCIFARLoader(_coded_images(40), torch.arange(40), 8, MEAN, STD, seed=5)
    orders = [torch.cat([y for _, y in loader]) for _ in range(2)]
    loader.set_epoch(1)
    orders.append(torch.cat([y for _, y in loader]))
    assert torch.equal(orders[0], orders[1]) and not torch.equal(orders[0], orders[2])
    assert torch.equal(orders[2].sort().values, torch.arange(40))


@pytest.mark.parametrize("n", [40, 41])
def test_shards_match_distributed_sampler(n: int) -> None:
    for epoch in (0, 3):
        shards = []
        for rank in (0, 1):
            s = EpochShards(n, rank, 2, shuffle=True, seed=7)
            ref = DistributedSampler(range(n), num_replicas=2, rank=rank, shuffle=True, seed=7)
            s.set_epoch(epoch)
            ref.set_epoch(epoch)
            assert list(s) == list(ref) and len(s) == len(ref)
            shards.append(set(s))
        assert shards[0] | shards[1] == set(range(n))
        if n % 2 == 0:
            assert not shards[0] & shards[1]


def test_two_rank_loaders_are_disjoint_and_cover_the_dataset() -> None:
    n = 64
    ys = []
    for rank in (0, 1):
        loader = DeviceCIFARLoader(_coded_images(n), torch.arange(n), 8, MEAN, STD, rank=rank, world_size=2, seed=1)
        loader.set_epoch(2)
        ys.append(torch.cat([y for _, y in loader]).tolist())
    assert len(ys[0]) == len(ys[1]) == n // 2
    assert not set(ys[0]) & set(ys[1]) and set(ys[0]) | set(ys[1]) == set(range(n))


def test_drop_last_and_bad_input() -> None:
    loader = DeviceCIFARLoader(_coded_images(50), torch.arange(50), 16, MEAN, STD, drop_last=True)
    assert len(loader) == 3 and [len(y) for _, y in loader] == [16, 16, 16]
    with pytest.raises(PruningError, match="uint8"):
        DeviceCIFARLoader(torch.zeros(4, 3, 32, 32), torch.arange(4), 2, MEAN, STD)
    with pytest.raises(PruningError, match="rank"):
        EpochShards(10, rank=2, world_size=2)


needs_cifar = pytest.mark.skipif(not (SHARED_DATA / "cifar-10-batches-py").is_dir(), reason="no shared CIFAR copy")


@needs_cifar
def test_datamodule_device_resident_uses_the_same_images() -> None:
    kw = dict(data_dir=str(SHARED_DATA), download=False, verify_checksums=False, subset=100, num_workers=0)
    dm = CIFARDataModule(batch_size=32, device_resident=True, drop_last=True, **kw)
    dm.setup("fit")
    train, val = dm.train_dataloader(), dm.val_dataloader()
    assert isinstance(train, DeviceCIFARLoader) and len(train) == 3  # 100 // 32, drop_last
    assert torch.equal(torch.bincount(train.labels, minlength=10), torch.full((10,), 10))
    x, y = next(iter(val))
    std = CIFARDataModule(eval_batch_size=256, **kw)
    std.setup("fit")
    x_ref, y_ref = next(iter(std.val_dataloader()))
    assert torch.equal(y, y_ref) and torch.equal(x, x_ref)
    assert len(std.train_dataloader()) == 2 and CIFARDataModule(drop_last=True, **kw).hparams.drop_last
    # Under DDP the loader takes rank and world size from the attached trainer.
    dm.trainer = SimpleNamespace(global_rank=1, world_size=2, strategy=SimpleNamespace(root_device=torch.device("cpu")))
    shard = dm.train_dataloader()
    # batch_size is global: 16 per rank, so 50 images // 16 = 3 batches (the global step count is unchanged).
    assert (shard.sampler.rank, shard.sampler.world_size, len(shard), shard.batch_size) == (1, 2, 3, 16)


def _printed_config(capsys: pytest.CaptureFixture[str], args: list[str]) -> dict:
    with pytest.raises(SystemExit):
        cli_main(["fit", *args, "--print_config"])
    return yaml.safe_load(capsys.readouterr().out)


def test_gpu_fragment_composes_with_regimes(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--config", str(CONFIGS / "data/cifar10.yaml"), "--config", str(CONFIGS / "arch/cifar/vgg19.yaml")]
    plain = _printed_config(capsys, [*base, "--config", str(CONFIGS / "regime/large.yaml")])
    assert plain["trainer"]["precision"] is None and not plain["model"]["init_args"]["channels_last"]
    assert not plain["data"]["init_args"]["device_resident"] and not plain["data"]["init_args"]["drop_last"]
    for regime in ("large", "finetune"):
        cfg = _printed_config(
            capsys,
            [
                *base,
                "--config",
                str(CONFIGS / f"regime/{regime}.yaml"),
                "--config",
                str(CONFIGS / "fast/gpu.yaml"),
                "--model.init_args.weights_from" if regime == "finetune" else "--trainer.max_epochs",
                "x.pt" if regime == "finetune" else "160",
            ],
        )
        assert cfg["trainer"]["precision"] == "bf16-mixed" and cfg["trainer"]["benchmark"] is True
        m = cfg["model"]["init_args"]
        assert m["channels_last"] and m["fused_optimizer"] and not m["compile"]
        assert m["arch"]["depth"] == 19
        assert cfg["model"]["class_path"].endswith({"large": "LargeModule", "finetune": "FineTuneModule"}[regime])
        d = cfg["data"]["init_args"]
        assert d["device_resident"] and d["drop_last"] and d["pin_memory"] and d["name"] == "cifar10"


@needs_cifar
def test_gpu_fragment_trains_on_cpu(tmp_path: Path, trainer_args: list[str]) -> None:
    arch = tmp_path / "arch.yaml"
    arch.write_text(TINY_VGG.to_yaml())
    cli = cli_main(
        [
            "fit",
            "--config",
            str(CONFIGS / "data/cifar10_shared.yaml"),
            "--config",
            str(CONFIGS / "regime/large.yaml"),
            "--config",
            str(arch),
            "--config",
            str(CONFIGS / "fast/gpu.yaml"),
            *trainer_args,
            "--data.init_args.data_dir",
            str(SHARED_DATA),
            "--data.init_args.subset",
            "100",
            "--data.init_args.batch_size",
            "16",
            "--trainer.max_epochs",
            "2",
        ]
    )
    assert cli.trainer.precision == "bf16-mixed" and cli.trainer.global_step == 4
    loader = cli.trainer.train_dataloader
    assert isinstance(loader, DeviceCIFARLoader) and loader.sampler.epoch == 1  # Lightning called set_epoch
    assert cli.model.net.features.conv2.weight.is_contiguous(memory_format=torch.channels_last)
    assert cli.trainer.optimizers[0].defaults["fused"] is True
    assert torch.isfinite(torch.as_tensor(cli.trainer.callback_metrics["train/loss_epoch"])).all()
    assert np.isfinite(float(cli.trainer.callback_metrics["val/acc1"]))
