"""Lottery-ticket regime (PAPER §4.1) through the real entry points: large (+ init.pt) -> prune ->
winning ticket / random control -> another iterative round; structured L1 tickets; errors."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from pruning_lightning.cli.lightning_cli import cli_main
from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.artifact import load_artifact, write_artifact
from pruning_lightning.main import main
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.modules.lottery import LotteryModule, load_init
from pruning_lightning.pruning import L1NormPruner, prune
from tests.helpers import TINY_VGG, TINY_VGG_L1

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


class Capture(L.Callback):
    """Records the network's state when training starts (after every setup-time init)."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.state = {k: v.detach().clone() for k, v in pl_module.net.state_dict().items()}  # type: ignore[union-attr]


def _fit(tmp_path: Path, trainer_args: list[str], root: str, *configs: str, extra: tuple[str, ...] = ()) -> tuple:
    args = ["--config", str(CONFIGS / "data/synthetic.yaml")]  # run=False: no subcommand
    for c in configs:
        args += ["--config", c]
    args += [*trainer_args, "--trainer.default_root_dir", str(tmp_path / root), *extra]
    cli = cli_main(args, run=False)
    capture = Capture()
    cli.trainer.callbacks.append(capture)
    before = {k: v.detach().clone() for k, v in cli.model.net.state_dict().items()}
    cli.trainer.fit(cli.model, cli.datamodule)
    return cli, before, capture.state


def _masks(path: Path) -> dict[str, torch.Tensor]:
    return {k.removeprefix("mask:"): v for k, v in load_artifact(path).structure.items()}


def _zeros(masks: dict[str, torch.Tensor]) -> int:
    return sum(int((~m).sum()) for m in masks.values())


@pytest.mark.slow
def test_winning_ticket_random_control_and_iterative_round(tmp_path: Path, trainer_args: list[str]) -> None:
    arch_yaml = tmp_path / "arch.yaml"
    arch_yaml.write_text(TINY_VGG.to_yaml())
    large, initial, _ = _fit(
        tmp_path,
        trainer_args,
        "large",
        str(CONFIGS / "regime/lottery_large.yaml"),
        str(arch_yaml),
        extra=("--trainer.max_epochs", "1"),
    )
    init_arch, init = load_init(tmp_path / "large" / "init.pt")
    assert init_arch == large.model.arch
    assert all(torch.equal(init[k], initial[k]) for k in initial)  # init.pt = the weights before step 1
    assert not torch.equal(init["features.conv1.weight"], large.model.net.features.conv1.weight)

    main(
        [
            "prune",
            "--config",
            str(CONFIGS / "prune/magnitude_50.yaml"),
            "--ckpt",
            str(tmp_path / "large/checkpoints/last.ckpt"),
            "--out",
            str(tmp_path / "prune1"),
            "--base_epochs",
            "1",
        ]
    )
    masks = _masks(tmp_path / "prune1")
    common = (str(tmp_path / "prune1/arch.yaml"),)
    art = ("--model.init_args.structure_from", str(tmp_path / "prune1/pruned.pt"), "--trainer.max_epochs", "1")

    ticket, _, start = _fit(
        tmp_path,
        trainer_args,
        "winning",
        str(CONFIGS / "regime/lottery_winning_lr0.01.yaml"),
        *common,
        extra=(*art, "--model.init_args.init_from", str(tmp_path / "large/init.pt")),
    )
    assert ticket.model.hparams.lr == 0.01
    for k, v in init.items():  # the ticket starts from the stored init ⊙ mask (all other tensors: the init)
        assert torch.equal(start[k], v * masks[k] if k in masks else v), k
    for k, m in masks.items():
        assert not ticket.model.net.get_parameter(k)[~m].any()  # and the mask held while training

    control, _, start = _fit(
        tmp_path, trainer_args, "random", str(CONFIGS / "regime/lottery_random.yaml"), *common, extra=art
    )
    assert control.model.hparams.lr == 0.1
    for k, m in masks.items():
        assert torch.equal(start[k] != 0, m)  # fresh values exactly on the mask
        assert not torch.equal(start[k], init[k] * m)

    # Next iterative round: prune 20% of the *remaining* weights of the trained ticket.
    main(
        [
            "prune",
            "--config",
            str(CONFIGS / "prune/magnitude_50.yaml"),
            "--ckpt",
            str(tmp_path / "winning/checkpoints/last.ckpt"),
            "--out",
            str(tmp_path / "prune2"),
            "--base_epochs",
            "1",
            "--pruner.init_args.ratio",
            "0.2",
            "--pruner.init_args.of_remaining",
            "true",
        ]
    )
    again = _masks(tmp_path / "prune2")
    total = sum(m.numel() for m in masks.values())
    assert _zeros(again) == _zeros(masks) + int((total - _zeros(masks)) * 0.2) + 1
    assert all(not (again[k] & ~masks[k]).any() for k in masks)


