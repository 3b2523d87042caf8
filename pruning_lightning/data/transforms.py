"""Normalisation constants and transform builders per dataset (docs/protocol.md §1, §1.2)."""

from __future__ import annotations

from torchvision import transforms as T

# The reference code normalises CIFAR-100 with the CIFAR-10 constants; we keep that (docs/protocol.md §1).
MEAN_STD: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


def cifar_train_transform(name: str) -> T.Compose:
    """Pad 4 (zeros), random 32x32 crop, random horizontal flip, normalise."""
    mean, std = MEAN_STD[name]
    return T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(mean, std)])


def cifar_eval_transform(name: str) -> T.Compose:
    """ToTensor + normalise; no augmentation."""
    mean, std = MEAN_STD[name]
    return T.Compose([T.ToTensor(), T.Normalize(mean, std)])
