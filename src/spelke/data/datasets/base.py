"""Base classes of image and sequence datasets, and the layout error they raise on a wrong root.

An :class:`ImageDataset` is a list of :class:`~spelke.data.types.Frame`; a :class:`SequenceDataset` is
a list of sequences, each readable as a :class:`~spelke.data.types.Clip` or frame by frame. Subclasses
implement a handful of readers (``image``, ``labels``, ...); everything else is shared.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from spelke._options import as_bool, as_int  # noqa: F401  (re-exported: the datasets import them from here)
from spelke.data.types import UNANNOTATED, Clip, Frame
from spelke.data.video import natural_key
from spelke.errors import ConfigError, DataLayoutError

__all__ = ["Dataset", "ImageDataset", "SequenceDataset", "describe_folder", "read_split_file"]


def describe_folder(path: Path, limit: int = 8) -> str:
    """What is at ``path``, in a few words: ``"a/, b/, notes.txt (+3 more)"``, or why nothing is."""
    if not path.exists():
        return "nothing: the path does not exist"
    if path.is_file():
        return "a file, not a folder"
    entries = sorted(path.iterdir(), key=lambda e: natural_key(e.name))
    entries = [e for e in entries if not e.name.startswith(".")]
    if not entries:
        return "an empty folder"
    shown = [e.name + ("/" if e.is_dir() else "") for e in entries[:limit]]
    more = f" (+{len(entries) - limit} more)" if len(entries) > limit else ""
    return ", ".join(shown) + more


def read_split_file(path: Path) -> list[str]:
    """Names listed in a split file, one per line, order kept, duplicates and blank lines dropped.

    Lines that are paths (the original DAVIS 2016 lists, ``/JPEGImages/480p/bear/00000.jpg ...``) give
    the folder that holds the first file, i.e. the sequence name.
    """
    names: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        token = line.split()[0]
        if "/" in token:
            parts = [p for p in token.split("/") if p]
            token = parts[-2] if len(parts) >= 2 else parts[-1]
        names.append(token)
    return list(dict.fromkeys(names))


class Dataset:
    """Shared behaviour: root, split, and the error a wrong root raises."""

    #: ``"image"`` or ``"sequence"``.
    kind: ClassVar[str] = ""
    #: Registered name, set by :func:`~spelke.data.registry.register_dataset`.
    dataset_name: ClassVar[str] = ""
    #: The expected layout under the root, as a short ASCII tree (shown in layout errors and docs).
    layout: ClassVar[str] = ""

    def __init__(self, root: str | os.PathLike[str], split: str | None = None) -> None:
        self.root = Path(root).expanduser()
        self.split = split

    def layout_error(self, problem: str, where: Path | None = None) -> DataLayoutError:
        """A :class:`DataLayoutError` naming the problem, the expected tree, and what was found."""
        name = self.dataset_name or type(self).__name__
        where = where or self.root
        if not self.root.exists():
            problem = "the root does not exist"
        tree = "\n".join("    " + line for line in self.layout.strip("\n").splitlines())
        return DataLayoutError(
            f"dataset '{name}' cannot read {self.root}: {problem}.\n"
            f"Expected layout:\n{tree}\n"
            f"Found in {where}: {describe_folder(where)}.\n"
            f"Pass the dataset's folder as root=PATH (CLI: --root PATH), or set $SPELKE_DATA so that "
            f"$SPELKE_DATA/{name} is that folder."
        )

    def _split_from_imagesets(self, folder: Path, split: str | None) -> list[str] | None:
        """Names in ``folder/<split>.txt``; None when ``split`` is None or there is no ImageSets folder."""
        if split is None:
            return None
        if not folder.is_dir():
            warnings.warn(
                f"dataset '{self.dataset_name}': split '{split}' ignored, {folder} does not exist "
                "(every item is used)",
                stacklevel=3,
            )
            return None
        f = folder / f"{split}.txt"
        if not f.is_file():
            avail = sorted(p.stem for p in folder.glob("*.txt"))
            raise self.layout_error(
                f"no split file {f.relative_to(self.root)}; available splits: {', '.join(avail) or 'none'}",
                folder,
            )
        return read_split_file(f)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root='{self.root}', split={self.split!r}, len={len(self)})"

    def __len__(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError


class ImageDataset(Dataset):
    """A list of images with optional label maps; ``ds[i]`` (or ``ds["name"]``) is a Frame.

    Subclasses set :attr:`names` and implement :meth:`image` (and :meth:`labels`, :meth:`meta` when
    they have them).
    """

    kind: ClassVar[str] = "image"

    def __init__(self, root: str | os.PathLike[str], split: str | None = None) -> None:
        super().__init__(root, split)
        self.names: list[str] = []

    def __len__(self) -> int:
        return len(self.names)

    def index(self, key: int | str) -> int:
        """Position of an item given by index (negative allowed) or name."""
        if isinstance(key, str):
            try:
                return self._name_index()[key]
            except KeyError:
                raise KeyError(f"no image named '{key}' in {self!r}") from None
        i = int(key)
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} images")
        return i % len(self)

    def _name_index(self) -> dict[str, int]:
        cache = getattr(self, "_names_cache", None)
        if cache is None or len(cache) != len(self.names):
            cache = {n: i for i, n in enumerate(self.names)}
            self._names_cache = cache
        return cache

    def image(self, i: int) -> np.ndarray:
        """Image ``i``, float32 ``(3, H, W)`` in [0, 1]."""
        raise NotImplementedError

    def labels(self, i: int) -> np.ndarray | None:
        """Label map ``i``, int64 ``(H, W)``, or None when it is not annotated."""
        return None

    def meta(self, i: int) -> dict[str, Any]:
        """Metadata of image ``i`` (empty by default)."""
        return {}

    def __getitem__(self, key: int | str) -> Frame:
        i = self.index(key)
        return Frame(self.image(i), self.labels(i), self.names[i], i, None, self.meta(i))

    def __iter__(self) -> Iterator[Frame]:
        for i in range(len(self)):
            yield self[i]


class SequenceDataset(Dataset):
    """A list of sequences; ``ds.clip(seq)`` is a Clip, ``ds.frame(seq, i)`` a Frame.

    Subclasses set :attr:`sequences` and implement :meth:`frame_names` and :meth:`image` (and
    :meth:`labels`, :meth:`annotated_frames`, :meth:`meta` when they have them). Frames are addressed
    by position ``i`` (negative allowed) or by name.
    """

    kind: ClassVar[str] = "sequence"

    def __init__(self, root: str | os.PathLike[str], split: str | None = None) -> None:
        super().__init__(root, split)
        self.sequences: list[str] = []

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, key: int | str) -> Clip:
        seq = self.sequences[key] if isinstance(key, int) else key
        return self.clip(seq)

    def __iter__(self) -> Iterator[Clip]:
        for seq in self.sequences:
            yield self.clip(seq)

    # -- to implement -------------------------------------------------------------------------------------

    def frame_names(self, seq: str) -> list[str]:
        """Names of the frames of ``seq``, in order."""
        raise NotImplementedError

    def image(self, seq: str, i: int | str) -> np.ndarray:
        """Image of frame ``i`` of ``seq``, float32 ``(3, H, W)``."""
        raise NotImplementedError

    def labels(self, seq: str, i: int | str) -> np.ndarray | None:
        """Label map of frame ``i`` of ``seq``, int64 ``(H, W)``, or None when that frame is not annotated."""
        return None

    def annotated_frames(self, seq: str) -> list[str]:
        """Names of the frames of ``seq`` that have labels (empty when the dataset has no labels)."""
        return []

    def meta(self, seq: str) -> dict[str, Any]:
        """Metadata of ``seq`` (empty by default)."""
        return {}

    # -- shared -------------------------------------------------------------------------------------------

    def check_sequence(self, seq: str) -> str:
        """Return ``seq`` if it belongs to this dataset (and split), else raise a clear error."""
        if seq not in self._seq_set():
            shown = ", ".join(self.sequences[:10]) + (" ..." if len(self.sequences) > 10 else "")
            split = f" split '{self.split}' of" if self.split else ""
            raise DataLayoutError(
                f"sequence '{seq}' is not in{split} dataset '{self.dataset_name}' at {self.root}; "
                f"it has {len(self.sequences)} sequences: {shown}"
            )
        return seq

    def _seq_set(self) -> set[str]:
        cache = getattr(self, "_seq_cache", None)
        if cache is None or len(cache) != len(self.sequences):
            cache = set(self.sequences)
            self._seq_cache = cache
        return cache

    def num_frames(self, seq: str) -> int:
        """Number of frames of ``seq``."""
        return len(self.frame_names(seq))

    def frame_index(self, seq: str, i: int | str) -> int:
        """Position of frame ``i`` (index, negative allowed, or frame name) in ``seq``."""
        names = self.frame_names(seq)
        if isinstance(i, str):
            try:
                return names.index(i)
            except ValueError:
                raise KeyError(f"sequence '{seq}' has no frame named '{i}'") from None
        k = int(i)
        if not -len(names) <= k < len(names):
            raise IndexError(f"frame index {k} out of range for sequence '{seq}' of {len(names)} frames")
        return k % len(names)

    def frame(self, seq: str, i: int | str) -> Frame:
        """Frame ``i`` of ``seq`` with its image, labels (None if unannotated) and per-frame metadata."""
        k = self.frame_index(seq, i)
        names = self.frame_names(seq)
        frames_meta = self.meta(seq).get("frames")
        fm = frames_meta[k] if isinstance(frames_meta, list) and len(frames_meta) == len(names) else {}
        return Frame(self.image(seq, k), self.labels(seq, k), names[k], k, seq, dict(fm) if fm else {})

    def clip(
        self,
        seq: str,
        *,
        images: bool = True,
        labels: bool = True,
        start: int = 0,
        stop: int | None = None,
        stride: int = 1,
    ) -> Clip:
        """Sequence ``seq`` (frames ``start:stop:stride``) as a :class:`Clip`.

        Args:
            seq: a name in :attr:`sequences`.
            images: load the images now (True) or leave them on disk, read by ``clip.image(i)`` (False).
            labels: load the label maps of the annotated frames.
            start, stop, stride: which frames, as in ``frames[start:stop:stride]``.
        """
        self.check_sequence(seq)
        if stride < 1:
            raise ConfigError(f"stride must be >= 1, got {stride}")
        all_names = self.frame_names(seq)
        idx = list(range(len(all_names)))[start:stop:stride]
        names = [all_names[k] for k in idx]
        meta = self.meta(seq)
        if (
            isinstance(meta.get("frames"), list)
            and len(meta["frames"]) == len(all_names)
            and len(idx) != len(all_names)
        ):
            meta = {**meta, "frames": [meta["frames"][k] for k in idx]}
        imgs = np.stack([self.image(seq, k) for k in idx]) if images and idx else None

        def loader(j: int) -> np.ndarray:
            return self.image(seq, idx[j])

        lab_arr = annotated = None
        if labels and idx:
            maps = [self.labels(seq, k) for k in idx]
            if any(m is not None for m in maps):
                shape = next(m.shape for m in maps if m is not None)
                annotated = np.array([m is not None for m in maps])
                lab_arr = np.stack(
                    [m if m is not None else np.full(shape, UNANNOTATED, np.int64) for m in maps]
                )
        return Clip(seq, names, imgs, lab_arr, annotated, meta, loader=None if imgs is not None else loader)
