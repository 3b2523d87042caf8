"""The family registry: what a family declares, and the spec checks derived from that declaration.

Every family module calls ``register_arch(name, Family(...))`` at import; ``models/__init__.py``
imports every family module it finds in the package, so the modules are the registry.
``Family.check`` runs the checks common to every family (depth, variant, options, cfg layout
and widths) from the data the family declares, then the family's own ``validate`` for what only it knows.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from torch import nn

from pruning_lightning.core.errors import PruningError
from pruning_lightning.models.spec import ArchSpec, as_spec


def _no_checks(spec: ArchSpec) -> None:
    """The family-specific checks of a family that needs none."""


@dataclass(frozen=True)
class ZooKeys:
    """How a family's unpruned networks map onto torchvision's (the model-zoo import, ``stages/model_zoo.py``).

    Attributes:
        name: ``spec -> torchvision builder name`` (``resnet50``, ``vgg16_bn``); raises ``PruningError``
            for a layout torchvision lacks. Called on an unpruned spec without options.
        key_map: ``spec -> {torchvision state-dict prefix: our prefix}`` (module level; ``{}``: same names).
    """

    name: Callable[[ArchSpec], str]
    key_map: Callable[[ArchSpec], dict[str, str]]


@dataclass(frozen=True)
class Family:
    """What a model family registers.

    Attributes:
        build: ``(spec, num_classes) -> nn.Module`` for a checked spec (``build_arch`` checks it first); the
            class count is the data's, never the spec's.
        default_cfg: ``spec -> cfg`` of the unpruned network for ``spec.depth`` / ``spec.variant``. A
            checked cfg has its layout: the same length, ``"M"`` at the same places. Where the depths
            follow a rule (``depth_repeats``), it raises ``PruningError`` for a depth off the rule.
        validate: the family-specific checks, run after the common ones.
        input_size: (C, H, W) of one input image, used for FLOPs counting.
        depths: the depths the family has; ``None``: those ``default_cfg`` accepts.
        variants: the allowed ``spec.variant`` values.
        options: the allowed ``spec.options`` with their defaults; a default's type is the option's
            type (``bool``, or ``int``, which must be >= 1).
        min_width: the smallest width a cfg entry may have (0 where a 0 removes a residual branch).
        max_widths: ``spec -> upper bound per cfg entry`` (``None``: unbounded; ``None`` for the whole
            list: no bounds), for entries that select channels out of a fixed width.
        cfg_help: what the cfg entries are, for the cfg-length error.
        zoo: how torchvision's ImageNet weights load into it (None: no model-zoo import).
        usual_classes: the class count of the dataset the family is made for (CIFAR-10: 10, ImageNet-1k:
            1000); used only where no data says it: ``pruning-lightning info`` on an arch config given
            without a data config or ``--num_classes`` (it says so in its output).
    """

    build: Callable[[ArchSpec, int], nn.Module]
    default_cfg: Callable[[ArchSpec], list[int | str]]
    validate: Callable[[ArchSpec], None] = _no_checks
    input_size: tuple[int, int, int] = (3, 32, 32)
    depths: Collection[int] | None = None
    variants: tuple[str, ...] = ("default",)
    options: dict[str, bool | int] = field(default_factory=dict)
    min_width: int = 1
    max_widths: Callable[[ArchSpec], list[int | None] | None] | None = None
    cfg_help: str = ""
    zoo: ZooKeys | None = None
    usual_classes: int = 10

    def check(self, spec: ArchSpec) -> None:
        """Raise ``PruningError`` on a spec this family cannot build (common checks, then ``validate``)."""
        name = spec.family
        if self.depths is not None and spec.depth not in self.depths:
            raise PruningError(f"{name}: unknown depth {spec.depth}; known depths: {sorted(self.depths)}")
        if spec.variant not in self.variants:
            if len(self.variants) > 1:
                raise PruningError(f"{name}: unknown variant {spec.variant!r}; known: {list(self.variants)}")
            hint = "; use options instead" if self.options else ""
            raise PruningError(f"{name}: unknown variant {spec.variant!r}; it has no variants{hint}")
        self._check_options(spec)
        ref = self.default_cfg(spec)  # raises for a depth off the family's rule
        if spec.cfg is not None:
            self._check_cfg(spec, ref)
        self.validate(spec)

    def _check_options(self, spec: ArchSpec) -> None:
        name = spec.family
        if spec.options and not self.options:
            raise PruningError(f"{name}: takes no options, got {sorted(spec.options)}")
        for key in sorted(spec.options):
            if key not in self.options:
                known = sorted(self.options)
                raise PruningError(f"{name}: unknown option {key!r}; known: {known} (unknown options are not ignored)")
        for key, value in spec.options.items():
            kind = type(self.options[key])
            if type(value) is not kind or (kind is int and value < 1):
                want = "a bool (true or false)" if kind is bool else f"an {kind.__name__} >= 1"
                raise PruningError(f"{name}: option {key} must be {want}, got {value!r}")

    def _check_cfg(self, spec: ArchSpec, ref: list[int | str]) -> None:
        cfg = list(spec.cfg or [])
        what = f"{spec.family}-{spec.depth}" + (f" ({spec.variant})" if len(self.variants) > 1 else "")
        if "M" in ref:
            if [c == "M" for c in cfg] != [c == "M" for c in ref]:
                raise PruningError(
                    f"{what}: cfg {cfg} does not match the layout of {ref} "
                    f"({sum(c != 'M' for c in ref)} widths, 'M' at the same positions)"
                )
        elif len(cfg) != len(ref):
            help_ = self.cfg_help or f"see the {spec.family} module docstring"
            raise PruningError(f"{what}: cfg has {len(cfg)} entries, needs {len(ref)} integers ({help_})")
        for i, (c, r) in enumerate(zip(cfg, ref, strict=True)):
            if r != "M" and (isinstance(c, bool) or not isinstance(c, int) or c < self.min_width):
                why = "0 removes a residual branch" if self.min_width < 1 else "a layer cannot be left with no channels"
                raise PruningError(f"{what}: cfg[{i}] = {c!r} is not a width >= {self.min_width}; {why}")
        bounds = self.max_widths(spec) if self.max_widths is not None else None
        for i, (c, top) in enumerate(zip(cfg, bounds or [None] * len(cfg), strict=True)):
            if top is not None and int(c) > top:
                raise PruningError(f"{what}: cfg[{i}] selects {c} of only {top} channels; use at most {top}")


def depth_repeats(depth: int, step: int, offset: int, what: str, examples: str) -> int:
    """n of ``depth = step * n + offset`` (n >= 1), or a ``PruningError`` naming the rule and ``examples``."""
    if depth < step + offset or (depth - offset) % step:
        raise PruningError(f"{what}: unknown depth {depth}; depth must be {step}n+{offset} ({examples})")
    return (depth - offset) // step


ARCHS: dict[str, Family] = {}


def register_arch(name: str, family: Family) -> Family:
    """Register a family under ``name`` (called at import of each family module); a taken name is refused."""
    if name in ARCHS and ARCHS[name] is not family:
        raise PruningError(f"architecture family {name!r} is already registered; choose another name")
    ARCHS[name] = family
    return family


def known_families() -> list[str]:
    """The registered family names."""
    return sorted(ARCHS)


def get_family(name: str) -> Family:
    """Look a family up, with a helpful error listing the known ones."""
    if name not in ARCHS:
        raise PruningError(f"unknown architecture family {name!r}; known: {known_families()}")
    return ARCHS[name]


def resolve(spec: ArchSpec | dict) -> ArchSpec:
    """Check ``spec`` and fill ``cfg`` with the family default when it is ``None``."""
    spec = as_spec(spec)
    fam = get_family(spec.family)
    fam.check(spec)
    if spec.cfg is None:
        spec = spec.replace(cfg=fam.default_cfg(spec))
    return spec


def build_arch(spec: ArchSpec | dict, num_classes: int) -> nn.Module:
    """Build the network described by ``spec`` with a ``num_classes``-way head (checked first).

    The class count is the data's (a data module's ``num_classes``, or the one a checkpoint or artifact
    stores beside its spec), so it is an argument of its own.
    """
    spec = as_spec(spec)
    fam = get_family(spec.family)
    fam.check(spec)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise PruningError(f"{spec.family}: num_classes must be an integer >= 1, got {num_classes!r}")
    return fam.build(spec, num_classes)


def classes_of(net: nn.Module) -> int:
    """The class count of a built network: the output width of its last ``nn.Linear`` (every family's head).

    For code that holds a network and makes another of the same task (surgery rebuilds a pruned one).
    """
    heads = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if not heads:
        raise PruningError(f"{type(net).__name__} has no nn.Linear head, so its class count is unknown")
    return heads[-1].out_features


def input_size(spec: ArchSpec | dict) -> tuple[int, int, int]:
    """Per-image input shape used for FLOPs counting."""
    return get_family(as_spec(spec).family).input_size
