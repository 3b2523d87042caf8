"""Soft Filter Pruning as its reference code runs it (arXiv 1810.05270 appendix (SFP); the Rethinking repo's
cifar/soft-filter-pruning): the stride-2 subsampling shortcut of its CIFAR ResNet, and the masked-full-network
Scratch-E/B (every conv's soft-pruned filters masked, the residual path included)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn

from pruning_lightning.callbacks.masks import masks_of
from pruning_lightning.callbacks.soft_filter import soft_prune
from pruning_lightning.cli.config import arch_from_yaml
from pruning_lightning.core.errors import PruningError
from pruning_lightning.data.synthetic import RandomImageDataModule
from pruning_lightning.formats.artifact import load_artifact, write_artifact
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.models.resnet_cifar import BasicBlock
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.modules.regimes import ScratchModule
from pruning_lightning.pruning import SoftFilterPruner, prune
from pruning_lightning.pruning.sfp import filter_l2
from pruning_lightning.stages.prune import summary

ROOT = Path(__file__).resolve().parents[1]
SUB = ArchSpec("resnet_cifar", 8, options={"subsample_shortcut": True})  # 1 block per stage


def test_subsample_shortcut_equals_a_reference_by_hand() -> None:
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    block = BasicBlock(3, 5, 2, stride=2, detach_shortcut=False, block_scale=False, subsample_shortcut=True)
    out = block.shortcut(x)
    expected = torch.zeros(2, 5, 2, 2)
    for n in range(2):
        for c in range(3):  # pixels (0,0), (0,2), (2,0), (2,2) of each input channel; channels 3, 4 are zero
            for i in range(2):
                for j in range(2):
                    expected[n, c, i, j] = x[n, c, 2 * i, 2 * j]
    assert torch.equal(out, expected)
    avg = BasicBlock(3, 5, 2, stride=2, detach_shortcut=False, block_scale=False).shortcut(x)
    assert avg[0, 0, 0, 0] == (0 + 1 + 4 + 5) / 4 and not torch.equal(avg, expected)  # the default averages 2x2


def test_subsample_network_differs_only_in_the_downsampling_shortcut() -> None:
    arch = resolve(SUB)
    torch.manual_seed(0)
    net = build_arch(arch, 10).eval()
    plain = build_arch(resolve(SUB.replace(options={})), 10).eval()
    plain.load_state_dict(net.state_dict())  # no new parameter: the state dicts are interchangeable
    x = torch.randn(2, 3, 32, 32)
    seen: list[torch.Tensor] = []
    hook = net.layer2[0].register_forward_hook(lambda m, i, o: seen.append(i[0]))
    net(x)
    hook.remove()
    torch.testing.assert_close(net.layer2[0].shortcut(seen[0])[:, :16], seen[0][:, :, ::2, ::2])
    assert not torch.allclose(net(x), plain(x))


@pytest.mark.parametrize("depth", [20, 32, 56, 110])
def test_sfp_arch_configs_use_the_subsample_shortcut(depth: int) -> None:
    arch = arch_from_yaml((ROOT / f"configs/arch/cifar/resnet{depth}_sfp.yaml").read_text(), num_classes=10)
    assert arch.depth == depth and arch.options == {"subsample_shortcut": True}
    text = (ROOT / f"configs/experiments/cifar10_resnet{depth}_sfp.yaml").read_text()
    assert f"arch: configs/arch/cifar/resnet{depth}_sfp.yaml" in text


@pytest.mark.parametrize("depth", [20, 56])
def test_sfp_experiments_run_the_masked_full_network_without_fine_tuning(depth: int) -> None:
    from pruning_lightning.pipeline import load_experiment

    exp = load_experiment(ROOT / f"configs/experiments/cifar10_resnet{depth}_sfp.yaml")
    assert [(m.name, m.prune) for m in exp.methods] == [("sfp_30_masked", "configs/prune/sfp_30.yaml")]
    assert list(exp.regimes) == ["scratch_e", "scratch_b"]  # fine-tuning is not part of SFP's protocol
    assert "form: mask" in (ROOT / "configs/prune/sfp_30.yaml").read_text()
    assert "form: cut" in (ROOT / "configs/prune/sfp_30_cut.yaml").read_text()


def _soft_pruned() -> tuple[nn.Module, ArchSpec, dict[str, torch.Tensor]]:
    """A tiny SFP-trained-like net: the last epoch's soft prune zeroed 30 % of every conv's filters."""
    arch = resolve(SUB)
    torch.manual_seed(0)
    net = build_arch(arch, 10).eval()
    zeroed = soft_prune(net, arch, 0.3)
    return net, arch, zeroed


def test_mask_form_masks_every_conv_in_the_full_network() -> None:
    net, arch, zeroed = _soft_pruned()
    art = prune(net, arch, SoftFilterPruner(0.3, form="mask"), base_epochs=200)
    assert art.arch == arch and art.stats["form"] == "mask"  # the full ResNet: nothing is cut
    masks = {k.removeprefix("mask:"): v for k, v in art.structure.items() if k.startswith("mask:")}
    convs = [n for n, m in net.named_modules() if isinstance(m, nn.Conv2d)]
    assert sorted(masks) == sorted(f"{n}.weight" for n in convs) and len(convs) == 7  # stem + 2 per block
    assert {"layer1.0.conv2.weight", "layer3.0.conv2.weight"} <= set(masks)  # the residual path is masked
    for name in convs:
        dead = ~masks[f"{name}.weight"].flatten(1).any(1)  # whole filters
        assert masks[f"{name}.weight"].flatten(1).all(1).logical_or(dead).all()
        assert sorted(torch.nonzero(dead).flatten().tolist()) == sorted(zeroed[name].tolist())
    # 4 of 16, 9 of 32, 19 of 64 filters per conv: 3*4 + 2*9 + 2*19 = 68 of 240
    assert "sfp (mask): 68 of 240 conv filters (28.3%) masked in all 7 convs" in art.stats["notes"][0]
    assert art.stats["flops_ratio"] > 1.3  # nonzero-weight FLOPs, as the reference's counter
    assert art.stats["scratch_b_epochs"] == int(200 * art.stats["flops_ratio"])


def test_cut_form_states_its_real_ratio() -> None:
    net, arch, _ = _soft_pruned()
    art = prune(net, arch, SoftFilterPruner(0.3, form="cut"))
    assert art.arch.cfg == [12, 23, 45]  # only the block first convs: 16 - 4, 32 - 9, 64 - 19
    assert "sfp (cut): 32 of 240 conv filters (13.3%) removed, not 30%" in art.stats["notes"][0]
    assert "note: sfp (cut): 32 of 240 conv filters" in summary(art)  # what `prune` prints
    with pytest.raises(PruningError, match="'cut' or 'mask'"):
        SoftFilterPruner(0.3, form="masked")  # type: ignore[arg-type]


class _EveryEpochEnd(L.Callback):
    """Records, at the end of every training epoch, which masked filters are not zero."""

    def __init__(self, masks: dict[str, torch.Tensor]) -> None:
        self.masks, self.alive_masked, self.changed = masks, [], []  # type: ignore[var-annotated]
        self.start: dict[str, torch.Tensor] = {}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = {k: pl_module.net.get_parameter(k).detach().clone() for k in self.masks}  # type: ignore[operator]

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        params = {k: pl_module.net.get_parameter(k).detach() for k in self.masks}  # type: ignore[operator]
        self.alive_masked.append(sum(int(params[k][~m].ne(0).sum()) for k, m in self.masks.items()))
        self.changed.append(all(not torch.equal(params[k][m], self.start[k][m]) for k, m in self.masks.items()))


def test_masked_scratch_keeps_every_conv_masked_at_each_epoch_end(tmp_path: Path) -> None:
    net, arch, _ = _soft_pruned()
    out = write_artifact(prune(net, arch, SoftFilterPruner(0.3, form="mask"), base_epochs=2), tmp_path / "p")
    masks = {k.removeprefix("mask:"): v for k, v in load_artifact(out).structure.items()}
    probe = _EveryEpochEnd(masks)
    model = ScratchModule(arch, structure_from=str(out), lr=0.1, momentum=0.9, weight_decay=5e-3, num_classes=10)
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=2, limit_train_batches=3, limit_val_batches=0, num_sanity_val_steps=0,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=str(tmp_path), callbacks=[probe],
    )  # fmt: skip
    trainer.fit(model, RandomImageDataModule(num_samples=24, batch_size=8))
    held = masks_of(model)
    assert sorted(held) == sorted(masks) and all(torch.equal(held[k], masks[k]) for k in masks)  # fixed masks
    assert probe.alive_masked == [0, 0]  # every masked filter of every conv is exactly 0 at each epoch end
    assert probe.changed == [True, True]  # while the unmasked weights of every conv train
    assert all(int((filter_l2(model.net.get_parameter(k)) == 0).sum()) == int((~m.flatten(1).any(1)).sum())
               for k, m in masks.items())  # fmt: skip
