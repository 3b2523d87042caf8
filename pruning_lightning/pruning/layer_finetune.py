"""ThiNet's short fine-tune between layers (Luo et al., ICCV 2017: about one epoch per layer).

After a layer is pruned on the working copy, a few SGD steps on the training loader let the network
recover before the next layer is sampled. Pruned channels stay pruned: the input columns of every
already reconstructed next layer that read a removed channel are held at zero (their gradients and
weights are zeroed around each step), so the cut network computes what the fine-tuned working copy
computes. The fine-tune runs in train mode (BN statistics update, dropout on) with the global RNG
forked and seeded, so a shuffling / augmenting loader gives the same steps for the same seed.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from pruning_lightning.core.errors import PruningError

MOMENTUM, WEIGHT_DECAY = 0.9, 1e-4  # the project's SGD settings (arXiv 1810.05270, Sec. 4)
Mask = tuple[nn.Parameter, int, torch.Tensor]  # (next layer's weight, its input channels, removed ones)


def _zero(masks: list[Mask], grads: bool) -> None:
    for param, channels, removed in masks:
        t = param.grad if grads else param.data
        if t is not None:  # (O, C, K) view: a conv's kernel taps or a Linear's C x K flattened map
            t.view(t.shape[0], channels, -1)[:, removed] = 0


def finetune(
    model: nn.Module,
    data: DataLoader,
    steps: int,
    lr: float,
    masks: list[Mask],
    seed: int,
    weight_decay: float = WEIGHT_DECAY,
) -> float:
    """``steps`` SGD steps (cross-entropy) on ``data`` (cycled), keeping ``masks`` at zero; the last loss.

    The model is left in eval mode, as the pruners sample it.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr, momentum=MOMENTUM, weight_decay=weight_decay)
    device = next(model.parameters()).device
    loss = torch.zeros(())
    model.train()
    try:
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            torch.manual_seed(seed)
            batches = itertools.chain.from_iterable(iter(data) for _ in itertools.count())  # cycles the loader
            for batch in itertools.islice(batches, steps):
                if not isinstance(batch, list | tuple) or len(batch) < 2:
                    raise PruningError("finetune_steps > 0 needs (image, label) batches from the training loader")
                x, y = batch[0].to(device), batch[1].to(device)
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                _zero(masks, grads=True)
                opt.step()
                with torch.no_grad():
                    _zero(masks, grads=False)
    finally:
        model.eval()
    return float(loss.detach())
