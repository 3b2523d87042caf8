"""Distillation regimes: the KD loss, the frozen teacher, the YAML regimes through ``cli_main``, bad input."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
import yaml

from pruning_lightning.cli.lightning_cli import cli_main
from pruning_lightning.core.errors import PruningError
from pruning_lightning.data import RandomImageDataModule
from pruning_lightning.data.cifar import CIFARDataModule
from pruning_lightning.formats.artifact import load_artifact
from pruning_lightning.main import main
from pruning_lightning.modules import DistillFineTuneModule, DistillScratchModule
from pruning_lightning.modules.teacher import kd_loss, load_teacher
from pruning_lightning.utils.flops import count_complexity
from tests.helpers import TINY_VGG

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _trainer(root: Path, *extra: str) -> list[str]:
    return [
        "--config",
        str(CONFIGS / "data/synthetic.yaml"),
        "--trainer.accelerator",
        "cpu",
        "--trainer.devices",
        "1",
        "--trainer.limit_train_batches",
        "2",
        "--trainer.limit_val_batches",
        "1",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
        "--trainer.logger",
        "false",
        "--trainer.default_root_dir",
        str(root),
        *extra,
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A tiny large-model checkpoint (the teacher) and a slimming artifact of it (the student)."""
    d = tmp_path_factory.mktemp("kd")
    arch = d / "arch.yaml"
    arch.write_text(TINY_VGG.to_yaml())
    cli_main(
        [
            "fit",
            "--config",
            str(CONFIGS / "regime/large.yaml"),
            "--config",
            str(arch),
            *_trainer(d / "large", "--trainer.max_epochs", "1"),
        ]
    )
    ckpt = d / "large" / "checkpoints" / "last.ckpt"
    main(
        [
            "prune",
            "--config",
            str(CONFIGS / "prune/slimming_50.yaml"),
            "--ckpt",
            str(ckpt),
            "--out",
            str(d / "prune"),
            "--base_epochs",
            "2",
        ]
    )
    return SimpleNamespace(dir=d, ckpt=ckpt, prune=d / "prune", art=load_artifact(d / "prune"))


def _softmax(v: list[float]) -> list[float]:
    e = [math.exp(a) for a in v]
    return [a / sum(e) for a in e]


def test_kd_loss_matches_hand_computation() -> None:
    s, t, y, T, alpha = [[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]], [[3.0, 1.0, 0.0], [0.0, 0.0, 2.0]], [2, 0], 2.0, 0.7
    kl = ce = 0.0
    for si, ti, yi in zip(s, t, y, strict=True):
        ps, pt = _softmax([a / T for a in si]), _softmax([a / T for a in ti])
        kl += sum(q * (math.log(q) - math.log(p)) for p, q in zip(ps, pt, strict=True)) / len(s)
        ce += -math.log(_softmax(si)[yi]) / len(s)
    expected = alpha * T * T * kl + (1 - alpha) * ce
    got = kd_loss(torch.tensor(s), torch.tensor(t), torch.tensor(y), temperature=T, alpha=alpha)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_kd_loss_limits() -> None:
    g = torch.Generator().manual_seed(0)
    s, t, y = torch.randn(8, 10, generator=g), torch.randn(8, 10, generator=g), torch.randint(0, 10, (8,), generator=g)
    assert torch.equal(kd_loss(s, t, y, alpha=0.0), F.cross_entropy(s, y))  # alpha = 0: plain cross-entropy
    assert kd_loss(s, s, y, alpha=1.0).abs().item() < 1e-6  # identical teacher: no soft loss
    assert kd_loss(s, t, y, alpha=1.0).item() > 0


@pytest.mark.parametrize(
    ("temperature", "alpha", "word"),
    [
        (0.0, 0.5, "temperature"),
        (-1.0, 0.5, "temperature"),
        (float("nan"), 0.5, "temperature"),
        (4.0, -0.1, "alpha"),
        (4.0, 1.5, "alpha"),
    ],
)
def test_bad_temperature_or_alpha(temperature: float, alpha: float, word: str) -> None:
    s, y = torch.zeros(2, 3), torch.zeros(2, dtype=torch.long)
    with pytest.raises(PruningError, match=word):
        kd_loss(s, s, y, temperature=temperature, alpha=alpha)
    m = DistillFineTuneModule(
        TINY_VGG, weights_from="x", teacher="y", temperature=temperature, alpha=alpha, num_classes=10
    )
    with pytest.raises(PruningError, match=word):  # checked before the teacher is even looked for
        m.attach_teacher()


