"""ArchSpec: the (pruned) architecture as plain data.

An ``ArchSpec`` is a constructor argument of every LightningModule, so it lands in each checkpoint's
hyper-parameters and in each run's ``config.yaml``; it is also what the prune stage writes to
``arch.yaml``. Nothing about a network lives anywhere else.
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
        num_classes: output classes; required, with no default: the class count comes from the data. The CLI
            links it from the data module, :func:`pruning_lightning.cli.config.arch_of` reads the data module,
            and checkpoints and artifacts store it (a value written in an arch config is a claim checked
            against the data module).
        cfg: per-family width list; ``None`` means the unpruned default widths for ``depth``.
            The meaning of each entry is documented in the family's module.
        variant: family-specific variant (VGG: ``slimming`` single-Linear head or ``l1`` head).
        options: family-specific extra switches (plain scalars only), e.g. ``{"detach_shortcut": true}``.
    """

    family: str
    depth: int
    num_classes: int
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
        unknown = sorted(set(data) - known)
        if unknown:
            raise PruningError(f"unknown architecture keys {unknown}; known keys: {sorted(known)}")
        missing = sorted({"family", "depth", "num_classes"} - set(data))
        if missing:
            raise PruningError(
                f"architecture lacks {missing}; the class count comes from the data: give a data config "
                "(the CLI links data.num_classes) or write num_classes into the architecture"
            )
        kwargs = dict(data)
        if kwargs.get("cfg") is not None:
            kwargs["cfg"] = [c if isinstance(c, str) else int(c) for c in kwargs["cfg"]]
        kwargs["options"] = dict(kwargs.get("options") or {})
        return cls(**kwargs)

    def replace(self, **changes: Any) -> ArchSpec:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_yaml(self) -> str:
        """``model.init_args.arch`` config fragment, usable as one more ``--config``.

        Read back by :mod:`pruning_lightning.cli.config` (``arch_from_yaml``), the parser of configuration.
        """
        return yaml.safe_dump({"model": {"init_args": {"arch": self.to_dict()}}}, sort_keys=False)

    def __str__(self) -> str:
        return f"{self.family}-{self.depth}" + ("" if self.cfg is None else "(pruned cfg)")


def as_spec(arch: ArchSpec | dict[str, Any]) -> ArchSpec:
    """Accept an ``ArchSpec`` or its dict form (jsonargparse / checkpoints hand us either)."""
    return ArchSpec.from_dict(arch) if isinstance(arch, dict) else arch
