"""Kept widths rounded up to a multiple of ``round_to`` (issue 20, an extension of arXiv 1810.05270 Sec. 4's
methods): known answers, ``round_to=1`` reproduces every method's own selection, real tiny nets, notes, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from pruning_lightning.cli.config import prune_parser
from pruning_lightning.core.errors import PruningError
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pruning import L1NormPruner, Pruner, SlimmingPruner, SoftFilterPruner, prune
from pruning_lightning.pruning.rounding import round_kept, rounded_width
from pruning_lightning.pruning.sfp import filter_l2, lowest_filters
from pruning_lightning.pruning.surgery import channel_units, numbered_units
from pruning_lightning.pruning.uniform import filter_l1
from tests.helpers import TINY_FAMILIES, TINY_VGG

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
R20 = ArchSpec("resnet_cifar", 20)


def _net(spec: ArchSpec, seed: int = 0) -> tuple[nn.Module, ArchSpec]:
    """A random net with random BN gammas and some tied filters (ties must resolve as before)."""
    arch = resolve(spec)
    torch.manual_seed(seed)
    net = build_arch(arch, 10).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(0.0, 1.0)
                m.weight[1] = m.weight[0]
            if isinstance(m, nn.Conv2d) and m.out_channels > 4:
                m.weight[3] = m.weight[2]
                m.weight[4] = -m.weight[2]  # the same L1 and L2 norm
    return net, arch


def test_known_answers() -> None:
    scores = torch.arange(10.0)
    assert round_kept(torch.tensor([9, 7, 8]), scores, 4).tolist() == [6, 7, 8, 9]  # keep 3, round to 4: top 4
    assert round_kept(torch.tensor([9, 7, 8]), scores, 1).tolist() == [7, 8, 9]
    assert round_kept(torch.tensor([0, 9]), scores, 3).tolist() == [0, 8, 9]  # the method's set stays; best added
    assert round_kept(torch.arange(9), scores, 4).tolist() == list(range(10))  # never above the full width
    assert round_kept(torch.tensor([5]), torch.ones(10), 3).tolist() == [0, 1, 5]  # ties: the lower index first
    assert [rounded_width(k, 64, 8) for k in (1, 8, 9, 57, 64)] == [8, 8, 16, 64, 64]


def _old_l1(net: nn.Module, arch: ArchSpec, ratios: tuple[float, ...], order: str) -> dict[str, torch.Tensor]:
    """The selection rule of L1NormPruner before round_to, written out independently."""
    modules, gen, out = dict(net.named_modules()), torch.Generator().manual_seed(0), {}
    for u in numbered_units(net, arch):
        assert u.stage is not None and u.conv is not None
        k = int(u.size * (1 - ratios[u.stage - 1]))
        if k == u.size:
            continue
        l1 = filter_l1(modules[u.conv].weight)
        ranked = (
            torch.randperm(u.size, generator=gen)
            if order == "random"
            else torch.sort(l1, descending=order == "largest", stable=True).indices
        )
        out[u.name] = torch.sort(ranked[:k]).values
    return out


def _old_sfp(net: nn.Module, arch: ArchSpec, ratio: float) -> dict[str, torch.Tensor]:
    modules, out = dict(net.named_modules()), {}
    for u in channel_units(net, arch):
        if u.conv is not None and len(drop := lowest_filters(modules[u.conv].weight, ratio)):
            alive = torch.ones(u.size, dtype=torch.bool)
            alive[drop] = False
            out[u.name] = torch.nonzero(alive).flatten()
    return out


def _old_slimming(net: nn.Module, arch: ArchSpec, ratio: float) -> dict[str, torch.Tensor]:
    modules = dict(net.named_modules())
    gammas = {u.name: modules[u.bn].weight.abs() for u in channel_units(net, arch) if u.bn is not None}
    everything = torch.cat(list(gammas.values())).sort().values
    threshold = everything[int(len(everything) * ratio)]
    return {name: torch.nonzero(g > threshold).flatten() for name, g in gammas.items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys() and a
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("order", ["largest", "smallest", "random"])
@pytest.mark.parametrize("spec", [TINY_VGG, R20], ids=["vgg", "resnet_cifar"])
def test_round_to_1_is_l1_norm_exactly(spec: ArchSpec, order: str) -> None:
    net, arch = _net(spec)
    ratios = (0.5, 0.3, 0.3, 0.6, 0.2) if arch.family == "vgg" else (0.6, 0.3, 0.1)
    old = _old_l1(net, arch, ratios, order)
    plan = L1NormPruner(ratios, order=order, round_to=1).select(net, arch)  # type: ignore[arg-type]
    _same(plan.channels, old)
    _same(L1NormPruner(ratios, order=order).select(net, arch).channels, old)  # type: ignore[arg-type]
    assert plan.notes == []


@pytest.mark.parametrize("spec", [TINY_VGG, R20], ids=["vgg", "resnet_cifar"])
def test_round_to_1_is_sfp_cut_exactly(spec: ArchSpec) -> None:
    net, arch = _net(spec)
    _same(SoftFilterPruner(0.3, round_to=1).select(net, arch).channels, _old_sfp(net, arch, 0.3))


@pytest.mark.parametrize("family", ["vgg", "preresnet", "densenet"])
def test_round_to_1_is_slimming_exactly(family: str) -> None:
    net, arch = _net(TINY_FAMILIES[family][0])
    _same(SlimmingPruner(0.5, min_channels=0, round_to=1).select(net, arch).channels, _old_slimming(net, arch, 0.5))


SCORES = {"l1": filter_l1, "l2": filter_l2}
CASES: list[tuple[str, ArchSpec, Pruner, Pruner, str]] = [
    ("l1-vgg", TINY_VGG, L1NormPruner((0.6, 0.3, 0.3, 0.6, 0.2)), L1NormPruner((0.6, 0.3, 0.3, 0.6, 0.2), round_to=8),
     "l1"),
    ("l1-resnet", R20, L1NormPruner((0.6, 0.3, 0.1)), L1NormPruner((0.6, 0.3, 0.1), round_to=8), "l1"),
    ("sfp-vgg", TINY_VGG, SoftFilterPruner(0.3), SoftFilterPruner(0.3, round_to=8), "l2"),
    ("sfp-resnet", R20, SoftFilterPruner(0.45), SoftFilterPruner(0.45, round_to=8), "l2"),
    ("slim-vgg", TINY_VGG, SlimmingPruner(0.6), SlimmingPruner(0.6, round_to=8), "gamma"),
    ("slim-preresnet", TINY_FAMILIES["preresnet"][0], SlimmingPruner(0.6), SlimmingPruner(0.6, round_to=8), "gamma"),
    ("slim-densenet", TINY_FAMILIES["densenet"][0], SlimmingPruner(0.6), SlimmingPruner(0.6, round_to=4), "gamma"),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "exact", "rounded", "score"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rounded_widths_on_tiny_nets(spec: ArchSpec, exact: Pruner, rounded: Pruner, score: str) -> None:
    """Every kept count is a multiple of round_to or the full width; the method's own set is kept and the added
    channels are its next best."""
    net, arch = _net(spec)
    modules = dict(net.named_modules())
    units = {u.name: u for u in channel_units(net, arch)}
    before, after = exact.select(net, arch).channels, rounded.select(net, arch).channels
    step = rounded.round_to  # type: ignore[attr-defined]
    grew = 0
    for name, kept in before.items():
        u = units[name]
        got = after.get(name, torch.arange(u.size))  # absent: rounded back to the full width
        assert len(got) % step == 0 or len(got) == u.size, (name, len(got))
        assert len(got) == min(u.size, -(-len(kept) // step) * step)
        assert set(kept.tolist()) <= set(got.tolist())
        s = modules[u.bn].weight.abs() if score == "gamma" else SCORES[score](modules[u.conv].weight)
        added = sorted(set(got.tolist()) - set(kept.tolist()))
        rest = sorted(set(range(u.size)) - set(got.tolist()))
        if added and rest:
            assert min(s[added]) >= max(s[rest]), name
        grew += len(added) > 0
    assert grew > 0  # the case does exercise rounding


def test_prune_notes_and_stats_say_so() -> None:
    net, arch = _net(R20)
    art = prune(net, arch, L1NormPruner((0.6, 0.3, 0.1), round_to=8))
    assert art.stats["round_to"] == 8
    (note,) = [n for n in art.stats["notes"] if "rounded up to a multiple of 8" in n]
    assert "9 of 9 pruned units grew (3 back to their full width)" in note  # stage 3: 57 -> 64
    assert art.arch.cfg == [8] * 3 + [24] * 3 + [64] * 3  # block widths: 6 -> 8, 22 -> 24, 57 -> 64 (full)
    plain = prune(net, arch, L1NormPruner((0.6, 0.3, 0.1)))
    assert not any("rounded" in n for n in plain.stats["notes"]) and plain.stats["round_to"] == 1
    sfp = prune(net, arch, SoftFilterPruner(0.45, round_to=8))
    assert any(n.startswith("sfp (cut): kept widths rounded up to a multiple of 8") for n in sfp.stats["notes"])


def test_config_example() -> None:
    parser = prune_parser()
    path = CONFIGS / "prune" / "l1_norm_resnet56_b_round8.yaml"
    cfg = parser.parse_args(["--config", str(path), "--ckpt", "x", "--out", "y"])
    pruner = parser.instantiate(cfg).pruner
    assert isinstance(pruner, L1NormPruner) and pruner.round_to == 8
    arch = resolve(ArchSpec("resnet_cifar", 56))
    plan = pruner.select(build_arch(arch, 10).eval(), arch)
    assert sorted({len(v) for v in plan.channels.values()}) == [8, 24]  # 6 -> 8, 22 -> 24, 57 -> 64 (not pruned)


def test_errors() -> None:
    for bad in (0, -8, 1.5, True, "8"):
        for make in (
            lambda r: L1NormPruner((0.5, 0.5, 0.5), round_to=r),
            lambda r: SoftFilterPruner(0.3, round_to=r),
            lambda r: SlimmingPruner(0.5, round_to=r),
        ):
            with pytest.raises(PruningError, match="round_to must be an integer >= 1") as err:
                make(bad)
            assert "\n" not in str(err.value)
    with pytest.raises(PruningError, match="round_to only applies to the cut network"):
        SoftFilterPruner(0.3, form="mask", round_to=8)
    net, arch = _net(R20)
    with pytest.raises(PruningError, match="round_to 64 rounds every pruned layer"):
        L1NormPruner((0.6, 0.3, 0.1), round_to=64).select(net, arch)
    with pytest.raises(PruningError, match="ratio 0.3 with round_to 64 removes no filter"):
        SoftFilterPruner(0.3, round_to=64).select(net, arch)


@pytest.mark.parametrize(
    ("config", "extra", "message"),
    [
        ("l1_norm_resnet56_b_round8", ["--pruner.init_args.round_to", "0"], "round_to must be an integer >= 1"),
        ("sfp_30_cut", ["--pruner.init_args.form", "mask", "--pruner.init_args.round_to", "8"], "set form: cut"),
    ],
    ids=["round_to-0", "sfp-mask-round_to"],
)
def test_cli_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str, extra: list[str], message: str
) -> None:
    """Through the real `prune` command: exit 2, one `error:` line, nothing written (before the checkpoint is read)."""
    from pruning_lightning.main import main

    ckpt = tmp_path / "x.ckpt"
    ckpt.write_bytes(b"")
    argv = ["prune", "--config", str(CONFIGS / "prune" / f"{config}.yaml"), *extra, "--ckpt", str(ckpt)]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert not (tmp_path / "out").exists()
