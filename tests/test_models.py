"""Architecture registry: params against PAPER §5.7, forward shapes, spec round trips, bad specs."""

from __future__ import annotations

import pytest
import torch

from pruning_lightning.cli.config import arch_from_yaml
from pruning_lightning.core.errors import PruningError
from pruning_lightning.models import build_arch, resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.utils.flops import count_complexity
from tests.helpers import TINY_ARCHS, TINY_FAMILIES


@pytest.mark.parametrize(
    ("spec", "classes", "params_m", "macs_m", "flops_m"),
    [
        (ArchSpec("vgg", 19), 10, 20.04, 398.1, 797.3),
        (ArchSpec("vgg", 19), 100, 20.08, 398.2, 797.4),
        (ArchSpec("vgg", 16, variant="l1"), 10, 14.99, 313.5, 627.9),
    ],
    ids=lambda v: str(v),
)
def test_reference_counts(spec: ArchSpec, classes: int, params_m: float, macs_m: float, flops_m: float) -> None:
    c = count_complexity(build_arch(spec, classes), (3, 32, 32))
    assert round(c.params / 1e6, 2) == params_m
    assert round(c.macs / 1e6, 1) == macs_m
    assert round(c.flops / 1e6, 1) == flops_m


@pytest.mark.parametrize("spec", TINY_ARCHS, ids=lambda s: f"{s.family}-{s.variant}")
def test_forward_and_yaml_round_trip(spec: ArchSpec) -> None:
    net = build_arch(spec, 10).eval()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    again = arch_from_yaml(spec.to_yaml())
    assert again == spec
    assert ArchSpec.from_dict(spec.to_dict()) == spec


def test_resolve_fills_default_cfg() -> None:
    assert resolve(ArchSpec("vgg", 11)).cfg == [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (ArchSpec("resnet_nope", 20), "unknown architecture family"),
        (ArchSpec("vgg", 12), "unknown depth 12"),
        (ArchSpec("vgg", 11, cfg=[8, "M", 16]), "does not match the layout"),
        (ArchSpec("vgg", 11, cfg=[8, "M", 0, "M", 16, 16, "M", 32, 32, "M", 32, 32]), "no channels"),
        (ArchSpec("vgg", 11, variant="huge"), "unknown variant"),
    ],
    ids=["family", "depth", "cfg-length", "zero-width", "variant"],
)
def test_bad_specs(spec: ArchSpec, match: str) -> None:
    with pytest.raises(PruningError, match=match):
        build_arch(spec, 10)


def test_unknown_spec_key() -> None:
    with pytest.raises(PruningError, match="unknown architecture keys"):
        ArchSpec.from_dict({"family": "vgg", "depth": 19, "width": 2})


def test_every_family_has_a_tiny_spec() -> None:
    from pruning_lightning.models import known_families

    assert sorted(TINY_FAMILIES) == known_families()


@pytest.mark.parametrize("family", sorted(TINY_FAMILIES))
def test_one_batch_fit_every_family(family: str) -> None:
    import lightning as L

    from pruning_lightning.data import RandomImageDataModule
    from pruning_lightning.modules import LargeModule

    spec, size = TINY_FAMILIES[family]
    model = LargeModule(spec, num_classes=10)
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    trainer = L.Trainer(
        accelerator="cpu", fast_dev_run=1, logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    trainer.fit(model, RandomImageDataModule(num_samples=8, image_size=size, batch_size=4))
    changed = [
        k for k, v in model.net.state_dict().items() if v.dtype.is_floating_point and not torch.equal(v, before[k])
    ]
    assert changed  # one optimizer step moved the weights


def test_register_arch_refuses_a_taken_name():
    from pruning_lightning.models.registry import ARCHS, register_arch

    vgg = ARCHS["vgg"]
    assert register_arch("vgg", vgg) is vgg  # re-registering the same family (a module re-import) is harmless
    with pytest.raises(PruningError, match="'vgg' is already registered"):
        register_arch("vgg", ARCHS["resnet_cifar"])
    assert ARCHS["vgg"] is vgg
