"""``pruning-lightning zoo``: torchvision model-zoo weights -> a large-model checkpoint (``fit``'s format).

The reference code starts L1-norm ResNet-34 and weight-level ResNet-50 / VGG-16-BN from these weights
instead of training them (see :mod:`pruning_lightning.zoo`). Examples::

    pruning-lightning zoo --arch configs/arch/imagenet/resnet50.yaml --out large.ckpt
    pruning-lightning zoo --arch configs/arch/imagenet/vgg16_bn.yaml --out large.ckpt --weights vgg16_bn.pth
    pruning-lightning prune -c configs/prune/magnitude_30.yaml --ckpt large.ckpt --out prune --base_epochs 90
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from pruning_lightning.errors import PruningError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pruning-lightning zoo", description=__doc__.splitlines()[0])
    p.add_argument(
        "--arch", "-c", "--config", dest="arch", required=True, help="arch config (configs/arch/imagenet/resnet50.yaml)"
    )
    p.add_argument("--out", required=True, help="checkpoint file to write (e.g. RUN/large/checkpoints/last.ckpt)")
    p.add_argument(
        "--weights", default=None, help="local torchvision-format state dict (default: download IMAGENET1K_V1)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    return p


def main(argv: list[str]) -> None:
    from pruning_lightning.commands.info import arch_from_configs
    from pruning_lightning.zoo import zoo_checkpoint, zoo_network

    a = build_parser().parse_args(argv)
    out = Path(a.out)
    if out.is_dir():
        raise PruningError(f"--out {out} is a folder; give a checkpoint file name (e.g. {out}/large.ckpt)")
    if out.exists() and not a.overwrite:
        raise PruningError(f"--out {out} exists; pass --overwrite to replace it")
    spec = arch_from_configs([a.arch])
    if "num_classes" not in Path(a.arch).read_text():  # ImageNet arch configs leave it to the data module
        spec = spec.replace(num_classes=1000)
    arch, net, source = zoo_network(spec, a.weights)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        torch.save(zoo_checkpoint(arch, net, source), tmp)
        os.replace(tmp, out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise PruningError(f"cannot write --out {out}: {e.strerror or e}; nothing was written") from None
    params = sum(p.numel() for p in net.parameters())
    print(f"wrote {out}: {arch.family}-{arch.depth} ({arch.variant}), {params:,} params, weights from {source}")
