"""Helpers of tests/test_bad_inputs.py: file-system snapshots, a fake CIFAR folder, pickle payloads."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pruning_lightning.main import main

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
P50 = str(CONFIGS / "prune/slimming_50.yaml")
TINY_EXP = CONFIGS / "experiments/tiny_slimming.yaml"
SYN, LARGE = str(CONFIGS / "data/synthetic.yaml"), str(CONFIGS / "regime/large.yaml")
TINY = str(CONFIGS / "experiments/tiny/arch_vgg11_tiny.yaml")
TRAIN = ["--trainer.accelerator", "cpu", "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1"]
TRAIN += ["--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false"]
FIT = ["fit", "-c", SYN, "-c", LARGE, "-c", TINY, *TRAIN]


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with its content hash (folders: "dir") and mode."""
    out = {}
    for p in sorted(root.rglob("*")):
        kind = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
        out[str(p.relative_to(root))] = f"{kind} {oct(p.stat().st_mode)}"
    return out


def error_of(capsys: pytest.CaptureFixture[str], argv: list[str], root: Path, *needles: str) -> str:
    """Run ``main(argv)``: exit 2, one ``error:`` line (+ one ``hint:``), no traceback, ``root`` unchanged."""
    before = snapshot(root)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    err = out.err.strip().splitlines()
    assert 1 <= len(err) <= 2, err
    assert err[0].startswith("error: ") and (len(err) == 1 or err[1].startswith("hint: ")), err
    for n in needles:
        assert n in err[0], (n, err[0])
    assert snapshot(root) == before
    return err[0]


class Payload:
    """Unpickling this object opens (creates) ``marker``: the file's existence proves code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def cifar_entry(n: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8), "labels": [i % 10 for i in range(n)]}


def fake_cifar(root: Path, n: int = 20) -> Path:
    """A CIFAR-10 python-format folder with ``n`` images per batch (pickled like the original files)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        (folder / name).write_bytes(pickle.dumps(cifar_entry(n, i), protocol=2))
    meta = {"label_names": [f"class{i}" for i in range(10)], "num_cases_per_batch": n}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def cifar_args(data_dir: Path, verify: bool = False, download: bool = False) -> list[str]:
    init = {"name": "cifar10", "data_dir": str(data_dir), "download": download, "verify_checksums": verify}
    init.update(num_workers=0, batch_size=4, eval_batch_size=4)
    data = {"class_path": "pruning_lightning.data.CIFARDataModule", "init_args": init}
    return ["fit", "-c", LARGE, "-c", TINY, *TRAIN, "--data", json.dumps(data)]


def make_res(root: Path) -> dict[str, str]:
    """A trained tiny checkpoint and a prune artifact (for the ``res`` fixtures)."""
    from pruning_lightning.formats.artifact import write_artifact
    from pruning_lightning.models import build_arch, resolve
    from pruning_lightning.pruning import MagnitudePruner, SlimmingPruner, prune
    from tests.helpers import TINY_VGG

    main(["fit", "-c", SYN, "-c", LARGE, "-c", TINY, *TRAIN, "--trainer.default_root_dir", str(root / "large")])
    arch = resolve(TINY_VGG)
    write_artifact(prune(build_arch(arch, 10), arch, SlimmingPruner(0.5), base_epochs=2), root / "prune")
    write_artifact(prune(build_arch(arch, 10), arch, MagnitudePruner(0.5), base_epochs=2), root / "masked")
    out = {"ckpt": str(root / "large/checkpoints/last.ckpt"), "art": str(root / "prune")}
    return {**out, "masked": str(root / "masked")}


def put(w: Path, name: str, text: str | bytes) -> str:
    (w / name).parent.mkdir(parents=True, exist_ok=True)
    (w / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(w / name)


def truncated(r: dict[str, str], w: Path) -> str:
    return put(w, "trunc.ckpt", Path(r["ckpt"]).read_bytes()[:3000])


def exp_file(w: Path, **changes: object) -> str:
    import yaml

    doc = {**yaml.safe_load(TINY_EXP.read_text()), "run_dir": str(w / "run"), **changes}
    return put(w, "exp.yaml", yaml.safe_dump({k: v for k, v in doc.items() if v is not None}))


def read_only_folder(work: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``work/ro``, refused for writing (root ignores modes: ``os.access`` is patched for that folder only)."""
    (work / "ro").mkdir(mode=0o555)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: Path(p) != work / "ro" and real(p, mode, **k))
    return work / "ro"
