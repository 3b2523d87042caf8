"""Scratch-B arithmetic (PAPER §2.3), LR milestones as fractions, and the ImageNet int(E/3) steps."""

from __future__ import annotations

import pytest
import torch

from pruning_lightning.core.errors import PruningError
from pruning_lightning.utils.schedule import lr_milestones, milestone_epochs, scratch_b_epochs, step_every_epochs


@pytest.mark.parametrize(
    ("base", "ratio", "cap", "expected"),
    [
        (160, 1.519, None, 243),  # VGG-16-A
        (160, 1.1157, None, 178),  # ResNet-56-A
        (160, 1.3791, None, 220),  # ResNet-56-B
        (160, 1.6273, None, 260),  # ResNet-110-B
        (90, 1.569, 2.0, 141),  # ThiNet-70
        (90, 3.23, 2.0, 180),  # VGG-Conv, capped
        (90, 2.0, 2.0, 180),  # exactly at the cap
        (100, 1.796, None, 179),  # SSS ResNet-26
        (160, 1.0, None, 160),  # unpruned: Scratch-B == Scratch-E
    ],
)
def test_scratch_b_epochs(base: int, ratio: float, cap: float | None, expected: int) -> None:
    assert scratch_b_epochs(base, ratio, cap) == expected


def test_milestones_scale_with_epochs() -> None:
    assert milestone_epochs((0.5, 0.75), 160) == [80, 120]
    assert milestone_epochs((0.5, 0.75), 243) == [121, 182]  # PAPER §2.3 VGG-16-A LR steps
    assert milestone_epochs((0.5, 0.75), 1) == []  # never decay before the first step


def test_bad_schedule_inputs() -> None:
    with pytest.raises(PruningError):
        scratch_b_epochs(0, 1.5)
    with pytest.raises(PruningError):
        scratch_b_epochs(160, 0.0)
    with pytest.raises(PruningError):
        milestone_epochs((80,), 160)


def _lrs(milestones: list[int], epochs: int, lr: float = 0.1) -> list[float]:
    """The LR of each epoch under MultiStepLR(milestones, gamma=0.1), as configure_optimizers builds it."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize("epochs", [90, 106, 118, 134, 141, 145, 179, 180])
def test_imagenet_steps_follow_reference_formula_every_epoch(epochs: int) -> None:
    # Reference ImageNet scripts: lr = 0.1 * 0.1 ** (epoch // int(E / 3)) (PAPER §1.3 / §2.3).
    ms = lr_milestones([], "1/3", epochs)
    expected = [0.1 * 0.1 ** (e // int(epochs / 3)) for e in range(epochs)]
    assert _lrs(ms, epochs) == pytest.approx(expected, rel=1e-9)
    # The old fractions (just above 1/3 and 2/3) lose the third decay at 106/118/134 and step late at 179.
    if epochs in (106, 118, 134, 179):
        assert _lrs(milestone_epochs((0.33334, 0.66667), epochs), epochs) != pytest.approx(expected, rel=1e-9)


def test_step_every_known_answers() -> None:
    assert step_every_epochs("1/3", 106) == [35, 70, 105]  # ResNet-34-A: three decays, the last at 105
    assert step_every_epochs("1/3", 90) == [30, 60]
    assert step_every_epochs("1/3", 180) == [60, 120]  # the 2x cap: every 60
    # SSS MXNet recipe (PAPER §2.3 README steps): every int(0.3 E).
    assert step_every_epochs(0.3, 100) == [30, 60, 90]
    assert step_every_epochs(0.3, 117) == [35, 70, 105]
    assert step_every_epochs(0.3, 145) == [43, 86, 129]
    assert step_every_epochs(0.3, 179) == [53, 106, 159]
    assert step_every_epochs("1/3", 2) == []  # a step of 0 epochs: no decay
    assert lr_milestones((0.5, 0.75), None, 160) == [80, 120]  # CIFAR unchanged
    with pytest.raises(PruningError, match="not both"):
        lr_milestones((0.5,), "1/3", 90)
    for bad in ("1", "abc", 1.5, "1/0"):
        with pytest.raises(PruningError, match="lr_step_every"):
            step_every_epochs(bad, 90)


def test_imagenet_regime_reaches_the_scheduler(tmp_path, trainer_args: list[str]) -> None:  # noqa: ANN001
    from pathlib import Path

    from pruning_lightning.cli.lightning_cli import cli_main
    from tests.helpers import TINY_VGG

    configs = Path(__file__).resolve().parents[1] / "configs"
    arch = tmp_path / "arch.yaml"
    arch.write_text(TINY_VGG.to_yaml())
    args = ["--config", str(configs / "data/synthetic.yaml"), "--config", str(configs / "regime/imagenet/large.yaml")]
    cli = cli_main([*args, "--config", str(arch), *trainer_args, "--trainer.max_epochs", "106"], run=False)
    assert cli.model.hparams.lr_step_every == "1/3"
    cli.model.trainer = cli.trainer
    sched = cli.model.configure_optimizers()["lr_scheduler"]["scheduler"]
    assert sorted(sched.milestones) == [35, 70, 105]
