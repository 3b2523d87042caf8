"""Paired comparisons named in the experiment file: claims, cross-method pairs, known inputs -> known intervals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pruning_lightning.core.errors import PruningError
from pruning_lightning.main import main
from pruning_lightning.pipeline.paired import Paired, paired
from pruning_lightning.pipeline.schema import parse_experiment

T975 = {2: 4.302652729749464, 4: 2.7764451051977987}  # Student t 0.975 quantiles (df)


def _ci(diffs: tuple[float, ...]) -> tuple[float, float]:
    n = len(diffs)
    mean = sum(diffs) / n
    sd = (sum((d - mean) ** 2 for d in diffs) / (n - 1)) ** 0.5
    half = T975[n - 1] * sd / n**0.5
    return mean - half, mean + half


def _pair(diffs: tuple[float, ...], claim: str, margin: float = 0.0) -> Paired:
    return Paired("m", "scratch_e", "finetune", "final", tuple(range(len(diffs))), diffs, claim=claim, margin=margin)


@pytest.mark.parametrize(
    ("diffs", "claim", "margin", "status", "detail"),
    [
        # 5 seeds, mean +2.0, sd 0.158: CI [+1.80, +2.20]
        ((2.0, 2.2, 1.8, 2.1, 1.9), "better", 0.0, "supported", "(scratch_e better)"),
        ((2.0, 2.2, 1.8, 2.1, 1.9), "worse", 0.0, "not supported", "(scratch_e better)"),
        ((2.0, 2.2, 1.8, 2.1, 1.9), "equal", 1.0, "not supported", "better by more than 1"),
        ((2.0, 2.2, 1.8, 2.1, 1.9), "equal", 3.0, "supported", "inside ±3"),
        # mean -0.3, CI about [-0.50, -0.10]: worse than 0, but within a 1-point margin
        ((-0.3, -0.5, -0.1, -0.3, -0.3), "not_worse", 1.0, "supported", "(within 1 of finetune)"),
        ((-0.3, -0.5, -0.1, -0.3, -0.3), "not_worse", 0.0, "not supported", "(scratch_e worse)"),
        ((-0.3, -0.5, -0.1, -0.3, -0.3), "equal", 1.0, "supported", "inside ±1"),
        ((-0.3, -0.5, -0.1, -0.3, -0.3), "worse", 0.0, "supported", "(scratch_e worse)"),
        # wide: mean +0.4, CI about [-2.1, +2.9]
        ((2.0, -1.0, 0.5, -1.5, 2.0), "better", 0.0, "inconclusive", "spans 0"),
        ((2.0, -1.0, 0.5, -1.5, 2.0), "not_worse", 1.0, "inconclusive", "spans -1"),
        ((2.0, -1.0, 0.5, -1.5, 2.0), "equal", 1.0, "inconclusive", "crosses the ±1 margin"),
        ((2.0, -1.0, 0.5, -1.5, 2.0), "worse", 0.0, "inconclusive", "spans 0"),
        # mean +1.9, CI about [+0.64, +3.16]: not within ±1, not beyond +1 either, but clearly above 0
        (
            (1.0, 2.5, 3.0, 1.2, 1.8),
            "equal",
            1.0,
            "inconclusive",
            "crosses the ±1 margin but excludes 0: scratch_e better",
        ),
        ((-1.0, -2.5, -3.0, -1.2, -1.8), "equal", 1.0, "inconclusive", "excludes 0: scratch_e worse"),
    ],
)
def test_claims_read_the_interval(
    diffs: tuple[float, ...], claim: str, margin: float, status: str, detail: str
) -> None:
    p = _pair(diffs, claim, margin)
    assert p.interval == pytest.approx(_ci(diffs))
    assert p.status == status, p.verdict
    assert detail in p.verdict


def test_claim_text_names_both_sides_and_the_margin() -> None:
    assert _pair((1.0, 2.0), "not_worse").claim_text == "scratch_e >= finetune"
    assert _pair((1.0, 2.0), "not_worse", 0.5).claim_text == "scratch_e >= finetune - 0.5"
    assert _pair((1.0, 2.0), "equal", 1.0).claim_text == "scratch_e ~ finetune (within ±1)"
    cross = paired(
        {("slim", "scratch_e"): {0: 70.0, 1: 71.0}, ("uni", "scratch_e"): {0: 68.0, 1: 68.5}},
        "slim",
        "scratch_e",
        "final",
        "scratch_e",
        "uni",
        claim="better",
    )
    assert cross is not None and cross.diffs == (2.0, 2.5)
    assert cross.label == "slim/scratch_e - uni/scratch_e" and cross.to_dict()["b"] == "uni/scratch_e"


def _exp(comparisons: list[dict]) -> dict:
    return {
        "name": "x",
        "data": "d.yaml",
        "arch": "a.yaml",
        "methods": [{"name": "slim", "prune": "p.yaml"}, {"name": "uni", "prune": "u.yaml"}],
        "regimes": ["finetune", "scratch_e"],
        "comparisons": comparisons,
    }


def test_comparisons_are_report_only() -> None:
    plain = parse_experiment(_exp([]))
    named = parse_experiment(
        {**_exp([{"a": "slim/scratch_e", "b": "uni/scratch_e", "claim": "better", "finding": "f"}]), "scale": "tiny"}
    )
    assert named.comparisons[0].b == "uni/scratch_e" and named.comparisons[0].margin == 0.0
    assert plain.digest() == named.digest()  # editing a claim never orphans a run folder


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"a": "scratch_b", "b": "finetune"}, "names regime 'scratch_b'"),
        ({"a": "nope/scratch_e", "b": "finetune"}, "names method 'nope'"),
        ({"a": "finetune", "b": "finetune"}, "with itself"),
        ({"a": "scratch_e", "b": "finetune", "claim": "bigger"}, "claim must be one of"),
        ({"a": "scratch_e", "b": "finetune", "claim": "equal"}, "needs a margin > 0"),
        ({"a": "scratch_e", "b": "finetune", "margin": -1}, "margin is in percentage points"),
        ({"a": "scratch_e", "b": "finetune", "typo": 1}, "unknown key(s) ['typo']"),
        ({"a": "scratch_e"}, "lacks required key(s) ['b']"),
    ],
)
def test_bad_comparisons_name_the_problem(spec: dict, message: str) -> None:
    with pytest.raises(PruningError, match=f".*{message.replace('(', '.').replace(')', '.').replace('[', '.')}"):
        parse_experiment(_exp([spec]))


def _run(root: Path, accs: dict[tuple[str, str], list[float]], comparisons: list[dict], archs: dict[str, str]) -> None:
    """A finished run folder (experiment.json + result.json per stage) with two methods."""
    exp = {**_exp(comparisons), "wandb": None, "paper": {}, "scale": "tiny test"}
    exp["regimes"] = {"finetune": {}, "scratch_e": {}}
    root.mkdir(parents=True)
    (root / "experiment.json").write_text(json.dumps({"name": "x", "digest": "d", "experiment": exp}))
    for (method, regime), values in accs.items():
        for seed, acc in enumerate(values):
            d = root / f"seed{seed}" / method / regime
            d.mkdir(parents=True)
            r = {"job_type": regime, "seed": seed, "method": method, "test_acc1": acc, "test_acc1_best": acc + 1}
            (d / "result.json").write_text(json.dumps({**r, "params_nonzero": 10, "flops": 10}))
            if regime == "scratch_e":
                p = root / f"seed{seed}" / method / "prune"
                p.mkdir(parents=True, exist_ok=True)
                (p / "arch.yaml").write_text(archs[method] if seed != 2 or method != "uni" else archs["uni2"])


def test_report_computes_the_named_comparisons(tmp_path: Path) -> None:
    accs = {("slim", "scratch_e"): [70.0, 71.0, 69.0], ("uni", "scratch_e"): [68.0, 68.5, 67.5]}
    accs[("slim", "finetune")] = [69.0, 69.0, 69.0]
    spec = {"a": "slim/scratch_e", "b": "uni/scratch_e", "claim": "better", "finding": "pruned arch", "paper": "p"}
    _run(tmp_path / "run", accs, [spec], {"slim": "a: 1\n", "uni": "a: 2\n", "uni2": "a: 2\n"})
    main(["report", str(tmp_path / "run")])
    doc = json.loads((tmp_path / "run/report/paired.json").read_text())
    assert doc["study"] == "x" and doc["scale"] == "tiny test"
    final, best = doc["comparisons"]
    assert (final["column"], best["column"]) == ("final", "best")
    assert final["diffs"] == [2.0, 2.5, 1.5] and final["seeds"] == [0, 1, 2]
    assert final["ci"] == pytest.approx(list(_ci((2.0, 2.5, 1.5))))  # [+0.76, +3.24]
    assert final["status"] == "supported" and final["finding"] == "pruned arch"
    md = (tmp_path / "run/report/report.md").read_text()
    assert "slim/scratch_e - uni/scratch_e" in md and "| supported" not in md  # the verdict says what holds
    assert "slim/scratch_e > uni/scratch_e: supported (slim/scratch_e better)" in md


def test_same_architecture_is_checked_per_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    accs = {("slim", "scratch_e"): [70.0, 71.0, 69.0], ("uni", "finetune"): [68.0, 68.5, 67.5]}
    spec = {"a": "slim/scratch_e", "b": "uni/finetune", "same_architecture": True}
    accs[("uni", "scratch_e")] = [0.0, 0.0, 0.0]  # gives uni its arch.yaml
    _run(tmp_path / "run", accs, [spec], {"slim": "a: 1\n", "uni": "a: 1\n", "uni2": "a: 3\n"})
    with pytest.raises(SystemExit):
        main(["report", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert "seed 2's pruned architectures of slim and uni differ" in err
    assert not (tmp_path / "run/report").exists()  # nothing half-written


def test_comparisons_name_the_large_model_a_method_trained_on(tmp_path: Path) -> None:
    """``large`` is the method's own large model (SSS's and SFP's result), the one it shares, or the shared one."""
    own = {"configs": ["configs/regime/large.yaml", "configs/sparsity/sfp.yaml"]}
    exp = parse_experiment(
        {
            **_exp([{"a": "scratch_e", "b": "large", "claim": "not_worse", "margin": 1.0, "finding": "6. SFP"}]),
            "methods": [
                {"name": "sfp", "prune": "p.yaml", "large": own},
                {"name": "sfp_b", "prune": "p.yaml", "large": own},  # the same large: trained once, in sfp/
                {"name": "slim", "prune": "s.yaml"},  # no own large: the shared one
            ],
            "scale": "tiny test",
        }
    )
    root = tmp_path / "run"
    root.mkdir()
    (root / "experiment.json").write_text(json.dumps({"name": "x", "digest": "d", "experiment": exp.to_dict()}))
    accs = {
        ("", "large"): [60.0, 61.0],
        ("sfp", "large"): [70.0, 71.0],
        ("sfp", "scratch_e"): [72.0, 72.5],
        ("sfp_b", "scratch_e"): [69.0, 70.0],
        ("slim", "scratch_e"): [65.0, 64.0],
    }
    for (method, regime), values in accs.items():
        for seed, acc in enumerate(values):
            d = root / f"seed{seed}" / method / regime
            d.mkdir(parents=True)
            r = {"job_type": regime, "seed": seed, "method": method or None, "test_acc1": acc, "test_acc1_best": acc}
            (d / "result.json").write_text(json.dumps({**r, "params_nonzero": 10, "flops": 10}))
    main(["report", str(root)])
    doc = json.loads((root / "report/paired.json").read_text())
    got = {(c["a"], c["b"]): c["diffs"] for c in doc["comparisons"] if c["column"] == "final"}
    assert got == {
        ("sfp/scratch_e", "sfp/large"): [2.0, 1.5],
        ("sfp_b/scratch_e", "sfp/large"): [-1.0, -1.0],
        ("slim/scratch_e", "large"): [5.0, 3.0],
    }
    # known inputs -> known interval: diffs [2.0, 1.5], mean 1.75, sd 0.354, t(0.975, 1) = 12.706 -> +-3.18
    sfp = next(c for c in doc["comparisons"] if c["column"] == "final" and c["a"] == "sfp/scratch_e")
    assert sfp["mean"] == pytest.approx(1.75) and sfp["ci"] == pytest.approx([1.75 - 3.1766, 1.75 + 3.1766], abs=1e-3)
    md = (root / "report/report.md").read_text()
    assert "scratch_e >= large - 1" in md and "slim/scratch_e >= large - 1" in md


