"""The paper's reference numbers (arXiv 1810.05270 Tables 1-6), keyed ``table/dataset/model/pruned``.

Each entry maps a regime (``large`` = unpruned, ``finetune``, ``scratch_e``, ``scratch_b``) to
``(mean, std)`` top-1 accuracy in %; ``std`` is ``None`` for single-run ImageNet numbers. CIFAR
values are the mean ± std of 5 runs. Tags from arXiv 1810.05270 Tables 1-6 are kept in ``NOTES``: most CIFAR rows are
recalled (~M), not verified against the PDF. For ThiNet and regression (Tables 2/3) the paper
reports deltas; ``finetune`` here is the original paper's baseline plus its delta, and
Scratch-E/B are the README's absolute accuracies; ``large`` is the Rethinking authors' PyTorch
baseline. For SSS (Table 5) ``finetune`` holds the SSS paper's sparse-trained accuracy.
An experiment YAML links its methods to these keys through ``paper: {method_name: key}``.
"""

from __future__ import annotations

Entry = dict[str, tuple[float, float | None]]


def _row(
    large: tuple[float, float | None],
    ft: tuple[float, float | None],
    e: tuple[float, float | None],
    b: tuple[float, float | None],
) -> Entry:
    return {"large": large, "finetune": ft, "scratch_e": e, "scratch_b": b}


def _pm(*vals: float) -> list[tuple[float, float]]:
    return [(vals[i], vals[i + 1]) for i in range(0, len(vals), 2)]


