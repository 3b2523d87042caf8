"""``pruning-lightning zoo``: torchvision model-zoo weights -> a large-model checkpoint (``fit``'s format).

The reference code starts L1-norm ResNet-34 and weight-level ResNet-50 / VGG-16-BN from these weights
instead of training them (see :mod:`pruning_lightning.stages.model_zoo`). Examples::

    pruning-lightning zoo --arch configs/arch/imagenet/resnet50.yaml --out large.ckpt
    pruning-lightning zoo --arch configs/arch/imagenet/vgg16_bn.yaml --out large.ckpt --weights vgg16_bn.pth
    pruning-lightning prune -c configs/prune/magnitude_30.yaml --ckpt large.ckpt --out prune --base_epochs 90
"""

from __future__ import annotations

from pathlib import Path

import torch
from jsonargparse import ActionYesNo, ArgumentParser

from pruning_lightning.cli.config import claimed_num_classes, written_arch
from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.fresh import check_output_file, fresh_file
from pruning_lightning.models.spec import ArchSpec
from pruning_lightning.stages.model_zoo import ZOO_CLASSES, zoo_checkpoint, zoo_network
from pruning_lightning.utils.finite import check_finite


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="pruning-lightning zoo", description=__doc__.splitlines()[0], exit_on_error=False, allow_abbrev=False
    )
    p.add_argument(
        "--arch", "-c", "--config", dest="arch", required=True, help="arch config (configs/arch/imagenet/resnet50.yaml)"
    )
    p.add_argument("--out", required=True, help="checkpoint file to write (e.g. RUN/large/checkpoints/last.ckpt)")
    p.add_argument(
        "--weights", default=None, help="local torchvision-format state dict (default: download IMAGENET1K_V1)"
    )
    p.add_argument(
        "--overwrite", action=ActionYesNo, nargs="?", default=False, help="replace an existing --out (a switch)"
    )
    return p


def main(argv: list[str]) -> None:
    a = build_parser().parse_args(argv)
    out = Path(a.out)
    check_output_file(out, a.overwrite)
    written = written_arch([a.arch])
    if not isinstance(written, dict):
        raise PruningError(f"no model.init_args.arch found in {[a.arch]}")
    # The class count is the weights' (ImageNet-1k); one the arch config writes is a claim checked here.
    claim = claimed_num_classes([a.arch])
    if claim is not None and claim[0] != ZOO_CLASSES:
        raise PruningError(f"model-zoo weights have {ZOO_CLASSES} classes, {claim[1]} describes {claim[0]}")
    spec = ArchSpec.from_dict(written)
    arch, net, source = zoo_network(spec, a.weights)
    check_finite(net.state_dict(), f"--weights {a.weights or source}")  # a NaN never becomes a large model
    try:  # a temporary file put in place when complete; on failure no file and no folder it created is left
        fresh_file(out, lambda tmp: torch.save(zoo_checkpoint(arch, net, source), tmp))
    except (OSError, RuntimeError) as e:  # torch's serializer raises RuntimeError for an unwritable file
        why = getattr(e, "strerror", None) or str(e).splitlines()[0]
        raise PruningError(f"cannot write --out {out}: {why}; nothing was written") from None
    params = sum(p.numel() for p in net.parameters())
    print(f"wrote {out}: {arch.family}-{arch.depth} ({arch.variant}), {params:,} params, weights from {source}")
