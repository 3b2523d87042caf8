"""The paper's names for what a report shows: ``slimming_50`` -> "Network Slimming 50 %", ``scratch_b`` -> "Scratch-B".

A method's display name comes from its pruner (recorded by the prune stage as ``stats.method``) and the ratio
in its experiment name (``slimming_50``, ``magnitude_80``); an experiment's own method or regime names that the
table below does not know are shown as written.
"""

from __future__ import annotations

import re

PRUNERS = {
    "slimming": "Network Slimming",
    "l1_norm": "L1-norm",
    "thinet": "ThiNet",
    "regression": "Regression",
    "sss": "SSS",
    "magnitude": "Magnitude",
    "sfp": "SFP",
    "uniform_channel": "Uniform",
    "uniform": "Uniform",
    "uniform_sparsity": "Uniform sparsity",
    "guided": "Guided",
}
REGIMES = {
    "large": "Large (unpruned)",
    "finetune": "Fine-tuned",
    "scratch_e": "Scratch-E",
    "scratch_b": "Scratch-B",
    "finetune_kd": "Fine-tuned + KD",
    "scratch_e_kd": "Scratch-E + KD",
    "scratch_b_kd": "Scratch-B + KD",
    "winning": "Winning ticket",
    "random": "Random init",
    "winning_lr0.01": "Winning ticket (LR 0.01)",
    "random_lr0.01": "Random init (LR 0.01)",
}


def regime_label(regime: str) -> str:
    return REGIMES.get(regime, regime)


def method_label(method: str, pruner: str | None = None) -> str:
    """``("slimming_50", "slimming")`` -> "Network Slimming 50 %"; ``("l1_norm_a", "l1_norm")`` -> "L1-norm (a)"."""
    key = pruner if pruner in PRUNERS else next((p for p in sorted(PRUNERS, key=len, reverse=True)
                                                 if method.startswith(p)), None)  # fmt: skip
    if key is None:
        return method
    rest = method.removeprefix(key).strip("_") if method.startswith(key) else re.sub(r"^[a-z]+_?", "", method)
    ratio = re.fullmatch(r"(\d+)(?:_(.+))?", rest)
    if ratio:  # magnitude_80 -> "Magnitude 80 %"; magnitude_80_lr0.01 -> "Magnitude 80 % (LR 0.01)"
        tail = f" ({_words(ratio.group(2))})" if ratio.group(2) else ""
        return f"{PRUNERS[key]} {ratio.group(1)} %{tail}"
    rest = _words(rest)  # l1_norm_a -> "L1-norm (A)": Li et al.'s A; l1_norm_a_lr0.01 -> "L1-norm (A, LR 0.01)"
    return f"{PRUNERS[key]} ({rest})" if rest else PRUNERS[key]


def _words(rest: str) -> str:
    """A method name's tail in words: single letters are variants (``a`` -> ``A``), ``lr0.01`` -> ``LR 0.01``."""
    words = [w.upper() if len(w) == 1 else re.sub(r"^lr(?=\d)", "LR ", w) for w in rest.split("_")]
    return ", ".join(words) if all(len(w) == 1 or w.startswith("LR ") for w in words) else " ".join(words)