def _trainer(root: Path, capture: Capture) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        max_steps=2,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(root),
        callbacks=[capture],
    )


def _init_file(tmp_path: Path, arch: object, net: torch.nn.Module) -> Path:
    from pruning_lightning.modules.lottery import INIT_FORMAT

    path = tmp_path / "init.pt"
    torch.save({"format": INIT_FORMAT, "arch": arch.to_dict(), "state_dict": net.state_dict()}, path)  # type: ignore[attr-defined]
    return path


@pytest.mark.parametrize("mask_bn", [False, True], ids=["conv_only", "with_bn"])
def test_structured_l1_winning_ticket(tmp_path: Path, mask_bn: bool) -> None:
    """Default: only conv filters are masked (the reference); mask_bn=True also masks BN gamma/beta."""
    from pruning_lightning.data.synthetic import RandomImageDataModule

    arch = resolve(TINY_VGG_L1)
    init_net = build_arch(arch, 10)
    init = _init_file(tmp_path, arch, init_net)
    trained = build_arch(arch, 10)  # stands in for the trained large model
    pruner = L1NormPruner((0.5,) * 5, as_masks=True, mask_bn=mask_bn)
    out = write_artifact(prune(trained, arch, pruner), tmp_path / "prune")
    masks = _masks(out)
    assert {k.rsplit(".", 2)[-2][:2] for k in masks} == ({"co", "bn"} if mask_bn else {"co"})
    assert all(k.endswith(".weight") and masks[k].dim() == 4 for k in masks) != mask_bn
    capture = Capture()
    model = LotteryModule(arch, structure_from=str(out), init_from=str(init), ticket="winning", num_classes=10)
    _trainer(tmp_path, capture).fit(model, RandomImageDataModule(num_samples=16, batch_size=8))
    for k, v in init_net.state_dict().items():
        assert torch.equal(capture.state[k], v * masks[k] if k in masks else v), k
    for k, m in masks.items():
        assert not model.net.get_parameter(k)[~m].any()


def _random_ticket_start(tmp_path: Path, pruner: object, random_init: str) -> tuple[dict, dict, dict]:
    """(masks, the random ticket's weights at train start, the dense init of the same seed)."""
    from pruning_lightning.formats.artifact import load_artifact as _load

    arch = resolve(TINY_VGG_L1)
    out = write_artifact(prune(build_arch(arch, 10), arch, pruner), tmp_path / f"prune_{pruner.name}_{random_init}")  # type: ignore[arg-type]
    torch.manual_seed(7)
    dense = {k: v.clone() for k, v in build_arch(arch, 10).state_dict().items()}
    torch.manual_seed(7)
    model = LotteryModule(arch, structure_from=str(out), ticket="random", random_init=random_init, num_classes=10)
    model.on_artifact(_load(out))
    return _masks(out), {k: v.detach().clone() for k, v in model.net.state_dict().items()}, dense


def test_random_ticket_init_dense_by_default_for_structured(tmp_path: Path) -> None:
    from pruning_lightning.pruning import MagnitudePruner

    l1 = L1NormPruner((0.5,) * 5, as_masks=True)
    # auto = dense for a structured ticket: the network's own (dense fan-out) init, masked, drawn from a stream
    # of its own: never the same-seed dense init, which is the large run's init (the winning ticket) in a pipeline.
    for kind in ("auto", "dense"):
        masks, got, dense = _random_ticket_start(tmp_path, l1, kind)
        params = {k for k, _ in build_arch(resolve(TINY_VGG_L1), 10).named_parameters()}
        for k in params:
            if dense[k].float().std() > 0:  # BN weights/biases are constants: equal by construction
                assert not torch.equal(got[k], dense[k] * masks[k] if k in masks else dense[k]), (kind, k)
        for k, m in masks.items():
            assert not got[k][~m].any()
        ratio = float(got["features.conv3.weight"][masks["features.conv3.weight"]].std())
        ratio /= float(dense["features.conv3.weight"].std())
        assert 0.7 < ratio < 1.3, (kind, ratio)  # the dense fan-out std, not the density-scaled one
    # The stream is reproducible from the seed and leaves the global RNG where it was.
    from pruning_lightning.modules.fresh_init import fresh_init

    arch = resolve(TINY_VGG_L1)
    nets = []
    for _ in range(2):
        torch.manual_seed(11)
        net = build_arch(arch, 10)
        state = torch.get_rng_state()
        fresh_init(net, arch, "lottery-random")
        assert torch.equal(torch.get_rng_state(), state)
        nets.append(net.state_dict())
    assert all(torch.equal(nets[0][k], nets[1][k]) for k in nets[0])
    # density: surviving filters redrawn with std sqrt(2 / (nnz / C_in)), i.e. scaled up by sqrt(1 / 0.5).
    masks, got, dense = _random_ticket_start(tmp_path, l1, "density")
    w, m = got["features.conv3.weight"], masks["features.conv3.weight"]
    assert not torch.equal(w, dense["features.conv3.weight"] * m) and not w[~m].any()
    ratio = float(w[m].std() / dense["features.conv3.weight"].std())
    assert 1.15 < ratio < 1.7  # sqrt(2) expected, tiny layer
    # auto = density for an unstructured ticket (the reference's weight-level scripts).
    masks, got, dense = _random_ticket_start(tmp_path, MagnitudePruner(0.5), "auto")
    assert not torch.equal(
        got["features.conv3.weight"], dense["features.conv3.weight"] * masks["features.conv3.weight"]
    )
    with pytest.raises(PruningError, match="random_init"):
        LotteryModule(resolve(TINY_VGG), structure_from="x", ticket="random", random_init="fan_in", num_classes=10)  # type: ignore[arg-type]
    with pytest.raises(PruningError, match="mask_bn"):
        L1NormPruner((0.5,) * 5, mask_bn=True)