REFERENCE: dict[str, Entry] = {
    # Table 1: L1-norm filter pruning.
    "table1/cifar10/vgg16/vgg16_a": _row(*_pm(93.63, 0.16, 93.41, 0.12, 93.62, 0.11, 93.78, 0.15)),
    "table1/cifar10/resnet56/resnet56_a": _row(*_pm(93.14, 0.12, 92.97, 0.17, 92.96, 0.26, 93.09, 0.14)),
    "table1/cifar10/resnet56/resnet56_b": _row(*_pm(93.14, 0.12, 92.67, 0.14, 92.54, 0.19, 93.05, 0.18)),
    "table1/cifar10/resnet110/resnet110_a": _row(*_pm(93.14, 0.24, 93.14, 0.16, 93.25, 0.29, 93.22, 0.22)),
    "table1/cifar10/resnet110/resnet110_b": _row(*_pm(93.14, 0.24, 92.69, 0.09, 92.89, 0.43, 93.60, 0.25)),
    "table1/imagenet/resnet34/resnet34_a": _row((73.31, None), (72.56, None), (72.77, None), (73.03, None)),
    "table1/imagenet/resnet34/resnet34_b": _row((73.31, None), (72.29, None), (72.55, None), (72.91, None)),
    # Table 2: ThiNet (ImageNet). finetune = ThiNet baseline + delta; E/B = README absolute.
    "table2/imagenet/vgg16/vgg_conv": _row((71.51, None), (71.03 - 1.23, None), (68.76, None), (71.72, None)),
    "table2/imagenet/vgg16/vgg_gap": _row((71.51, None), (71.03 - 3.67, None), (66.85, None), (68.66, None)),
    "table2/imagenet/vgg16/vgg_tiny": _row((71.51, None), (71.03 - 11.61, None), (57.15, None), (59.93, None)),
    "table2/imagenet/resnet50/thinet_30": _row((76.13, None), (75.15 - 6.72, None), (70.91, None), (71.57, None)),
    "table2/imagenet/resnet50/thinet_50": _row((76.13, None), (75.15 - 4.13, None), (73.31, None), (73.90, None)),
    "table2/imagenet/resnet50/thinet_70": _row((76.13, None), (75.15 - 3.10, None), (74.42, None), (75.14, None)),
    # Table 3: regression-based feature reconstruction (ImageNet).
    "table3/imagenet/vgg16/vgg16_5x": _row((71.51, None), (71.03 - 2.67, None), (68.05, None), (71.00, None)),
    "table3/imagenet/resnet50/resnet50_2x": _row((76.13, None), (75.51 - 3.25, None), (71.26, None), (74.58, None)),
    # Table 4: Network Slimming.
    "table4/cifar10/vgg19/slimming_70": _row(*_pm(93.53, 0.16, 93.60, 0.16, 93.30, 0.11, 93.81, 0.14)),
    "table4/cifar10/preresnet164/slimming_40": _row(*_pm(95.04, 0.16, 94.77, 0.12, 94.70, 0.11, 94.90, 0.04)),
    "table4/cifar10/preresnet164/slimming_60": _row(*_pm(95.04, 0.16, 94.23, 0.21, 94.58, 0.18, 94.71, 0.21)),
    "table4/cifar10/densenet40/slimming_40": _row(*_pm(94.10, 0.12, 94.00, 0.20, 93.68, 0.18, 94.06, 0.12)),
    "table4/cifar10/densenet40/slimming_60": _row(*_pm(94.10, 0.12, 93.87, 0.13, 93.58, 0.21, 93.85, 0.25)),
    "table4/cifar100/vgg19/slimming_50": _row(*_pm(72.63, 0.21, 72.32, 0.28, 71.94, 0.17, 73.08, 0.22)),
    "table4/cifar100/preresnet164/slimming_40": _row(*_pm(76.80, 0.19, 76.22, 0.20, 76.36, 0.32, 76.68, 0.35)),
    "table4/cifar100/preresnet164/slimming_60": _row(*_pm(76.80, 0.19, 74.17, 0.33, 75.05, 0.08, 75.73, 0.29)),
    "table4/cifar100/densenet40/slimming_40": _row(*_pm(73.82, 0.34, 73.35, 0.17, 73.24, 0.29, 73.19, 0.26)),
    "table4/cifar100/densenet40/slimming_60": _row(*_pm(73.82, 0.34, 72.46, 0.22, 72.62, 0.36, 72.91, 0.34)),
    "table4/imagenet/vgg11/slimming_50": _row((70.84, None), (68.62, None), (70.00, None), (71.18, None)),
    # Table 5: Sparse Structure Selection (ImageNet ResNet-50; finetune = the SSS paper's sparse model).
    "table5/imagenet/resnet50/sss_resnet41": _row((76.12, None), (75.44, None), (75.70, None), (76.17, None)),
    "table5/imagenet/resnet50/sss_resnet32": _row((76.12, None), (74.18, None), (73.79, None), (74.67, None)),
    "table5/imagenet/resnet50/sss_resnet26": _row((76.12, None), (71.82, None), (72.31, None), (73.41, None)),
    # Table 6: non-structured magnitude pruning.
    "table6/cifar10/vgg19/magnitude_30": _row(*_pm(93.50, 0.11, 93.51, 0.05, 93.71, 0.09, 93.31, 0.26)),
    "table6/cifar10/vgg19/magnitude_80": _row(*_pm(93.50, 0.11, 93.52, 0.10, 93.71, 0.08, 93.64, 0.09)),
    "table6/cifar10/preresnet110/magnitude_30": _row(*_pm(95.04, 0.15, 95.06, 0.05, 94.84, 0.07, 95.11, 0.09)),
    "table6/cifar10/preresnet110/magnitude_80": _row(*_pm(95.04, 0.15, 94.55, 0.11, 93.76, 0.10, 94.52, 0.13)),
    "table6/cifar10/densenet_bc100/magnitude_30": _row(*_pm(95.24, 0.17, 95.21, 0.17, 95.22, 0.18, 95.23, 0.14)),
    "table6/cifar10/densenet_bc100/magnitude_80": _row(*_pm(95.24, 0.17, 95.04, 0.15, 94.42, 0.12, 95.12, 0.04)),
    "table6/cifar100/vgg19/magnitude_30": _row(*_pm(71.70, 0.31, 71.96, 0.36, 72.81, 0.31, 73.30, 0.25)),
    "table6/cifar100/vgg19/magnitude_50": _row(*_pm(71.70, 0.31, 71.85, 0.30, 73.12, 0.36, 73.77, 0.23)),
    "table6/cifar100/preresnet110/magnitude_30": _row(*_pm(76.96, 0.34, 76.88, 0.31, 76.36, 0.26, 76.96, 0.31)),
    "table6/cifar100/preresnet110/magnitude_50": _row(*_pm(76.96, 0.34, 76.60, 0.36, 75.45, 0.23, 76.42, 0.39)),
    "table6/cifar100/densenet_bc100/magnitude_30": _row(*_pm(77.59, 0.19, 77.23, 0.05, 77.58, 0.25, 77.97, 0.31)),
    "table6/cifar100/densenet_bc100/magnitude_50": _row(*_pm(77.59, 0.19, 77.41, 0.14, 77.65, 0.09, 77.80, 0.23)),
    "table6/imagenet/vgg16_bn/magnitude_30": _row((73.37, None), (73.68, None), (72.75, None), (74.02, None)),
    "table6/imagenet/vgg16_bn/magnitude_60": _row((73.37, None), (73.63, None), (71.50, None), (73.42, None)),
    "table6/imagenet/resnet50/magnitude_30": _row((76.15, None), (76.06, None), (74.77, None), (75.70, None)),
    "table6/imagenet/resnet50/magnitude_60": _row((76.15, None), (76.09, None), (73.69, None), (74.91, None)),
}

NOTES = {
    "table1": "CIFAR fine-tuned and VGG-16-A recalled (~M); ResNet E/B and ImageNet confirmed.",
    "table2": "Scratch-E/B from the official README; unpruned and fine-tuned deltas recalled.",
    "table3": "Scratch-E/B from the official README; unpruned and fine-tuned deltas recalled.",
    "table4": "CIFAR rows recalled (~M); ImageNet fine-tuned/Scratch-E/B from the README.",
    "table5": "Scratch-E/B from the README; the sparse column recalled.",
    "table6": "CIFAR rows recalled (~M); ImageNet from the README (ResNet Scratch-B: README 75.60/74.90).",
}


def lookup(key: str, regime: str) -> tuple[float, float | None] | None:
    """The paper's (mean, std) for one regime of one row, or ``None`` when the paper has none."""
    return REFERENCE.get(key, {}).get(regime)
