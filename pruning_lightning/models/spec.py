"""ArchSpec: the (pruned) architecture as plain data.

An ``ArchSpec`` is a constructor argument of every LightningModule, so it lands in each checkpoint's
hyper-parameters and in each run's ``config.yaml``; it is also what the prune stage writes to
``arch.yaml``. Nothing about a network's body lives anywhere else. The class count is not part of it: it is
the data's, and whoever builds a network passes it (``build_arch(spec, num_classes)``); checkpoints and
artifacts store it beside the spec (``num_classes``). Files written while the spec still held it are read by
:func:`split_classes`, which moves the value beside the spec.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import yaml

from pruning_lightning.core.errors import PruningError


@dataclass(frozen=True)
class ArchSpec:
    """A network, described by data only.

    Args:
        family: registered family name (``vgg``, ...; see ``pruning_lightning.models.ARCHS``).
        depth: nominal depth (VGG-19 -> 19).
        cfg: per-family width list; ``None`` means the unpruned default widths for ``depth``.
            The meaning of each entry is documented in the family's module.
        variant: family-specific variant (VGG: ``slimming`` single-Linear head or ``l1`` head).
        options: family-specific extra switches (plain scalars only), e.g. ``{"detach_shortcut": true}``.
    """

    family: str
    depth: int
    cfg: list[int | str] | None = None
    variant: str = "default"
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists, strings, ints) suitable for YAML and ``torch.save``."""
        out = dataclasses.asdict(self)
        out["cfg"] = list(self.cfg) if self.cfg is not None else None
        out["options"] = dict(self.options)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | ArchSpec) -> ArchSpec:
        """Build from a dict (as stored in checkpoints / YAML); unknown keys are an error."""
        if isinstance(data, ArchSpec):
            return data
        if not isinstance(data, dict):
            raise PruningError(f"architecture must be a mapping, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        if "num_classes" in data:  # a reader of stored data calls split_classes first; anything else is refused
            raise PruningError(
                "num_classes is not part of the architecture (the class count is the data's); write it beside "
                "the arch (model.init_args.num_classes) or leave it to the data module"
            )
        unknown = sorted(set(data) - known)
        if unknown:
            raise PruningError(f"unknown architecture keys {unknown}; known keys: {sorted(known)}")
        missing = sorted({"family", "depth"} - set(data))
        if missing:
            raise PruningError(f"architecture lacks {missing}")
        kwargs = dict(data)
        if kwargs.get("cfg") is not None:
            kwargs["cfg"] = [c if isinstance(c, str) else int(c) for c in kwargs["cfg"]]
        kwargs["options"] = dict(kwargs.get("options") or {})
        return cls(**kwargs)

    def replace(self, **changes: Any) -> ArchSpec:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_yaml(self, num_classes: int | None = None) -> str:
        """``model.init_args.arch`` config fragment, usable as one more ``--config``.

        ``num_classes``: also written, beside the arch (``model.init_args.num_classes``): a claim the CLI
        checks against the data module. Read back by :mod:`pruning_lightning.cli.config` (``arch_from_yaml``).
        """
        init: dict[str, Any] = {"arch": self.to_dict()}
        if num_classes is not None:
            init["num_classes"] = int(num_classes)
        return yaml.safe_dump({"model": {"init_args": init}}, sort_keys=False)

    def __str__(self) -> str:
        return f"{self.family}-{self.depth}" + ("" if self.cfg is None else "(pruned cfg)")


def as_spec(arch: ArchSpec | dict[str, Any]) -> ArchSpec:
    """Accept an ``ArchSpec`` or its dict form (jsonargparse / checkpoints hand us either)."""
    return ArchSpec.from_dict(arch) if isinstance(arch, dict) else arch


def split_classes(arch: Any, num_classes: Any = None, where: str = "") -> tuple[Any, int | None]:
    """``(arch without num_classes, the class count)`` of stored data written with or without it in the arch.

    Files written while the spec held the class count (arch.yaml, checkpoint hyper-parameters, pruned.pt)
    have ``num_classes`` inside the arch mapping; newer ones beside it (``num_classes``). Both are read; a
    file with two different counts is refused. ``arch`` that is not a mapping is returned as it is.

    Raises:
        PruningError: the two counts disagree, or a count is not a positive integer (``where`` names the file).
    """
    legacy = None
    if isinstance(arch, dict) and "num_classes" in arch:
        arch = dict(arch)
        legacy = arch.pop("num_classes")
    at = f"{where}: " if where else ""
    for n in (legacy, num_classes):
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise PruningError(f"{at}num_classes must be a positive integer, got {n!r}")
    if legacy is not None and num_classes is not None and legacy != num_classes:
        raise PruningError(
            f"{at}the arch says num_classes {legacy} but num_classes beside it is {num_classes}; "
            "remove one of them (the class count is the data's)"
        )
    return arch, num_classes if num_classes is not None else legacy
