"""ImageNet presets (configs/arch/imagenet): params, MACs and Scratch-B epochs against PAPER §2.3, §3, §5.7.

Every number below is copied from PAPER.md; the nets are built at full size once each (module-scoped
cache) and counted at 224x224 with the project's counter.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pruning_lightning.cli.config import arch_from_yaml
from pruning_lightning.models import build_arch, input_size, resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.utils.flops import Complexity, count_complexity
from pruning_lightning.utils.schedule import lr_milestones, scratch_b_epochs

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ARCHS = CONFIGS / "arch" / "imagenet"

# preset: (params in M, GMAC) from PAPER §3.1-§3.5 and §5.7.
PAPER_COUNTS = {
    "vgg11_bn_slimming": (132.89, 7.61),
    "vgg16": (138.36, 15.48),
    "vgg16_bn": (138.37, 15.48),
    "resnet34": (21.80, 3.66),
    "resnet50": (25.56, 4.09),
    "resnet34_a": (20.15, 3.10),
    "resnet34_b": (19.47, 2.78),
    "thinet_vgg_conv": (131.45, 4.80),
    "thinet_vgg_gap": (8.32, 4.67),
    "thinet_vgg_tiny": (1.33, 1.01),
    "thinet_resnet50_30": (8.67, 1.17),
    "thinet_resnet50_50": (12.39, 1.82),
    "thinet_resnet50_70": (16.95, 2.60),
    "regression_vgg16_5x": (130.88, 3.52),
    "regression_resnet50_2x": (19.70, 2.73),
    "sss_resnet41": (25.36, 3.47),
    "sss_resnet32": (14.27, 2.82),
    "sss_resnet26": (14.92, 2.28),
}
# PAPER lists VGG-Tiny at 1.01 GMAC, but its conv + FC multiply-adds are 1.0046 G (by hand, and here);
# 1.01 is half the repo counter's FLOPs (2.0175 G incl. bias, ReLU, pool). Compare like with like.
HALF_FLOPS = {"thinet_vgg_tiny"}
# The ThiNet / regression reference code counts its ResNet-50 reference with a biased downsample conv.
RESNET50_BIAS = "resnet50+downsample_bias"
# (preset, reference, base epochs, max_ratio, Scratch-B epochs) from PAPER §2.3.
SCRATCH_B = [
    ("resnet34_a", "resnet34", 90, 2.0, 106),
    ("resnet34_b", "resnet34", 90, 2.0, 118),
    ("thinet_vgg_conv", "vgg16", 90, 2.0, 180),
    ("thinet_vgg_gap", "vgg16", 90, 2.0, 180),
    ("thinet_vgg_tiny", "vgg16", 90, 2.0, 180),
    ("thinet_resnet50_30", RESNET50_BIAS, 90, 2.0, 180),
    ("thinet_resnet50_50", RESNET50_BIAS, 90, 2.0, 180),
    ("thinet_resnet50_70", RESNET50_BIAS, 90, 2.0, 141),
    ("regression_vgg16_5x", "vgg16", 90, 2.0, 180),
    # The official README says 132 for ResNet-50-2x; PAPER §2.3's recomputation from the reference
    # models and counter gives r = 1.495 -> int(134.5) = 134, which is what a FLOPs-derived budget yields.
    ("regression_resnet50_2x", RESNET50_BIAS, 90, 2.0, 134),
    # SSS: the MXNet recipe's 100 base epochs, uncapped.
    ("sss_resnet41", "resnet50", 100, None, 117),
    ("sss_resnet32", "resnet50", 100, None, 145),
    ("sss_resnet26", "resnet50", 100, None, 179),
]


def preset(name: str) -> ArchSpec:
    if name == RESNET50_BIAS:
        return preset("resnet50").replace(options={"downsample_bias": True})
    return resolve(arch_from_yaml((ARCHS / f"{name}.yaml").read_text(), num_classes=1000))


@pytest.fixture(scope="module")
def complexity() -> object:
    cache: dict[str, Complexity] = {}

    def get(name: str) -> Complexity:
        if name not in cache:
            spec = preset(name)
            cache[name] = count_complexity(build_arch(spec, 1000), input_size(spec))  # the presets: ImageNet-1k
        return cache[name]

    return get


def test_every_preset_is_listed() -> None:
    assert {p.stem for p in ARCHS.glob("*.yaml")} == set(PAPER_COUNTS)


@pytest.mark.parametrize("name", sorted(PAPER_COUNTS))
def test_params_and_macs_match_paper(name: str, complexity) -> None:  # noqa: ANN001
    params_m, gmac = PAPER_COUNTS[name]
    c = complexity(name)
    assert c.params / 1e6 == pytest.approx(params_m, rel=0.005)
    measured = c.flops / 2 if name in HALF_FLOPS else c.macs
    assert measured / 1e9 == pytest.approx(gmac, rel=0.005)


@pytest.mark.parametrize(("name", "ref", "base", "max_ratio", "epochs"), SCRATCH_B, ids=[s[0] for s in SCRATCH_B])
def test_scratch_b_epochs_match_paper(
    name: str, ref: str, base: int, max_ratio: float | None, epochs: int, complexity
) -> None:  # noqa: ANN001
    r = complexity(ref).flops / complexity(name).flops
    assert scratch_b_epochs(base, r, max_ratio) == epochs
    assert f"Scratch-B: {epochs} epochs" in (ARCHS / f"{name}.yaml").read_text()  # the header states it


@pytest.mark.parametrize("regime", ["large", "scratch_e", "scratch_b"])
def test_imagenet_regimes_step_every_third(regime: str) -> None:
    cfg = yaml.safe_load((CONFIGS / "regime" / "imagenet" / f"{regime}.yaml").read_text())
    args = cfg["model"]["init_args"]
    assert args["lr"] == 0.1 and args["lr_milestones"] == [] and args["lr_step_every"] == "1/3"
    if regime != "scratch_b":
        assert cfg["trainer"]["max_epochs"] == 90
    # The reference steps every int(E/3) epochs; PAPER §2.3's LR-step column for the budgets above.
    for epochs in (90, 106, 118, 141, 145, 180):
        step = epochs // 3
        assert lr_milestones([], args["lr_step_every"], epochs) == [m for m in (step, 2 * step, 3 * step) if m < epochs]


@pytest.mark.parametrize("name", ["regression_resnet50_2x", "sss_resnet26", "thinet_vgg_tiny"])
def test_presets_parse_through_the_cli(name: str) -> None:
    from pruning_lightning.cli.lightning_cli import cli_main

    cli = cli_main(
        [
            "--config",
            str(CONFIGS / "data" / "synthetic.yaml"),
            "--config",
            str(CONFIGS / "regime/imagenet/large.yaml"),
            "--config",
            str(ARCHS / f"{name}.yaml"),
            "--data.init_args.num_classes",
            "1000",
            "--trainer.logger",
            "false",
        ],
        run=False,
    )
    assert cli.model.arch == preset(name)  # options, "M" entries and zero groups survive
    assert cli.trainer.max_epochs == 90
