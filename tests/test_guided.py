"""Guided pruning (PAPER §4.2): per-stage average widths, transfer to another depth, through the pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pruning_lightning.cli.config import arch_from_yaml
from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.artifact import load_artifact
from pruning_lightning.main import main as main_cli
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pipeline import parse_experiment
from pruning_lightning.pipeline.runner import run
from pruning_lightning.stages.guided import guided_arch, main, stage_fractions, stages

ROOT = Path(__file__).resolve().parents[1]
# VGG-16 pruned: stage widths kept 50%, 50%, 25%, 12.5%, 12.5% (one run) ...
P1 = ArchSpec("vgg", 16, cfg=[32, 32, "M", 64, 64, "M", 64, 64, 64, "M", 64, 64, 64, "M", 64, 64, 64])
# ... and a second run with 100%, 50%, 75%, 37.5%, 12.5% on average per stage.
P2 = ArchSpec("vgg", 16, cfg=[64, 64, "M", 32, 96, "M", 192, 192, 192, "M", 192, 192, 192, "M", 32, 64, 96])


def test_stages_split_at_pools() -> None:
    assert stages([8, "M", 16, 16, "M", 32]) == [[8], [16, 16], [32]]


def test_stage_fractions_average_layers_and_runs() -> None:
    assert stage_fractions([P1]) == pytest.approx([0.5, 0.5, 0.25, 0.125, 0.125])
    assert stage_fractions([P1, P2]) == pytest.approx([0.75, 0.5, 0.5, 0.25, 0.125])


def test_guided_same_depth_is_uniform_per_stage() -> None:
    arch = guided_arch([P1, P2], ArchSpec("vgg", 16))
    assert arch.cfg == [48, 48, "M", 64, 64, "M", 128, 128, 128, "M", 128, 128, 128, "M", 64, 64, 64]


def test_transfer_vgg16_cifar10_to_vgg19_cifar100(tmp_path: Path) -> None:
    arch = guided_arch([P1, P2], ArchSpec("vgg", 19))
    assert arch.depth == 19  # the class count (CIFAR-100's) is the data's: no part of the arch
    assert stages(arch.cfg) == [[48] * 2, [64] * 2, [128] * 4, [128] * 4, [64] * 4]
    out = tmp_path / "guided.yaml"
    src = tmp_path / "p1.yaml"
    src.write_text(P1.to_yaml())
    main(["--from", str(src), "--depth", "19", "--num_classes", "100", "--out", str(out)])
    written = arch_from_yaml(out.read_text())
    assert written.depth == 19 and stages(written.cfg)[4] == [64] * 4  # 12.5% of 512
    assert yaml.safe_load(out.read_text())["model"]["init_args"]["num_classes"] == 100  # beside the arch
    main(["--from", str(src), "--depth", "19", "--out", str(out)])  # no --num_classes: the data module's
    init = yaml.safe_load(out.read_text())["model"]["init_args"]
    assert "num_classes" not in init and "num_classes" not in init["arch"]


def test_guided_rejects_other_families() -> None:
    with pytest.raises(PruningError, match="supports"):
        stage_fractions([ArchSpec("resnet_cifar", 20)])


@pytest.mark.slow
@pytest.mark.parametrize("jobs", [1, 2])
def test_scratch_guided_through_the_pipeline(tmp_path: Path, jobs: int) -> None:
    doc = yaml.safe_load((ROOT / "configs/experiments/tiny_slimming.yaml").read_text())
    doc.update(run_dir=str(tmp_path / "run"), seeds=[0, 1], regimes=["scratch_e"])
    doc["methods"] = [doc["methods"][0] | {"regimes": []}, {"name": "guided", "guided_from": "slimming_50"}]
    if jobs == 1:
        run(parse_experiment(doc), echo=lambda s: None)
    else:  # stages in child processes; the guided stages in a second phase, after every seed's prune
        (tmp_path / "exp.yaml").write_text(yaml.safe_dump(doc))
        main_cli(["pipeline", str(tmp_path / "exp.yaml"), "--jobs", "2"])
        assert "phase 2" not in (tmp_path / "run/logs/seed0/guided/prune.log").read_text()  # the parent announces it
    pruned = [load_artifact(tmp_path / f"run/seed{s}/slimming_50/prune").arch for s in (0, 1)]
    ref = arch_from_yaml((ROOT / "configs/experiments/tiny/arch_vgg11_tiny.yaml").read_text(), num_classes=10)
    expected = guided_arch(pruned, ref, [ref, ref])
    for s in (0, 1):
        art = load_artifact(tmp_path / f"run/seed{s}/guided/prune")
        assert art.method == "guided" and art.arch == expected and art.weights == {}
        assert art.stats["scratch_b_epochs"] == int(2 * art.stats["flops_ratio"])
        trained = yaml.safe_load((tmp_path / f"run/seed{s}/guided/scratch_e/config.yaml").read_text())
        assert trained["model"]["init_args"]["arch"]["cfg"] == expected.cfg
    assert not (tmp_path / "run/seed0/slimming_50/scratch_e").exists()


def test_jobs_phases_put_guided_methods_last() -> None:
    from pruning_lightning.pipeline.parallel import phases
    from pruning_lightning.pipeline.plan import plan

    doc = yaml.safe_load((ROOT / "configs/experiments/tiny_slimming.yaml").read_text())
    doc.update(seeds=[0, 1], regimes=["scratch_e"])
    doc["methods"] = [doc["methods"][0], {"name": "guided", "guided_from": "slimming_50"}]
    first, second = phases(plan(parse_experiment(doc)))
    assert {st.key for st in second} == {f"seed{s}/guided/{r}" for s in (0, 1) for r in ("prune", "scratch_e")}
    assert {st.key for st in first} == {f"seed{s}/{k}" for s in (0, 1) for k in ("large", *SLIM)}
    only = ["seed1/guided/scratch_e", "seed0/large"]
    assert [[st.key for st in p] for p in phases(plan(parse_experiment(doc)), only)] == [[only[1]], [only[0]]]
    doc["methods"] = doc["methods"][:1]
    assert len(phases(plan(parse_experiment(doc)))) == 1


SLIM = ("slimming_50/prune", "slimming_50/scratch_e")
