"""``pruning-lightning demo``: the whole Network Slimming slice on bundled digits, on CPU.

sparse large training -> prune (50% of BN channels) -> fine-tune, fine-tune + knowledge distillation
from the large model, Scratch-E and Scratch-B, each
stage through the same ``fit`` entry point and configs a real run uses, then a results table
(Markdown, printed and saved) and a PNG plot. About 3-6 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pruning_lightning.artifact import load_artifact
from pruning_lightning.cli import cli_main
from pruning_lightning.models import input_size
from pruning_lightning.utils.flops import count_complexity
from pruning_lightning.utils.table import human, markdown_table

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _stage(out: Path, name: str, configs: list[Path | str], extra: list[str], seed: int) -> dict[str, Any]:
    """fit + test one stage; returns its test metrics and the network's size."""
    args = ["fit", "--seed_everything", str(seed)]
    for c in configs:
        args += ["--config", str(c)]
    args += ["--trainer.default_root_dir", str(out / name), "--checkpoint.dirpath", str(out / name / "checkpoints")]
    args += [
        "--trainer.logger",
        "lightning.pytorch.loggers.CSVLogger",
        "--trainer.logger.save_dir",
        str(out / name),
        *extra,
    ]
    print(f"\n=== {name} ===", flush=True)
    cli = cli_main(args)
    metrics = cli.trainer.test(cli.model, datamodule=cli.datamodule, verbose=False)[0]
    c = count_complexity(cli.model.net, input_size(cli.model.arch))
    row = {
        "stage": name,
        "acc1": 100 * float(metrics["test/acc1"]),
        "params": c.params,
        "flops": c.flops,
        "epochs": cli.trainer.max_epochs,
    }
    (out / name / "result.json").write_text(json.dumps(row, indent=1))
    return row


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Accuracy per stage, and accuracy vs training compute (epochs x FLOPs, relative to the large run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    names = [r["stage"] for r in rows]
    accs = [r["acc1"] for r in rows]
    a.bar(names, accs, color=["#555"] + ["#1f77b4"] * (len(rows) - 1))
    a.set_ylim(0, 105)  # bars start at zero: a cut axis would exaggerate differences
    a.set_ylabel("final-epoch test top-1 (%)")
    a.set_title("test accuracy per stage (1 seed, final epoch)", pad=12)
    for i, v in enumerate(accs):
        a.text(i, v + 0.1, f"{v:.2f}", ha="center", va="bottom", fontsize=9)
    a.tick_params(axis="x", rotation=20)
    large = rows[0]["epochs"] * rows[0]["flops"]
    for i, r in enumerate(rows):
        x = r["epochs"] * r["flops"] / large
        b.scatter(x, r["acc1"], s=45)
        b.annotate(r["stage"], (x, r["acc1"]), textcoords="offset points", xytext=(6, -12 + 9 * (i % 3)), fontsize=9)
    b.set_xlabel("training compute (epochs x FLOPs), relative to large")
    b.set_ylabel("test top-1 (%)")
    b.set_title("accuracy vs compute (Scratch-B matches the large budget)", pad=12)
    b.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="pruning-lightning demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo", help="output directory (replaced if it exists)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--large_epochs", type=int, default=24)
    parser.add_argument("--finetune_epochs", type=int, default=6)
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bars")
    args = parser.parse_args(argv)
    out = Path(args.out)
    from pruning_lightning.errors import PruningError

    for flag in ("large_epochs", "finetune_epochs"):  # checked before the previous demo output is replaced
        if getattr(args, flag) < 1:
            raise PruningError(f"--{flag} must be a positive integer, got {getattr(args, flag)}")
    if out.exists() and not out.is_dir():
        raise PruningError(f"--out {out} is an existing file, not a folder; choose another --out")
    if out.exists():
        import shutil

        shutil.rmtree(out)
    d = CONFIGS / "demo"
    base = [CONFIGS / "data/digits.yaml", d / "trainer.yaml"]
    bar = ["--trainer.enable_progress_bar", str(args.progress).lower()]
    rows = [
        _stage(
            out,
            "large",
            [*base, CONFIGS / "regime/large.yaml", d / "arch.yaml", d / "sparsity.yaml"],
            ["--trainer.max_epochs", str(args.large_epochs), *bar],
            args.seed,
        )
    ]
    from pruning_lightning.cli import main as cli

    cli(
        [
            "prune",
            "--config",
            str(d / "prune.yaml"),
            "--ckpt",
            str(out / "large/checkpoints/last.ckpt"),
            "--out",
            str(out / "prune"),
            "--base_epochs",
            str(args.large_epochs),
        ]
    )
    prune_dir = out / "prune"
    arch, pruned = prune_dir / "arch.yaml", str(prune_dir / "pruned.pt")
    rows.append(
        _stage(
            out,
            "finetune",
            [*base, CONFIGS / "regime/finetune.yaml", arch],
            ["--model.init_args.init_from", pruned, "--trainer.max_epochs", str(args.finetune_epochs), *bar],
            args.seed,
        )
    )
    rows.append(
        _stage(
            out,
            "finetune_kd",
            [*base, CONFIGS / "regime/finetune_kd.yaml", arch],
            [
                "--model.init_args.init_from",
                pruned,
                "--model.init_args.teacher",
                str(out / "large/checkpoints/last.ckpt"),
                "--trainer.max_epochs",
                str(args.finetune_epochs),
                *bar,
            ],
            args.seed,
        )
    )
    rows.append(
        _stage(
            out,
            "scratch_e",
            [*base, CONFIGS / "regime/scratch_e.yaml", arch],
            ["--model.init_args.structure_from", pruned, "--trainer.max_epochs", str(args.large_epochs), *bar],
            args.seed,
        )
    )
    rows.append(
        _stage(
            out,
            "scratch_b",
            [*base, CONFIGS / "regime/scratch_b.yaml", arch, prune_dir / "scratch_b.yaml"],
            ["--model.init_args.structure_from", pruned, *bar],
            args.seed,
        )
    )
    stats = load_artifact(prune_dir).stats
    table = markdown_table(
        ["stage", "final-epoch test top-1 (%)", "params", "FLOPs", "epochs"],
        [[r["stage"], f"{r['acc1']:.2f}", human(r["params"]), human(r["flops"]), r["epochs"]] for r in rows],
    )
    note = (
        f"Network Slimming 50% on digits (VGG-19/8): FLOPs ratio {stats['flops_ratio']:.2f}x, "
        f"params ratio {stats['params_ratio']:.2f}x, Scratch-B = {stats['scratch_b_epochs']} epochs."
    )
    (out / "results.md").write_text(f"{note}\n\n{table}\n")
    plot(rows, out / "results.png")
    print(f"\n{note}\n\n{table}\n\nwrote {out / 'results.md'} and {out / 'results.png'}")
