"""The Scratch-B cap (PAPER §2.3): uncapped by default (the reference's CIFAR and weight-level scripts),
configurable per experiment and per method, and applied by the prune stage and preset artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pruning_lightning.core.errors import PruningError
from pruning_lightning.pipeline import parse_experiment, plan
from pruning_lightning.utils.schedule import scratch_b_epochs

ROOT = Path(__file__).resolve().parents[1]
MAGNITUDE = ROOT / "configs/experiments/cifar10_preresnet110_magnitude.yaml"


def _prune_args(doc: dict[str, Any]) -> dict[str, list[str]]:
    return {st.method: st.args for st in plan(parse_experiment(doc)) if st.job_type == "prune"}  # type: ignore[misc]


def _cap(args: list[str]) -> str | None:
    return args[args.index("--max_ratio") + 1] if "--max_ratio" in args else None


def test_magnitude_scratch_b_is_uncapped_by_default_and_the_cap_is_arithmetic() -> None:
    # PreResNet-110 at 80 % of conv weights: r = 3.225 gives 516 epochs uncapped, 320 with the 2x cap.
    assert scratch_b_epochs(160, 3.225) == 516
    assert scratch_b_epochs(160, 3.225, 2.0) == 320
    assert scratch_b_epochs(160, 1.3, 2.0) == 208  # below the cap: unchanged
    doc = yaml.safe_load(MAGNITUDE.read_text())
    assert "max_ratio" not in doc  # the reference's weight-level scripts have no cap
    assert all(_cap(a) is None for a in _prune_args(doc).values())


def test_cap_per_experiment_and_per_method() -> None:
    doc = yaml.safe_load(MAGNITUDE.read_text())
    doc["max_ratio"] = 2.0
    assert {m: _cap(a) for m, a in _prune_args(doc).items()} == {"magnitude_30": "2.0", "magnitude_80": "2.0"}
    doc["methods"][1]["max_ratio"] = 3
    assert {m: _cap(a) for m, a in _prune_args(doc).items()} == {"magnitude_30": "2.0", "magnitude_80": "3"}
    del doc["max_ratio"]
    assert {m: _cap(a) for m, a in _prune_args(doc).items()} == {"magnitude_30": None, "magnitude_80": "3"}


@pytest.mark.parametrize("bad", [0.5, "2", True])
def test_bad_caps_are_rejected(bad: Any) -> None:
    doc = yaml.safe_load(MAGNITUDE.read_text())
    with pytest.raises(PruningError, match=r"max_ratio caps the Scratch-B FLOPs ratio"):
        parse_experiment({**doc, "max_ratio": bad})
    doc["methods"][0]["max_ratio"] = bad
    with pytest.raises(PruningError, match=r"methods\[0\].max_ratio caps"):
        parse_experiment(doc)


def test_preset_artifact_uses_the_method_cap(tmp_path: Path) -> None:
    from pruning_lightning.formats.artifact import load_artifact
    from pruning_lightning.stages import run_stage

    doc = yaml.safe_load((ROOT / "configs/experiments/imagenet_resnet50_sss.yaml").read_text())
    doc["run_dir"] = str(tmp_path / "run")
    doc["methods"][2]["max_ratio"] = 1.5  # SSS ResNet-26: r = 1.796 -> int(100 x 1.5) instead of 179
    exp = parse_experiment(doc)
    stage = next(st for st in plan(exp) if st.job_type == "prune" and st.method == "sss_resnet26")
    run_stage(stage.args)  # the arch stage the pipeline plans for a preset method
    assert load_artifact(stage.dir).stats["scratch_b_epochs"] == 150