def test_teacher_is_frozen_unregistered_and_follows_dtype(runs: SimpleNamespace) -> None:
    m = DistillFineTuneModule(runs.art.arch, weights_from=str(runs.prune), teacher=str(runs.ckpt), num_classes=10)
    teacher = m.attach_teacher()
    assert not any(k.startswith("teacher") for k in m.state_dict())
    assert {id(p) for p in teacher.parameters()}.isdisjoint(id(p) for p in m.parameters())
    assert all(mod is not teacher for mod in m.modules())
    m.train()
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    loss = m.compute_loss(m(x), x, y)
    loss.backward()
    assert not teacher.training
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert all(p.grad is not None for p in m.net.parameters() if p.requires_grad)
    m.net.to(torch.bfloat16)  # e.g. precision "bf16-true": the teacher follows the student's dtype
    assert m.teacher_logits(x).dtype == torch.bfloat16
    assert next(teacher.parameters()).dtype == torch.bfloat16


def test_teacher_outside_ddp(runs: SimpleNamespace) -> None:
    # A one-process gloo group: DDP registers and all-reduces only the student's parameters.
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:0", rank=0, world_size=1)
    try:
        m = DistillFineTuneModule(runs.art.arch, weights_from=str(runs.prune), teacher=str(runs.ckpt), num_classes=10)
        teacher = m.attach_teacher()
        ddp = DistributedDataParallel(m)
        assert {id(p) for p in ddp.parameters()} == {id(p) for p in m.net.parameters()}
        x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
        m.compute_loss(ddp(x), x, y).backward()
        assert all(p.grad is not None for p in m.net.parameters())
        assert all(p.grad is None for p in teacher.parameters()) and not teacher.training
    finally:
        dist.destroy_process_group()


def test_bad_teachers(runs: SimpleNamespace, tmp_path: Path) -> None:
    for path in (runs.prune, runs.prune / "pruned.pt"):
        with pytest.raises(PruningError, match="pruned artifact"):
            load_teacher(str(path), runs.art.arch, 10)
    with pytest.raises(PruningError, match="10 classes but the student has 5"):
        load_teacher(str(runs.ckpt), runs.art.arch, 5)
    with pytest.raises(PruningError, match="not found"):
        load_teacher(str(tmp_path / "missing.ckpt"), runs.art.arch, 10)
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    with pytest.raises(PruningError, match="not a pruning-lightning checkpoint"):
        load_teacher(str(tmp_path / "other.ckpt"), runs.art.arch, 10)
    # Another dataset: Lightning records a datamodule's saved hparams in the checkpoint.
    ckpt = torch.load(runs.ckpt, weights_only=True)
    for cls, name, student_dm, ok in [
        ("pruning_lightning.data.CIFARDataModule", "cifar10", RandomImageDataModule(), False),
        ("pruning_lightning.data.CIFARDataModule", "cifar10", CIFARDataModule("cifar100", download=False), False),
        ("pruning_lightning.data.CIFARDataModule", "cifar10", CIFARDataModule("cifar10", download=False), True),
        ("pruning_lightning.data.RandomImageDataModule", None, RandomImageDataModule(), True),
    ]:
        ckpt["datamodule_hyper_parameters"] = {"_class_path": cls, **({"name": name} if name else {})}
        torch.save(ckpt, tmp_path / "t.ckpt")
        if ok:
            load_teacher(str(tmp_path / "t.ckpt"), runs.art.arch, 10, student_dm)
        else:
            with pytest.raises(PruningError, match="same dataset"):
                load_teacher(str(tmp_path / "t.ckpt"), runs.art.arch, 10, student_dm)


