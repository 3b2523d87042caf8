"""Configuration files are read by one reader (issue 23): ``core/config_files.read_config``.

The package turns YAML into data in one module; jsonargparse gets the data of a ``-c`` file from it (a parser
mode and the ``ConfigFile`` action); a file is parsed once per command; the loader is safe and reads numbers
as jsonargparse's own YAML mode does.
"""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path

import pytest
import yaml

import pruning_lightning
from pruning_lightning.core import config_files
from pruning_lightning.core.errors import PruningError
from tests.bad_inputs_helpers import LARGE, P50, SYN, TINY, TRAIN

PACKAGE = Path(pruning_lightning.__file__).resolve().parent
CONFIGS = PACKAGE.parent / "configs"
READER = "core/config_files.py"
# PyYAML's ways of turning text into data (dumping is free to use).
YAML_LOADING = {"load", "safe_load", "full_load", "unsafe_load", "load_all", "safe_load_all", "full_load_all"}
YAML_LOADING |= {"unsafe_load_all", "compose", "compose_all", "parse", "scan"}
YAML_LOADING |= {f"{c}{k}Loader" for c in ("", "C") for k in ("", "Safe", "Full", "Unsafe", "Base")}


def _names(path: Path) -> set[str]:
    """``yaml.X`` attributes and ``from yaml import X`` names used in ``path``; plain names too."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = {f"yaml.{n.attr}" for n in ast.walk(tree) if isinstance(n, ast.Attribute) and ast.unparse(n.value) == "yaml"}
    out |= {
        f"yaml.{a.name}"
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module == "yaml"
        for a in n.names
    }
    return out | {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


USES = {p.relative_to(PACKAGE).as_posix(): _names(p) for p in PACKAGE.rglob("*.py")}


def test_yaml_becomes_data_in_one_module() -> None:
    loading = {f"yaml.{n}" for n in YAML_LOADING}
    assert {m for m, names in USES.items() if names & loading} == {READER}
    assert "yaml.load" in USES[READER]  # the checker sees the reader's own call


def test_every_config_option_reads_through_the_reader() -> None:
    """jsonargparse's plain -c action appears only where ConfigFile extends it; each parser given ConfigFile
    is given the reader's parser mode too."""
    assert {m for m, names in USES.items() if "ActionConfigFile" in names} == {"cli/parser_mode.py"}
    with_action = {m for m, names in USES.items() if "ConfigFile" in names} - {"cli/parser_mode.py"}
    assert with_action == {"cli/config.py", "cli/lightning_cli.py", "pipeline/logger_config.py"}
    assert all("parser_mode" in USES[m] for m in with_action)


def test_the_loader_is_safe(tmp_path: Path) -> None:
    assert issubclass(config_files._Loader, yaml.SafeLoader)
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f"model: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(PruningError, match=r"evil\.yaml is not valid YAML: .* at line 1, column 8"):
        config_files.read_config(evil)
    assert not marker.exists()


def test_numbers_and_dates_read_as_jsonargparse_reads_them() -> None:
    from jsonargparse import get_loader

    theirs = get_loader("yaml")
    files = sorted(CONFIGS.rglob("*.yaml"))
    assert len(files) > 100
    for f in files:
        assert repr(config_files._parse(f.read_text(), str(f))) == repr(theirs(f.read_text())), f
    scalars = ["1e-4", "1E5", "-1e-4", "+1.5", "1.", "1.5e3", ".5", ".5e-3", "-.5", "1_000.5", "1:30.5", ".inf"]
    scalars += ["-.inf", "1", "0x1F", "2024-01-01", "2024-01-01 10:00:00", "yes", "off", "~", "1e", "+.5", "12:61.0"]
    for s in scalars:
        assert repr(config_files._parse(f"k: {s}", "x")) == repr(theirs(f"k: {s}")), s


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many times each file's text became data (the reader's parse step), by base name."""
    counts: dict[str, int] = {}
    parse = config_files._parse

    def counted(text: str, name: str) -> object:
        counts[os.path.basename(name)] = counts.get(os.path.basename(name), 0) + 1
        return parse(text, name)

    monkeypatch.setattr(config_files, "_parse", counted)
    return counts


def test_a_config_file_is_parsed_once_per_command(tmp_path: Path, parses: dict[str, int]) -> None:
    """A fit parses its -c files in the LightningCLI and again for the arch's class-count claim (cli/config.py):
    the second parse gets the first one's data. Fresh copies, so no earlier test has read them."""
    from pruning_lightning.cli.lightning_cli import cli_main

    copies = [shutil.copy(f, tmp_path / f"c{i}_{Path(f).name}") for i, f in enumerate((SYN, LARGE, TINY))]
    args = [a for c in copies for a in ("-c", str(c))] + TRAIN + ["--trainer.logger", "false"]
    cli_main([*args, "--trainer.default_root_dir", str(tmp_path / "run")], run=False)
    assert parses == {Path(c).name: 1 for c in copies}


def test_prune_reads_its_config_once(tmp_path: Path, parses: dict[str, int]) -> None:
    """``--base_epochs``' source (the last -c file that sets it) comes from the parse's data."""
    from pruning_lightning.cli.config import prune_parser
    from pruning_lightning.stages.prune import base_epochs_source

    cfg = Path(shutil.copy(P50, tmp_path / "p.yaml"))
    cfg.write_text(cfg.read_text() + "base_epochs: 7\n")
    argv = ["-c", str(cfg), "--ckpt", "a.ckpt", "--out", "o"]
    assert prune_parser().parse_args(argv).base_epochs == 7
    assert base_epochs_source(argv) == str(cfg)
    assert parses == {"p.yaml": 1}


def test_a_changed_file_is_read_again(tmp_path: Path, parses: dict[str, int]) -> None:
    f = tmp_path / "a.yaml"
    f.write_text("x: 1\n")
    assert config_files.read_config(f) == {"x": 1} == config_files.read_config(f)
    f.write_text("x: 2\n")  # same size: the modification time or the text tells
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 1))
    assert config_files.read_config(f) == {"x": 2}
    f.write_text("x: 3\n")  # jsonargparse hands over the text it read: compared, whatever the clock says
    assert config_files.read_config(f, text=f.read_text()) == {"x": 3}
    assert parses == {"a.yaml": 3}


def test_a_file_of_empty_keys_is_refused(tmp_path: Path) -> None:
    """``trainer:`` alone would reset every trainer setting of the files before it (jsonargparse refused it)."""
    f = tmp_path / "e.yaml"
    f.write_text("trainer:\n")
    with pytest.raises(PruningError, match=r"e\.yaml gives no value to \['trainer'\]"):
        config_files.check_options(config_files.read_config(f), str(f))