def test_findings_table_is_generated_from_the_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    accs = {("slim", "scratch_e"): [70.0, 71.0, 69.0], ("uni", "scratch_e"): [68.0, 68.5, 67.5]}
    accs[("slim", "finetune")] = [69.0, 69.0, 69.0]
    specs = [
        {"a": "slim/scratch_e", "b": "uni/scratch_e", "claim": "better", "finding": "Sec. 5: pruned arch"},
        {"a": "scratch_e", "b": "finetune", "claim": "equal", "margin": 1.0},  # no finding label: not a row
    ]
    specs[0]["paper"] = "p"
    _run(tmp_path / "run", accs, specs, {"slim": "a: 1\n", "uni": "a: 2\n", "uni2": "a: 2\n"})
    main(["report", str(tmp_path / "run")])
    page = tmp_path / "docs" / "README.md"
    page.parent.mkdir()
    page.write_text("# Results\n\n<!-- findings:begin -->\nstale\n<!-- findings:end -->\n\nmore text\n")
    main(["findings", str(tmp_path / "run"), "--update", str(page)])
    text = page.read_text()
    assert "stale" not in text and text.startswith("# Results\n\n<!-- findings:begin -->\n| finding")
    assert text.endswith("<!-- findings:end -->\n\nmore text\n")
    lo, hi = _ci((2.0, 2.5, 1.5))
    row = next(line for line in text.splitlines() if line.startswith("| Sec. 5"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:3] == ["Sec. 5: pruned arch", "slim/scratch_e - uni/scratch_e", "p"]
    assert cells[3] == f"+2.00 [{lo:+.2f}, {hi:+.2f}] (final); +2.00 [{lo:+.2f}, {hi:+.2f}] (best); 3 seeds; tiny test"
    assert cells[4] == "slim/scratch_e > uni/scratch_e: **supported (slim/scratch_e better)**"
    assert cells[5] == "../run"
    assert sum(line.startswith("| ") for line in text.splitlines()) == 2  # header and one row: no unlabelled one
    capsys.readouterr()


def test_findings_rows_follow_the_finding_numbers(tmp_path: Path) -> None:
    from pruning_lightning.commands.findings import rows

    def study(name: str, findings: list[str]) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        comps = [
            {
                "finding": f,
                "a": f"{name}/a{i}",
                "b": "b",
                "column": "final",
                "seeds": [0, 1],
                "mean": 1.0,
                "ci": [0.0, 2.0],
                "verdict": "a > b: supported (a better)",
                "status": "supported",
            }
            for i, f in enumerate(findings)
        ]
        (folder / "paired.json").write_text(json.dumps({"study": name, "comparisons": comps}))
        return folder

    first = study("s1", ["3. Unstructured", "Unnumbered note"])
    second = study("s2", ["4. Search", "2. Automatic", "10. Later"])
    got = [(r[0], r[1]) for r in rows([first, second], tmp_path)]
    assert got == [
        ("2. Automatic", "s2/a1 - b"),
        ("3. Unstructured", "s1/a0 - b"),
        ("4. Search", "s2/a0 - b"),
        ("10. Later", "s2/a2 - b"),
        ("Unnumbered note", "s1/a1 - b"),
    ]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("no_report", "holds no paired.json"),
        ("no_markers", "needs one <!-- findings:begin --> line"),
        ("corrupt", "is corrupt"),
        ("unlabelled", "no comparison with a `finding` label"),
    ],
)
def test_findings_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, message: str) -> None:
    rep = tmp_path / "rep"
    rep.mkdir()
    page = tmp_path / "README.md"
    page.write_text("<!-- findings:begin -->\nold\n<!-- findings:end -->\n" if setup != "no_markers" else "plain\n")
    before = page.read_text()
    comparison = {"finding": "f" if setup != "unlabelled" else "", "a": "m/x", "b": "m/y", "column": "final"}
    comparison.update({"seeds": [0, 1], "mean": 1.0, "ci": [0.5, 1.5], "verdict": "x > y: supported", "status": "s"})
    if setup != "no_report":
        doc = {"study": "s", "comparisons": [comparison]}
        (rep / "paired.json").write_text("{" if setup == "corrupt" else json.dumps(doc))
    with pytest.raises(SystemExit) as e:
        main(["findings", str(rep), "--update", str(page)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("error:") and message in err[0] and len(err) <= 2
    assert page.read_text() == before


def test_a_rerun_refreshes_the_report_only_keys_of_the_record(tmp_path: Path) -> None:
    from pruning_lightning.pipeline.runner import check_run_dir

    first = parse_experiment({**_exp([]), "run_dir": str(tmp_path / "run")})
    check_run_dir(first)
    second = parse_experiment(
        {**_exp([{"a": "slim/scratch_e", "b": "uni/scratch_e", "finding": "f"}]), "run_dir": str(tmp_path / "run")}
    )
    check_run_dir(second)  # the same experiment: accepted, and the report reads the new comparisons
    rec = json.loads((tmp_path / "run/experiment.json").read_text())
    assert rec["experiment"]["comparisons"][0]["finding"] == "f" and rec["digest"] == first.digest()
