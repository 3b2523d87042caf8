"""The ``arch`` stage (issue 23 §5): preset and guided methods run through ``stages.run_stage`` like every
other stage, so ``pipeline --dry-run`` prints a command a user can run by hand."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from pruning_lightning.formats.artifact import load_artifact
from pruning_lightning.main import main
from pruning_lightning.models import resolve
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.pipeline import parse_experiment, plan
from pruning_lightning.pipeline.runner import dry_run

ROOT = Path(__file__).resolve().parents[1]
DATA = str(ROOT / "configs/data/synthetic.yaml")
ARCH = str(ROOT / "configs/experiments/tiny/arch_vgg11_tiny.yaml")


def _experiment(tmp_path: Path) -> dict:
    doc = yaml.safe_load((ROOT / "configs/experiments/tiny_slimming.yaml").read_text())
    doc.update(run_dir=str(tmp_path / "run"), seeds=[0, 1], regimes={"scratch_e": {}})
    preset = tmp_path / "preset.yaml"
    preset.write_text(
        yaml.safe_dump({"model": {"init_args": {"arch": {"cfg": [4, "M", 8, "M", 8, 8, "M", 8, 8, "M", 8, 8]}}}})
    )
    doc["methods"] = [
        {"name": "slimming_50", "prune": "configs/prune/slimming_50.yaml"},
        {"name": "guided", "guided_from": "slimming_50"},
        {"name": "small", "preset": str(preset)},
    ]
    return doc


def test_dry_run_prints_arch_commands_for_preset_and_guided_methods(tmp_path: Path) -> None:
    exp = parse_experiment(_experiment(tmp_path))
    lines = dry_run(exp, plan(exp))
    assert not [ln for ln in lines if " --only " in ln]  # every stage is a real command now
    guided = next(
        shlex.split(ln) for ln in lines if ln.endswith(str(tmp_path / "run/seed1/guided/prune") + " --overwrite true")
    )
    assert guided[:2] == ["pruning-lightning", "arch"]
    sources = guided[guided.index("--guided_from") + 1 : guided.index("--base_epochs")]
    assert sources == [str(tmp_path / f"run/seed{s}/slimming_50/prune") for s in (0, 1)]
    preset = next(
        shlex.split(ln) for ln in lines if "seed0/small/prune" in ln and ln.startswith("pruning-lightning arch")
    )
    assert preset[preset.index("--preset") + 1] == str(tmp_path / "preset.yaml")
    assert preset[preset.index("--base_epochs") + 1] == "2"


def test_the_printed_preset_command_writes_the_artifact(tmp_path: Path) -> None:
    exp = parse_experiment(_experiment(tmp_path))
    stage = next(st for st in plan(exp) if st.key == "seed0/small/prune")
    main(stage.args)
    art = load_artifact(stage.dir)
    assert art.method == "preset" and art.weights == {} and art.structure == {}
    assert art.arch.cfg == [4, "M", 8, "M", 8, 8, "M", 8, 8, "M", 8, 8]
    reference = resolve(ArchSpec.from_dict(yaml.safe_load(Path(ARCH).read_text())["model"]["init_args"]["arch"]))
    assert art.reference_arch == reference and art.num_classes == 10
    assert art.stats["scratch_b_epochs"] == int(2 * art.stats["flops_ratio"]) and art.stats["flops_ratio"] > 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "give exactly one of --preset"),
        (["--preset", ARCH, "--guided_from", "x"], "give exactly one of --preset"),
        (["--preset", ARCH, "--base_epochs", "0"], "--base_epochs must be a positive integer"),
        (["--preset", ARCH, "--max_ratio", "0.5"], "--max_ratio caps the Scratch-B FLOPs ratio"),
    ],
)
def test_bad_arch_stage_input_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    argv = ["arch", "--reference", DATA, ARCH, "--base_epochs", "2", "--out", str(tmp_path / "out"), *extra]
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and err[0].startswith("error: ") and message in err[0], err
    assert not (tmp_path / "out").exists()  # nothing half-written