def test_random_ticket_is_never_the_winning_ticket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A random ticket built under the large run's seed starts elsewhere; without its own stream it is refused."""
    import pruning_lightning.modules.lottery as lottery

    arch = resolve(TINY_VGG_L1)
    torch.manual_seed(3)
    init = _init_file(tmp_path, arch, build_arch(arch, 10))  # the "large run" of seed 3
    out = write_artifact(prune(build_arch(arch, 10), arch, L1NormPruner((0.5,) * 5, as_masks=True)), tmp_path / "p")
    torch.manual_seed(3)
    winning = LotteryModule(arch, structure_from=str(out), init_from=str(init), ticket="winning", num_classes=10)
    winning.on_artifact(load_artifact(out))
    torch.manual_seed(3)
    random = LotteryModule(arch, structure_from=str(out), init_from=str(init), ticket="random", num_classes=10)
    random.on_artifact(load_artifact(out))  # init_from given: checked against the original init, passes
    w, r = winning.net.get_parameter("features.conv3.weight"), random.net.get_parameter("features.conv3.weight")
    assert w.abs().sum() > 0 and not torch.equal(w, r)
    monkeypatch.setattr(lottery, "fresh_init", lambda net, arch, tag: None)  # the same-seed construction init only
    torch.manual_seed(3)
    same = LotteryModule(arch, structure_from=str(out), init_from=str(init), ticket="random", num_classes=10)
    with pytest.raises(PruningError, match="starts at the large run's initial weights"):
        same.on_artifact(load_artifact(out))


def test_errors(tmp_path: Path) -> None:
    arch = resolve(TINY_VGG)
    net = build_arch(arch, 10)
    with pytest.raises(PruningError, match="needs the large run's initial weights"):
        LotteryModule(arch, structure_from="x", ticket="winning", num_classes=10)
    with pytest.raises(PruningError, match="initial weights not found"):
        load_init(tmp_path / "missing.pt")
    torch.save({"weights": 1}, tmp_path / "bad.pt")
    with pytest.raises(PruningError, match="not an init.pt"):
        load_init(tmp_path / "bad.pt")
    small = write_artifact(prune(net, arch, L1NormPruner((0.5,) * 5)), tmp_path / "small")
    model = LotteryModule(load_artifact(small).arch, structure_from=str(small), ticket="random", num_classes=10)
    with pytest.raises(PruningError, match="holds no masks"):
        model.on_artifact(load_artifact(small))
    masked = write_artifact(prune(net, arch, L1NormPruner((0.5,) * 5, as_masks=True)), tmp_path / "masked")
    other = resolve(TINY_VGG_L1)
    init = _init_file(tmp_path, other, build_arch(other, 10))
    model = LotteryModule(arch, structure_from=str(masked), init_from=str(init), num_classes=10)
    with pytest.raises(PruningError, match="holds the initial weights of"):
        model.on_artifact(load_artifact(masked))


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONFIGS / "regime").glob("lottery*.yaml")))
def test_lottery_configs_instantiate(name: str, tmp_path: Path, trainer_args: list[str]) -> None:
    arch_yaml = tmp_path / "arch.yaml"
    arch_yaml.write_text(TINY_VGG.to_yaml())
    args = [
        "--config",
        str(CONFIGS / "data/synthetic.yaml"),
        "--config",
        str(CONFIGS / f"regime/{name}.yaml"),
        "--config",
        str(arch_yaml),
        *trainer_args,
    ]
    if "large" not in name:
        args += ["--model.init_args.structure_from", "p.pt", "--model.init_args.init_from", "init.pt"]
    cli = cli_main(args, run=False)
    assert cli.model.hparams.lr == (0.01 if name.endswith("lr0.01") else 0.1)
    assert cli.trainer.max_epochs == 160
    if "large" in name:
        assert any(type(c).__name__ == "SaveInitialWeights" for c in cli.trainer.callbacks)
    else:
        assert isinstance(cli.model, LotteryModule) and cli.model.ticket == name.split("_")[1]