def test_finetune_kd_through_cli(runs: SimpleNamespace) -> None:
    root = runs.dir / "ft_kd"
    cli = cli_main(
        [
            "fit",
            "--config",
            str(CONFIGS / "regime/finetune_kd.yaml"),
            "--config",
            str(runs.prune / "arch.yaml"),
            *_trainer(root, "--trainer.max_epochs", "1"),
            "--trainer.logger",
            "lightning.pytorch.loggers.CSVLogger",
            "--trainer.logger.save_dir",
            str(root),
            "--model.init_args.weights_from",
            str(runs.prune / "pruned.pt"),
            "--model.init_args.teacher",
            str(runs.ckpt),
        ]
    )
    m = cli.model
    assert type(m) is DistillFineTuneModule and (m.temperature, m.alpha) == (4.0, 0.9)
    # Teacher: unchanged weights, eval mode, no grads, not optimised, not checkpointed.
    large = torch.load(runs.ckpt, weights_only=True)["state_dict"]
    for k, v in m.teacher.state_dict().items():
        assert torch.equal(v, large[f"net.{k}"]), k
    assert not m.teacher.training and all(p.grad is None for p in m.teacher.parameters())
    n_opt = sum(len(g["params"]) for g in cli.trainer.optimizers[0].param_groups)
    assert n_opt == len(list(m.net.parameters()))
    ck = torch.load(next(root.rglob("last.ckpt")), weights_only=True)
    assert not any("teacher" in k for k in ck["state_dict"])
    assert {k.split(".", 1)[1] for k in ck["state_dict"] if k.startswith("net.")} == set(m.net.state_dict())
    assert ck["hyper_parameters"]["teacher"] == str(runs.ckpt)
    # The teacher's cost is reported beside the student's.
    hp = yaml.safe_load(next(root.rglob("hparams.yaml")).read_text())
    teacher_flops = count_complexity(m.teacher, (3, 32, 32)).flops
    assert hp["distill/teacher_flops"] == teacher_flops
    assert hp["distill/teacher_student_flops_ratio"] == pytest.approx(teacher_flops / runs.art.stats["flops_after"])
    assert hp["distill/teacher_student_flops_ratio"] > 1
    assert "train/kd_kl" in next(root.rglob("metrics.csv")).read_text()
    # Resume from the checkpoint alone: the teacher comes back from hparams, not from the state dict.
    cli = cli_main(
        [
            "fit",
            *_trainer(root / "resume", "--trainer.max_epochs", "2"),
            "--ckpt_path",
            str(next(root.rglob("last.ckpt"))),
        ]
    )
    assert type(cli.model) is DistillFineTuneModule and cli.trainer.current_epoch == 2
    assert cli.model.teacher is not None and not cli.model.teacher.training


def test_scratch_b_kd_budget_counts_student_only(runs: SimpleNamespace) -> None:
    root = runs.dir / "sb_kd"
    cli = cli_main(
        [
            "fit",
            "--config",
            str(CONFIGS / "regime/scratch_b_kd.yaml"),
            "--config",
            str(runs.prune / "arch.yaml"),
            "--config",
            str(runs.prune / "scratch_b.yaml"),
            *_trainer(root),
            "--model.init_args.structure_from",
            str(runs.prune / "pruned.pt"),
            "--model.init_args.teacher",
            str(runs.ckpt),
        ]
    )
    assert type(cli.model) is DistillScratchModule and cli.model.budget == "B"
    assert cli.trainer.max_epochs == runs.art.stats["scratch_b_epochs"] == cli.trainer.current_epoch


def test_bad_kd_config_is_one_line_error(runs: SimpleNamespace, capsys: pytest.CaptureFixture[str]) -> None:
    base = [
        "fit",
        "--config",
        str(CONFIGS / "regime/finetune_kd.yaml"),
        "--config",
        str(runs.prune / "arch.yaml"),
        *_trainer(runs.dir / "bad", "--trainer.max_epochs", "1"),
        "--model.init_args.weights_from",
        str(runs.prune / "pruned.pt"),
    ]
    for extra, word in [
        (["--model.init_args.teacher", str(runs.ckpt), "--model.init_args.alpha", "2"], "alpha"),
        (["--model.init_args.teacher", str(runs.prune / "pruned.pt")], "pruned artifact"),
    ]:
        with pytest.raises(SystemExit) as e:
            main([*base, *extra])
        err = capsys.readouterr().err
        assert e.value.code == 2 and err.startswith("error: ") and word in err


def test_scratch_e_kd_config(runs: SimpleNamespace) -> None:
    cli = cli_main(
        [
            "--config",
            str(CONFIGS / "regime/scratch_e_kd.yaml"),
            "--config",
            str(runs.prune / "arch.yaml"),
            *_trainer(runs.dir / "se_kd"),
            "--model.init_args.structure_from",
            str(runs.prune / "pruned.pt"),
            "--model.init_args.teacher",
            str(runs.ckpt),
        ],
        run=False,
    )
    m = cli.model
    assert type(m) is DistillScratchModule and m.budget == "E" and cli.trainer.max_epochs == 160
    assert (m.temperature, m.alpha, m.teacher_path) == (4.0, 0.9, str(runs.ckpt))
