"""The checkpoint rules of ``fit``/``validate``/``test``: every resume path is checked, a re-run never mixes.

* :func:`model_from_checkpoint`: with ``--ckpt_path FILE`` the checkpoint's model configuration is the base
  and :func:`check_against_checkpoint` refuses what the explicit configuration changes.
* :func:`resolve_alias`: ``--ckpt_path last`` / ``best`` (or a ``ckpt_path`` set in a ``-c`` file) is turned
  into the file it names, so that it gets exactly the same checks as a path typed on the command line.
* :func:`check_fresh_folder`: a ``fit`` that is not resuming the run of its own stage folder refuses a
  folder that already holds checkpoints (Lightning would write ``last-v1.ckpt`` beside the old run's
  ``last.ckpt``) unless ``--overwrite`` is given.
* :func:`check_schedule`: a resumed fit continues the checkpoint's LR schedule; a ``max_epochs`` that would
  put the LR milestones elsewhere is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pruning_lightning.cli.config import written_arch
from pruning_lightning.core.errors import PruningError
from pruning_lightning.formats.checkpoint import read_torch_file, upgrade_hparams
from pruning_lightning.models import resolve
from pruning_lightning.utils.schedule import lr_milestones

ALIASES = ("last", "best")


class Resolved(Exception):
    """Raised while parsing: ``ckpt_path`` (an alias or a path from a file) is ``path`` (None: start afresh)."""

    def __init__(self, path: str | None) -> None:
        super().__init__(path)
        self.path = path


def _plain(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def check_against_checkpoint(model: Any, ckpt_hparams: dict[str, Any], path: str, resuming: bool) -> None:
    """Explicit beats implicit: what the configuration says must agree with the checkpoint it loads.

    Raises:
        PruningError: the architecture (or module class) differs; or, when ``resuming`` a fit, any
            hyperparameter differs (Lightning would restore the checkpoint's optimiser/LR state anyway).
    """
    hp = dict(ckpt_hparams)
    ckpt_class = hp.pop("_class_path", None)
    ours = f"{type(model).__module__}.{type(model).__qualname__}"
    if ckpt_class and ckpt_class.rsplit(".", 1)[-1] != type(model).__qualname__:
        raise PruningError(
            f"{path} was written by {ckpt_class} but the configuration builds {ours}; drop the model/regime "
            "config to use the checkpoint's, or pass a checkpoint of this regime"
        )
    hp = upgrade_hparams(hp, path)
    if "arch" in hp and resolve(hp["arch"]) != model.arch:
        raise PruningError(
            f"{path} holds architecture {resolve(hp['arch']).to_dict()} but the configuration describes "
            f"{model.arch.to_dict()}; drop the arch config to use the checkpoint's, or pass a checkpoint of this "
            "architecture"
        )
    if hp.get("num_classes") is not None and hp["num_classes"] != model.num_classes:
        raise PruningError(
            f"{path} holds a {hp['num_classes']}-class network but the data module has {model.num_classes} "
            "classes; use the data it was trained on, or a checkpoint of this dataset"
        )
    if not resuming:
        return
    own = dict(model.hparams)
    for key, value in hp.items():
        if key in ("arch", "_instantiator") or key not in own:
            continue
        if _plain(own[key]) != _plain(value):
            raise PruningError(
                f"resuming from {path}: model.init_args.{key} is {own[key]!r} in the configuration but "
                f"{value!r} in the checkpoint; a resumed fit continues the checkpoint's run (its optimiser and "
                "LR state), so drop the override, or start a new stage to change it"
            )


def saved_milestones(ckpt: Any) -> list[int] | None:
    """The LR milestones of the scheduler state a checkpoint restores (None: no scheduler saved)."""
    try:
        state = ckpt["lr_schedulers"][0]
        return sorted(int(m) for m, n in dict(state["milestones"]).items() for _ in range(int(n)))
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def check_schedule(model: Any, max_epochs: Any, saved: list[int] | None, path: str) -> None:
    """A resumed fit restores the checkpoint's scheduler: refuse a ``max_epochs`` that would move its milestones."""
    hp = model.hparams
    if saved is None or not isinstance(max_epochs, int) or max_epochs < 1:
        return
    if not hp.get("lr_milestones") and hp.get("lr_step_every") is None:
        return
    wanted = lr_milestones(hp["lr_milestones"], hp.get("lr_step_every"), max_epochs)
    if wanted != saved:
        raise PruningError(
            f"resuming from {path} with --trainer.max_epochs {max_epochs}: the checkpoint's LR schedule steps at "
            f"epochs {saved}, this max_epochs at {wanted}, and a resume keeps the checkpoint's schedule; resume with "
            "the run's own max_epochs, or train a new stage for the longer run (docs/reproducibility.md, "
            "'Extending a run')"
        )


def _args_give_arch(args: list[str]) -> bool:
    """Whether the command line or one of its ``-c`` files sets ``model.init_args.arch``."""
    if any(a.startswith(("--model.init_args.arch", "--model.arch")) for a in args):
        return True
    paths = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-c", "--config")]
    try:
        return written_arch(paths) is not None
    except PruningError:  # a file that does not parse: the CLI reports it
        return False


def model_from_checkpoint(args: list[str]) -> tuple[list[str], dict[str, Any] | None, list[int] | None]:
    """With ``--ckpt_path X``, prepend X's model configuration (its pruned arch included) as the base.

    Explicit configuration still parses after it; :func:`check_against_checkpoint` then refuses what
    disagrees with the checkpoint. Returns the arguments, the checkpoint's hparams (``None`` when no
    checkpoint of ours is given) and the LR milestones its scheduler state holds.
    """
    if "--ckpt_path" not in args or len(args) < 2:
        return args, None, None
    path = args[args.index("--ckpt_path") + 1] if args.index("--ckpt_path") + 1 < len(args) else ""
    if path in (*ALIASES, "hpc", "registry", "null"):
        return args, None, None
    ckpt = read_torch_file(path, "checkpoint")
    try:
        hp = dict(ckpt["hyper_parameters"])
    except (KeyError, TypeError) as e:
        raise PruningError(f"{path} is not a pruning-lightning checkpoint (no hyper_parameters)") from e
    hp.pop("_instantiator", None)
    hp = upgrade_hparams(hp, path)  # a checkpoint written while the arch held num_classes: moved beside it
    if "_class_path" not in hp:  # not written through this CLI: leave it to Lightning's own handling
        return args, None, None
    # An architecture given explicitly replaces the checkpoint's whole (a merge of two archs would be neither);
    # check_against_checkpoint then reports the disagreement.
    skip = {"_class_path", "arch"} if _args_give_arch(args) else {"_class_path"}
    init = {k: v for k, v in hp.items() if k not in skip}
    model = {"class_path": hp["_class_path"], "init_args": init}
    return [args[0], "--model", json.dumps(model, default=list), *args[1:]], hp, saved_milestones(ckpt)


def with_ckpt_path(args: list[str], path: str | None) -> list[str]:
    """``args`` with every ``--ckpt_path`` replaced by one ``--ckpt_path path`` at the end (None: ``null``)."""
    out: list[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
        elif a == "--ckpt_path":
            skip = True
        elif not a.startswith("--ckpt_path="):
            out.append(a)
    return [*out, "--ckpt_path", path if path is not None else "null"]


def resolve_alias(ckpt: Any, dirpath: str, fit: bool) -> None:
    """Raise :class:`Resolved` with the file ``ckpt`` (``last``/``best`` or a path from a ``-c`` file) names.

    ``last``/``best`` are ``<checkpoint dirpath>/last.ckpt``/``best.ckpt``; a ``fit`` with ``last`` and no
    such file starts afresh (Lightning's meaning), said on stdout; evaluating a missing file is an error.
    """
    name = str(ckpt)
    if name not in ALIASES:
        raise Resolved(name)
    path = Path(dirpath) / f"{name}.ckpt"
    if path.is_file():
        raise Resolved(str(path))
    if fit and name == "last":
        print(f"[fit] --ckpt_path last: no {path} yet, so this is a new run")
        raise Resolved(None)
    raise PruningError(f"--ckpt_path {name}: there is no {path}; give the checkpoint file's path")


def check_fresh_folder(root: str, dirpath: str, ckpt: Any, overwrite: bool) -> list[Path]:
    """Old checkpoints a new fit in ``root`` would mix with; refused unless ``overwrite`` (then returned).

    A fit resuming a checkpoint of this folder (``ckpt`` inside ``dirpath``) continues its run and is fine.
    """
    folder = Path(dirpath)
    old = sorted(folder.glob("*.ckpt")) if folder.is_dir() else []
    if not old or (ckpt is not None and Path(str(ckpt)).resolve().parent == folder.resolve()):
        return []
    if overwrite:
        return old
    names = ", ".join(p.name for p in old[:3]) + (", ..." if len(old) > 3 else "")
    raise PruningError(
        f"{root} already holds a run ({folder}: {names}); a new fit there would mix with it: resume it with "
        f"--ckpt_path {folder / 'last.ckpt'}, choose another --trainer.default_root_dir, or add --overwrite to "
        "replace it"
    )


def take_overwrite(args: list[str]) -> tuple[list[str], bool]:
    """``fit``'s own ``--overwrite`` (``--overwrite``, ``--overwrite true|false``, ``--overwrite=...``)."""
    out: list[str] = []
    overwrite = False
    it = iter(range(len(args)))
    for i in it:
        a = args[i]
        if a == "--overwrite":
            nxt = args[i + 1].lower() if i + 1 < len(args) else ""
            if nxt in ("true", "false"):
                overwrite = nxt == "true"
                next(it)
            else:
                overwrite = True
        elif a.startswith("--overwrite="):
            value = a.partition("=")[2].lower()
            if value not in ("true", "false"):
                raise PruningError(f"--overwrite takes true or false, got {a.partition('=')[2]!r}")
            overwrite = value == "true"
        else:
            out.append(a)
    return out, overwrite
