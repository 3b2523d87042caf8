"""``pruning-lightning prune``: large checkpoint -> pruner -> artifact directory.

Example::

    pruning-lightning prune --config configs/prune/slimming_70.yaml \
        --ckpt runs/c10-vgg19/large/checkpoints/last.ckpt --out runs/c10-vgg19/prune
"""

from __future__ import annotations

from pathlib import Path

from pruning_lightning.cli.config import prune_parser
from pruning_lightning.core.config_files import read_config
from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.artifact import PrunedArtifact, write_artifact
from pruning_lightning.formats.checkpoint import network_from, origin, read_torch_file
from pruning_lightning.formats.fresh import check_output_dir
from pruning_lightning.pruning.base import prune
from pruning_lightning.utils.schedule import MAX_EPOCHS
from pruning_lightning.utils.table import human, markdown_table


def summary(art: PrunedArtifact) -> str:
    """Stats table + per-layer kept channels, as printed after pruning."""
    s = art.stats
    rows = [
        ["params", human(s["params_before"]), human(s["params_after"]), f"{s['params_ratio']:.2f}x"],
        ["FLOPs", human(s["flops_before"]), human(s["flops_after"]), f"{s['flops_ratio']:.2f}x"],
        ["MACs", human(s["macs_before"]), human(s["macs_after"]), f"{s['macs_before'] / s['macs_after']:.2f}x"],
    ]
    text = markdown_table(["", "before", "after", "reduction"], rows)
    text += f"\n\nScratch-B epochs: {s['scratch_b_epochs']} (base {s['base_epochs']}, cap {s['max_ratio']})\n\n"
    text += markdown_table(["layer", "kept"], [[k, v] for k, v in s["kept"].items()])
    return text + "".join(f"\nnote: {n}" for n in s.get("notes", []))


def base_epochs_source(argv: list[str]) -> str:
    """Where ``--base_epochs`` comes from: the command line or the last ``-c`` file that sets it."""
    if any(a == "--base_epochs" or a.startswith("--base_epochs=") for a in argv):
        return "the command line"
    files = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("-c", "--config")]
    for f in reversed(files):
        try:
            doc = read_config(f)  # the parse has just read it: its data, not a second read
        except PruningError:  # an inline config
            continue
        if isinstance(doc, dict) and "base_epochs" in doc:
            return f
    return "a config file"


def check_base_epochs(base: int, source: str, ckpt: object) -> None:
    """Say where the Scratch-B base comes from; warn when the checkpoint trained for another epoch count.

    Both go to stdout: stderr stays the place of the one ``error:`` line of a failed command.
    """
    print(f"Scratch-B base: {base} epochs (--base_epochs, from {source})")
    epoch = ckpt.get("epoch") if isinstance(ckpt, dict) and not ckpt.get("imported_from") else None
    if isinstance(epoch, int) and epoch + 1 != base:
        print(
            f"warning: the checkpoint was trained for {epoch + 1} epoch(s) but --base_epochs is {base} (from "
            f"{source}); Scratch-B trains base_epochs x FLOPs ratio, so pass --base_epochs {epoch + 1} if that was "
            "the large model's whole run"
        )


def check_data_classes(data: object, classes: int, ckpt: str) -> None:
    """The ``--data`` a data-driven pruner reads must have the checkpoint's class count."""
    try:
        theirs = getattr(data, "num_classes", None)
    except PruningError:  # a data module that counts on disk and cannot here: setup reports the missing data
        return
    if isinstance(theirs, int) and theirs != classes:
        raise PruningError(
            f"--data has {theirs} classes but the network of {ckpt} has {classes}; give the data it was trained on"
        )


def main(argv: list[str]) -> None:
    parser = prune_parser()
    parser.exit_on_error = False  # a parse error is one line (pruning_lightning.core.errors.describe), not a usage dump
    cfg = parser.parse_args(argv)
    if not 1 <= cfg.base_epochs <= MAX_EPOCHS:
        raise PruningError(
            f"--base_epochs must be a positive integer up to {MAX_EPOCHS} (large-model epochs), got {cfg.base_epochs}"
        )
    if cfg.max_ratio is not None and not cfg.max_ratio >= 1:
        raise PruningError(f"--max_ratio caps the Scratch-B FLOPs ratio: a number >= 1, got {cfg.max_ratio}")
    check_output_dir(Path(cfg.out), cfg.overwrite)  # before any work: a bad --out fails at once
    init = parser.instantiate_classes(cfg)
    ckpt = read_torch_file(cfg.ckpt, "checkpoint", "; re-run its stage")
    arch, classes, net = network_from(ckpt, cfg.ckpt)
    source = origin(ckpt, cfg.ckpt)
    print(f"pruning the model of {source}")
    check_base_epochs(cfg.base_epochs, base_epochs_source(argv), ckpt)
    data = None
    if init.get("data") is not None and init.pruner.needs_data:
        check_data_classes(init.data, classes, cfg.ckpt)
        init.data.setup("fit")
        data = init.data.train_dataloader()
    art = prune(net, arch, init.pruner, data, base_epochs=cfg.base_epochs, max_ratio=cfg.max_ratio)
    art.stats["source_checkpoint"] = source
    try:
        out = write_artifact(art, cfg.out, overwrite=cfg.overwrite)
    except OSError as e:  # disk full, permissions changed meanwhile: nothing of the artifact is left behind
        raise PruningError(f"cannot write --out {cfg.out}: {e.strerror or e}; nothing was written") from None
    print(summary(art))
    print(f"\nwrote {out}/{{pruned.pt,arch.yaml,stats.yaml,scratch_b.yaml}}")
