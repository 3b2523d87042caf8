"""The committed results page: its findings table is what the documented command generates today."""

from __future__ import annotations

from pathlib import Path

from pruning_lightning.commands.findings import BEGIN, END, table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs/results"
COMMAND = "pruning-lightning findings docs/results/study_* --update docs/results/README.md"


def test_the_documented_findings_command_reproduces_the_committed_table() -> None:
    page = (RESULTS / "README.md").read_text()
    assert COMMAND in page and COMMAND in (ROOT / "README.md").read_text()
    studies = sorted(RESULTS.glob("study_*"))  # the shell's glob: every folder must hold a paired.json
    assert len(studies) >= 4 and all((s / "paired.json").is_file() for s in studies), studies
    committed = page.split(BEGIN, 1)[1].split(END, 1)[0]
    assert committed == "\n" + table(studies, RESULTS)  # hand edits and stale tables fail here
