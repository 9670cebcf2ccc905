"""The dataset registry: ``register_dataset``, ``create_dataset``, ``list_datasets``.

A dataset is registered under a name (and aliases) with a one-line summary and its kind (``"image"``:
yields :class:`~spelke.data.types.Frame`; ``"sequence"``: yields :class:`~spelke.data.types.Clip`).
Its root comes from the ``root`` argument, else from ``$SPELKE_DATA/<name>``.

Examples:
    >>> "davis_tree" in list_datasets()
    True
    >>> list_datasets("*folder")
    ['frame_folder', 'image_folder']
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from spelke.errors import ConfigError, DataLayoutError
from spelke.registry import Registry

if TYPE_CHECKING:
    from spelke.data.datasets.base import Dataset

#: Environment variable naming the folder that holds one sub-folder per dataset.
DATA_ENV = "SPELKE_DATA"

#: Every registered dataset: name -> dataset class (or factory taking ``root``, ``split``, options).
DATASETS: Registry[Any] = Registry("dataset")

KINDS = ("image", "sequence")

F = TypeVar("F", bound=Callable[..., Any])


def register_dataset(
    name: str, aliases: tuple[str, ...] | list[str] = (), summary: str | None = None, kind: str = "image"
) -> Callable[[F], F]:
    """Class decorator registering a dataset under ``name``.

    The class (or factory) is called as ``cls(root=Path, split=str | None, **options)``.

    Args:
        name: the registered name (used on the CLI and as the folder name under ``$SPELKE_DATA``).
        aliases: other accepted names.
        summary: one line for ``spelke list datasets``; default: the first docstring line.
        kind: ``"image"`` (items are Frames) or ``"sequence"`` (items are Clips).

    Examples:
        >>> from spelke.data.datasets.base import ImageDataset
        >>> @register_dataset("my_tiny_set", summary="an example", kind="image")
        ... class Tiny(ImageDataset):
        ...     pass
        >>> DATASETS.entry("my_tiny_set").tags["kind"]
        'image'
    """
    if kind not in KINDS:
        raise ConfigError(f"dataset kind must be one of {KINDS}, got {kind!r}")

    def deco(obj: F) -> F:
        if isinstance(obj, type):
            obj_kind = getattr(obj, "kind", None)
            if obj_kind is not None and obj_kind != kind:
                raise ConfigError(
                    f"dataset '{name}' is registered as kind {kind!r} but its class is {obj_kind!r}"
                )
            obj.dataset_name = name  # type: ignore[attr-defined]
        DATASETS.add(name, obj, aliases=tuple(aliases), summary=summary, kind=kind)
        return obj

    return deco


def _ensure_builtin() -> None:
    # Importing the package registers the generic datasets; done lazily to avoid an import cycle.
    import spelke.data.datasets  # noqa: F401


def list_datasets(pattern: str = "*") -> list[str]:
    """Registered dataset names matching a glob pattern, sorted."""
    _ensure_builtin()
    return DATASETS.list(pattern)


def default_root(name: str) -> Path | None:
    """``$SPELKE_DATA/<name>`` for a dataset name (canonical or alias), or None if the variable is unset.

    The name as given is tried first, then the canonical name; the first folder that exists wins
    (if none exists, the canonical one is returned so that the layout error names it).
    """
    base = os.environ.get(DATA_ENV)
    if not base:
        return None
    canonical = DATASETS.canonical(name)
    base_path = Path(base).expanduser()
    for n in dict.fromkeys((name, canonical)):
        if (base_path / n).exists():
            return base_path / n
    return base_path / canonical


def create_dataset(
    name: str, root: str | os.PathLike[str] | None = None, split: str | None = None, **options: Any
) -> Dataset:
    """Create a registered dataset.

    Args:
        name: a registered name or alias (see :func:`list_datasets`).
        root: the dataset's folder (or file, for ``video_file``); default ``$SPELKE_DATA/<name>``.
        split: the split to load (meaning depends on the dataset; usually ``ImageSets/<split>.txt``).
        **options: dataset-specific options (e.g. ``resolution="480p"`` for ``davis_tree``).

    Raises:
        NotRegisteredError: unknown name (the message suggests close names).
        DataLayoutError: no root given and ``$SPELKE_DATA`` unset, or the root has the wrong layout.
        ConfigError: an option the dataset does not take.

    Examples:
        >>> import tempfile, numpy as np
        >>> from spelke.data import write_sequence_tree
        >>> root = tempfile.mkdtemp()
        >>> _ = write_sequence_tree(root, "blob", np.zeros((2, 3, 8, 8), np.float32), split="val")
        >>> ds = create_dataset("davis_tree", root=root, split="val")
        >>> ds.sequences, ds.clip("blob").images.shape
        (['blob'], (2, 3, 8, 8))
    """
    _ensure_builtin()
    canonical = DATASETS.canonical(name)
    factory = DATASETS.get(canonical)
    if root is None:
        root = default_root(name)
        if root is None:
            raise DataLayoutError(
                f"dataset '{canonical}' needs a root folder: pass root=PATH (CLI: --root PATH) or set "
                f"${DATA_ENV} to a folder holding '{canonical}/'"
            )
    _check_options(canonical, factory, options)
    return factory(root=Path(root).expanduser(), split=split, **options)


def _check_options(name: str, factory: Any, options: dict[str, Any]) -> None:
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins or C callables: let the call decide
        return
    params = sig.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [
        n for n, p in params.items() if n not in ("root", "split", "self") and p.kind != p.VAR_POSITIONAL
    ]
    unknown = [k for k in options if k not in accepted]
    if unknown:
        takes = ", ".join(accepted) if accepted else "no options"
        raise ConfigError(f"dataset '{name}' does not take option(s) {', '.join(unknown)}; it takes: {takes}")
