"""Reader of offline W&B run files (``.wandb``), for the tests that check what a run logged."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _parse(data: bytes) -> Iterator[Any]:
    """Records of ``.wandb`` bytes (LevelDB log format: 32 KiB blocks of CRC/length/type-framed chunks).

    The format is internal to W&B, hence this reader lives in the tests."""
    from wandb.proto import wandb_internal_pb2 as pb

    assert data[:4] == b":W&B"
    pos, buf = 7, b""
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:
            pos += 32768 - pos % 32768
            continue
        _, n, t = struct.unpack("<IHB", data[pos : pos + 7])
        pos += 7
        chunk = data[pos : pos + n]
        pos += n
        if t == 0 and n == 0:
            continue
        buf = chunk if t in (1, 2) else buf + chunk
        if t in (1, 4):
            r = pb.Record()
            r.ParseFromString(buf)
            buf = b""
            yield r


def records(path: Path, timeout: float = 30.0) -> Iterator[Any]:
    """Records of a finished offline run: W&B's writer process may still be flushing when ``finish()``
    returns on a loaded machine, so wait (up to ``timeout``) for the run's exit record."""
    deadline = time.time() + timeout
    while True:
        recs = list(_parse(path.read_bytes()))
        if any(r.WhichOneof("record_type") == "exit" for r in recs) or time.time() > deadline:
            return iter(recs)
        time.sleep(0.2)


def runs_of(stage_dir: Path) -> list[dict[str, Any]]:
    out = []
    for f in sorted(stage_dir.glob("wandb/offline-run-*/run-*.wandb")):
        info: dict[str, Any] = {"config": {}, "artifacts": [], "dir": f.parent}
        for r in records(f):
            kind = r.WhichOneof("record_type")
            if kind == "run":
                info.update(group=r.run.run_group, job_type=r.run.job_type, tags=list(r.run.tags), id=r.run.run_id)
                info["config"].update({i.key: json.loads(i.value_json) for i in r.run.config.update})
            elif kind == "config":
                info["config"].update({i.key: json.loads(i.value_json) for i in r.config.update})
            elif kind == "artifact":
                info["artifacts"].append((r.artifact.name, r.artifact.type))
        out.append(info)
    return out
