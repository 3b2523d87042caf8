"""Unstructured magnitude pruning (PAPER §3.6) and masks that hold during training (§1.4, §8.5)."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn

from pruning_lightning.callbacks.masks import ApplyWeightMasks, attach_masks, masks_of
from pruning_lightning.core.errors import PruningError
from pruning_lightning.data.synthetic import RandomImageDataModule
from pruning_lightning.formats.artifact import load_artifact, write_artifact
from pruning_lightning.models import ARCHS, Family, build_arch, resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.modules.regimes import FineTuneModule, ScratchModule
from pruning_lightning.pruning import KeepPlan, MagnitudePruner, prune
from pruning_lightning.pruning.surgery import apply_plan
from tests.helpers import TINY_VGG


def _tiny() -> tuple[ArchSpec, nn.Module]:
    arch = resolve(TINY_VGG)
    return arch, build_arch(arch, 10).eval()


def _convs(net: nn.Module) -> dict[str, torch.Tensor]:
    return {f"{n}.weight": m.weight for n, m in net.named_modules() if isinstance(m, nn.Conv2d)}


def test_known_answer_global_threshold() -> None:
    arch, net = _tiny()
    convs = _convs(net)
    total = sum(w.numel() for w in convs.values())
    values = (torch.randperm(total) + 1).float()  # |w| = 1..total, each once, random signs
    values *= torch.where(torch.rand(total) < 0.5, -1.0, 1.0)
    with torch.no_grad():
        start = 0
        for w in convs.values():
            w.copy_(values[start : start + w.numel()].view_as(w))
            start += w.numel()
    plan = MagnitudePruner(0.3).select(net, arch)
    cut = int(total * 0.3) + 1  # the value at index int(total * 0.3); |w| <= it is pruned
    assert set(plan.masks) == set(convs)  # conv weights only: no BN, no Linear
    for name, w in convs.items():
        assert torch.equal(plan.masks[name], w.abs() > cut)
    assert sum(int((~m).sum()) for m in plan.masks.values()) == cut


@pytest.mark.parametrize("ratio", [0.3, 0.5, 0.8])
def test_requested_ratio_met(ratio: float) -> None:
    arch, net = _tiny()
    plan = MagnitudePruner(ratio).select(net, arch)
    total = sum(m.numel() for m in plan.masks.values())
    removed = sum(int((~m).sum()) for m in plan.masks.values())
    assert removed == int(total * ratio) + 1  # distinct random magnitudes: exactly index + 1 removed


def test_of_remaining_prunes_a_fraction_of_the_survivors() -> None:
    arch, net = _tiny()
    first = MagnitudePruner(0.5).select(net, arch)
    with torch.no_grad():
        for name, mask in first.masks.items():
            net.get_parameter(name).mul_(mask)
    zeros = sum(int((~m).sum()) for m in first.masks.values())
    total = sum(m.numel() for m in first.masks.values())
    second = MagnitudePruner(0.2, of_remaining=True).select(net, arch)
    assert sum(int((~m).sum()) for m in second.masks.values()) == zeros + int((total - zeros) * 0.2) + 1
    for name, mask in second.masks.items():
        assert not (mask & ~first.masks[name]).any()  # pruned weights stay pruned


def test_artifact_masks_and_sparse_flops() -> None:
    arch, net = _tiny()
    art = prune(net, arch, MagnitudePruner(0.5), base_epochs=160)
    assert art.arch == arch
    assert set(art.structure) == {f"mask:{n}" for n in _convs(net)}
    assert all(v.dtype == torch.bool for v in art.structure.values())
    positions: dict[str, int] = {}
    hooks = [
        m.register_forward_hook(lambda m, i, o, n=n: positions.__setitem__(f"{n}.weight", o.shape[2] * o.shape[3]))
        for n, m in net.named_modules()
        if isinstance(m, nn.Conv2d)
    ]
    net(torch.zeros(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    saved = 0
    for key, mask in art.structure.items():
        name = key.removeprefix("mask:")
        assert not art.weights[name][~mask].any()
        saved += int((~mask).sum()) * positions[name]
    # Scratch-B sees the sparse cost: conv MACs scale with the non-zero weights (PAPER §1.5, §3.6).
    assert art.stats["macs_after"] == art.stats["macs_before"] - saved
    ratio = art.stats["flops_before"] / art.stats["flops_after"]
    assert art.stats["flops_ratio"] == pytest.approx(ratio) and ratio > 1.3
    assert art.stats["scratch_b_epochs"] == int(160 * ratio)


def test_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in (0.0, 1.0, 1.5, -0.2):
        with pytest.raises(PruningError, match=r"in \(0, 1\)"):
            MagnitudePruner(bad)
    arch, net = _tiny()
    with torch.no_grad():
        net.features.conv1.weight.fill_(1e-6)
    with pytest.raises(PruningError, match="removes every weight of features.conv1.weight"):
        MagnitudePruner(0.2).select(net, arch)
    plan = MagnitudePruner(0.2, allow_empty_layers=True).select(net, arch)
    assert plan.notes and not plan.masks["features.conv1.weight"].any()
    with pytest.raises(PruningError, match="does not fit the model"):
        apply_plan(net, arch, KeepPlan(masks={"features.conv1.weight": torch.ones(3, 3, 3, 3, dtype=torch.bool)}))
    with pytest.raises(PruningError, match="does not fit the model"):
        attach_masks(nn.Module(), net, {"features.nope.weight": torch.ones(2, dtype=torch.bool)})
    toy = Family(build=lambda s, n: nn.Sequential(nn.Conv2d(3, 4, 3)), default_cfg=lambda s: [])
    monkeypatch.setitem(ARCHS, "toy", toy)
    with pytest.raises(PruningError, match="does not support family 'toy'"):
        prune(toy.build(ArchSpec("toy", 1), 10), ArchSpec("toy", 1), MagnitudePruner(0.5))


def _trainer(root: Path, steps: int, **kw: object) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(root),
        **kw,  # type: ignore[arg-type]
    )


def test_masks_hold_through_fit_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arch, net = _tiny()
    out = write_artifact(prune(net, arch, MagnitudePruner(0.5)), tmp_path / "prune")
    masks = {k.removeprefix("mask:"): v for k, v in load_artifact(out).structure.items()}
    data = RandomImageDataModule(num_samples=16, batch_size=4)
    hp = {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-3}  # strong decay: any leak would show

    model = FineTuneModule(arch, weights_from=str(out), **hp, num_classes=10)
    ckpt = ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), save_last=True, save_top_k=0, every_n_train_steps=50)
    trainer = _trainer(tmp_path / "ft", 50, callbacks=[ckpt])
    trainer.fit(model, data)
    assert trainer.global_step == 50
    assert any(isinstance(c, ApplyWeightMasks) for c in trainer.callbacks)
    opt_state = trainer.optimizers[0].state
    for name, mask in masks.items():
        w = model.net.get_parameter(name)
        assert torch.equal(w[~mask], torch.zeros_like(w[~mask]))  # exact zeros
        assert not torch.equal(w[mask], net.get_parameter(name)[mask])  # the survivors trained
        assert not opt_state[w]["momentum_buffer"][~mask].any()

    # The masks are checkpointed buffers: a module rebuilt from the checkpoint alone holds them.
    last = str(tmp_path / "ckpt" / "last.ckpt")
    loaded = FineTuneModule.load_from_checkpoint(last)
    held = masks_of(loaded)
    assert set(held) == set(masks) and all(torch.equal(held[k], masks[k]) for k in masks)
    # Resume: training continues with the masks still enforced.
    resumed = FineTuneModule(arch, weights_from=str(out), **hp, num_classes=10)
    trainer = _trainer(tmp_path / "ft", 60)
    trainer.fit(resumed, data, ckpt_path=last)
    assert trainer.global_step == 60
    for name, mask in masks.items():
        assert not resumed.net.get_parameter(name)[~mask].any()

    # Control: without the callback, momentum + weight decay + gradients revive pruned weights.
    monkeypatch.setattr(FineTuneModule, "configure_callbacks", lambda self: [])
    bare = FineTuneModule(arch, weights_from=str(out), **hp, num_classes=10)
    _trainer(tmp_path / "bare", 5).fit(bare, data)
    assert any(bare.net.get_parameter(n)[~m].any() for n, m in masks.items())


def test_scratch_density_corrected_init(tmp_path: Path) -> None:
    arch, net = _tiny()
    out = write_artifact(prune(net, arch, MagnitudePruner(0.8)), tmp_path / "prune")
    model = ScratchModule(arch, structure_from=str(out), num_classes=10)
    model.artifact_path = str(out)
    model.on_artifact(load_artifact(out))
    conv = model.net.features.conv9 if hasattr(model.net.features, "conv9") else model.net.features.conv7
    mask = masks_of(model)[f"features.{[n for n, m in model.net.features.named_children() if m is conv][0]}.weight"]
    w = conv.weight.detach()
    assert not w[~mask].any() and w[mask].all()
    n = int(mask.sum()) / conv.in_channels  # PAPER §1.4: fan-out reduced by the density
    assert w[mask].std().item() == pytest.approx(math.sqrt(2 / n), rel=0.1)
    dense_he = math.sqrt(2 / (conv.out_channels * 9))
    assert abs(w[mask].std().item() - dense_he) > 0.3 * dense_he


def test_scratch_rejects_a_mask_that_does_not_fit(tmp_path: Path) -> None:
    arch, net = _tiny()
    art = prune(net, arch, MagnitudePruner(0.5))
    art.structure["mask:features.conv1.weight"] = torch.ones(8, 3, 5, 5, dtype=torch.bool)
    out = write_artifact(art, tmp_path / "prune")
    model = ScratchModule(arch, structure_from=str(out), num_classes=10)
    with pytest.raises(PruningError, match="mask features.conv1.weight .* does not fit the model"):
        model.on_artifact(load_artifact(out))
