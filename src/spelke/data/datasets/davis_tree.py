"""``davis_tree``: the DAVIS-style sequence tree spelke writes and reads, and its writer.

Layout (spelke's own benchmarks and converted data)::

    <root>/
    ├── JPEGImages/<seq>/00000.png     frames (.png or .jpg)
    ├── Annotations/<seq>/00000.png    instance ids, 0 = background, stable across the clip
    ├── meta/<seq>.json                sequence metadata (optional)
    └── ImageSets/<split>.txt          sequence names, one per line

The official DAVIS release adds a resolution level (``JPEGImages/480p/<seq>/``) and year folders for
the splits (``ImageSets/2017/val.txt``); both are understood.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spelke.data.datasets.base import SequenceDataset, as_bool, as_int, read_split_file
from spelke.data.io import (
    atomic_write,
    folder_lock,
    read_image,
    read_json,
    read_label_map,
    write_image,
    write_json,
    write_label_map,
)
from spelke.data.registry import register_dataset
from spelke.data.video import list_frames, natural_key
from spelke.errors import ConfigError, ShapeError

__all__ = ["DavisTree", "write_sequence_tree"]

_RESOLUTION = re.compile(r"^(\d+p|Full-Resolution)$")


@register_dataset(
    "davis_tree",
    aliases=("spelke_sequences",),
    summary="DAVIS-style tree: JPEGImages/<seq>/, Annotations/<seq>/, meta/<seq>.json, ImageSets/<split>.txt",
    kind="sequence",
)
class DavisTree(SequenceDataset):
    """Sequences in the DAVIS tree (spelke's own format and the official DAVIS 2016/2017 releases).

    Frames are ``JPEGImages/<seq>/<name>.{png,jpg}``; a frame is annotated when
    ``Annotations/<seq>/<name>.png`` exists (sparse annotation, as in FBMS, is fine:
    :meth:`annotated_frames` lists them and :meth:`labels` returns None for the others). Label maps are
    read as palette indices or greyscale values (:func:`spelke.data.read_label_map`).

    Args:
        root: the tree's root folder.
        split: read sequence names from ``ImageSets/<split>.txt`` (or ``ImageSets/<year>/<split>.txt``);
            None: every folder in ``JPEGImages``.
        resolution: the resolution level of the official DAVIS tree (``"480p"``,
            ``"Full-Resolution"``). Default: auto — ``480p`` when present, else the only level present,
            else none (spelke's flat tree).
        year: the ``ImageSets`` sub-folder (``2016`` or ``2017``) when the split file is not at
            ``ImageSets/<split>.txt``. Default: the only sub-folder that has the split; an error when
            several do (official DAVIS 2017 ships both ``2016/val.txt`` and ``2017/val.txt``).
        binary: read labels as foreground masks (every nonzero id becomes 1), e.g. for DAVIS 2016.
        rgb: how colour-coded RGB annotations are read (see :func:`spelke.data.read_label_map`).
        void_label: an id to turn into background when reading (davis2017-evaluation maps 255 to 0);
            default None keeps every id.
        annotations: name of the annotation folder (``"Annotations_unsupervised"`` for the DAVIS 2017
            unsupervised task).
    """

    layout = """
<root>/
├── JPEGImages/[480p/]<seq>/00000.png   (or .jpg)
├── Annotations/[480p/]<seq>/00000.png  (optional; ids, 0 = background; sparse is fine)
├── meta/<seq>.json                     (optional)
└── ImageSets/[2017/]<split>.txt        (sequence names, one per line)
"""

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        resolution: str | None = None,
        year: str | int | None = None,
        binary: bool = False,
        rgb: str = "error",
        void_label: int | None = None,
        annotations: str = "Annotations",
    ) -> None:
        super().__init__(root, split)
        self.binary = as_bool(binary, "binary")
        self.rgb = rgb
        self.void_label = as_int(void_label, "void_label", 0, allow_none=True)
        jpeg = self.root / "JPEGImages"
        if not jpeg.is_dir():
            raise self.layout_error("there is no JPEGImages/ folder")
        self.resolution = self._pick_resolution(jpeg, resolution)
        self.image_root = jpeg / self.resolution if self.resolution else jpeg
        ann = self.root / annotations
        if annotations != "Annotations" and not ann.is_dir():
            raise self.layout_error(f"there is no {annotations}/ folder")
        self.label_root = ann / self.resolution if self.resolution else ann
        self.year = None if year is None else str(year)
        on_disk = [
            d.name
            for d in sorted(self.image_root.iterdir(), key=lambda d: natural_key(d.name))
            if d.is_dir() and not d.name.startswith(".")
        ]
        if split is None:
            self.sequences = on_disk
        else:
            wanted = read_split_file(self._split_file(split))
            have = set(on_disk)
            missing = [s for s in wanted if s not in have]
            if missing:
                raise self.layout_error(
                    f"split '{split}' lists {len(missing)} sequence(s) with no folder in "
                    f"{self.image_root.relative_to(self.root)}/, e.g. {missing[:5]}",
                    self.image_root,
                )
            self.sequences = wanted
        if not self.sequences:
            raise self.layout_error(
                f"no sequence folders in {self.image_root.relative_to(self.root)}/", self.image_root
            )
        self._frames: dict[str, list[Path]] = {}
        self._annotated: dict[str, set[str]] = {}
        self._meta: dict[str, dict[str, Any]] = {}

    # -- layout ---------------------------------------------------------------------------------------------

    def _pick_resolution(self, jpeg: Path, resolution: str | None) -> str | None:
        levels = sorted(d.name for d in jpeg.iterdir() if d.is_dir() and _RESOLUTION.match(d.name))
        if resolution is not None:
            if resolution in ("", "none"):
                return None
            if not (jpeg / resolution).is_dir():
                raise self.layout_error(
                    f"resolution '{resolution}' has no folder JPEGImages/{resolution}/; "
                    f"levels present: {', '.join(levels) or 'none (flat tree: leave resolution unset)'}",
                    jpeg,
                )
            return resolution
        if "480p" in levels:
            return "480p"
        if len(levels) == 1:
            return levels[0]
        if len(levels) > 1:
            raise ConfigError(
                f"{jpeg} has several resolution levels ({', '.join(levels)}); choose one with resolution=NAME"
            )
        return None

    def _split_file(self, split: str) -> Path:
        sets = self.root / "ImageSets"
        if self.year is not None:
            f = sets / self.year / f"{split}.txt"
            if not f.is_file():
                raise self.layout_error(f"no split file ImageSets/{self.year}/{split}.txt", sets)
            return f
        if (sets / f"{split}.txt").is_file():
            return sets / f"{split}.txt"
        candidates = sorted(sets.glob(f"*/{split}.txt")) if sets.is_dir() else []
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            years = ", ".join(c.parent.name for c in candidates)
            raise ConfigError(
                f"split '{split}' exists for several years in {sets} ({years}); choose one with year=NAME"
            )
        avail = (
            sorted(str(p.relative_to(sets).with_suffix("")) for p in sets.rglob("*.txt"))
            if sets.is_dir()
            else []
        )
        raise self.layout_error(
            f"no split file ImageSets/{split}.txt; available splits: {', '.join(avail) or 'none'}",
            sets if sets.is_dir() else self.root,
        )

    # -- readers --------------------------------------------------------------------------------------------

    def _files(self, seq: str) -> list[Path]:
        if seq not in self._frames:
            self.check_sequence(seq)
            files = list_frames(self.image_root / seq)
            stems = [f.stem for f in files]
            if len(set(stems)) != len(stems):
                raise self.layout_error(
                    f"frames of '{seq}' share stems (e.g. both .png and .jpg)", files[0].parent
                )
            self._frames[seq] = files
        return self._frames[seq]

    def frame_names(self, seq: str) -> list[str]:
        return [f.stem for f in self._files(seq)]

    def image(self, seq: str, i: int | str) -> np.ndarray:
        return read_image(self._files(seq)[self.frame_index(seq, i)])

    def _annotated_set(self, seq: str) -> set[str]:
        if seq not in self._annotated:
            self.check_sequence(seq)
            d = self.label_root / seq
            self._annotated[seq] = {p.stem for p in d.glob("*.png")} if d.is_dir() else set()
        return self._annotated[seq]

    def annotated_frames(self, seq: str) -> list[str]:
        have = self._annotated_set(seq)
        return [n for n in self.frame_names(seq) if n in have]

    def label_path(self, seq: str, name: str) -> Path:
        """Where the label map of frame ``name`` of ``seq`` is (or would be)."""
        return self.label_root / seq / f"{name}.png"

    def labels(self, seq: str, i: int | str) -> np.ndarray | None:
        name = self.frame_names(seq)[self.frame_index(seq, i)]
        if name not in self._annotated_set(seq):
            return None
        lab = read_label_map(self.label_path(seq, name), rgb=self.rgb)  # type: ignore[arg-type]
        if self.void_label is not None:
            lab[lab == self.void_label] = 0
        return (lab != 0).astype(np.int64) if self.binary else lab

    def meta(self, seq: str) -> dict[str, Any]:
        if seq not in self._meta:
            self.check_sequence(seq)
            p = self.root / "meta" / f"{seq}.json"
            m = read_json(p) if p.is_file() else {}
            self._meta[seq] = m if isinstance(m, dict) else {"meta": m}
        return self._meta[seq]


# ----------------------------------------------------------------------------------------------------------
# Writer
# ----------------------------------------------------------------------------------------------------------


def _replace_dir(tmp: Path, final: Path) -> None:
    """Move the finished folder ``tmp`` to ``final``, replacing an existing one."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{secrets.token_hex(4)}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _staging_dir(final: Path) -> Iterator[Path]:
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{secrets.token_hex(4)}")
    tmp.mkdir()
    try:
        yield tmp
        _replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def add_to_split(root: str | os.PathLike[str], split: str, sequences: Sequence[str]) -> Path:
    """Add sequence names to ``ImageSets/<split>.txt`` (kept unique, in natural order), atomically."""
    f = Path(root) / "ImageSets" / f"{split}.txt"
    with folder_lock(f.parent):
        names = read_split_file(f) if f.is_file() else []
        merged = sorted(set(names) | set(sequences), key=natural_key)
        with atomic_write(f, "w") as fh:
            fh.write("".join(n + "\n" for n in merged))
    return f


def write_sequence_tree(
    root: str | os.PathLike[str],
    seq: str,
    images: Any,
    labels: Any = None,
    meta: dict[str, Any] | None = None,
    split: str | Sequence[str] | None = None,
    *,
    frame_names: Sequence[str] | None = None,
    image_ext: str = ".png",
) -> Path:
    """Write one sequence in spelke's DAVIS tree (the layout ``davis_tree`` reads).

    Each folder is written to a hidden staging folder and renamed into place when complete, so
    ``JPEGImages/<seq>/`` and ``Annotations/<seq>/`` are never half-written; ``meta/<seq>.json`` is
    written after them (a generator may treat its presence as "sequence done"), and the split files
    last. An existing sequence of the same name is replaced as a whole (including removing stale
    annotations or metadata when ``labels`` or ``meta`` is None).

    Args:
        root: the tree's root (created if needed).
        seq: the sequence name (a folder name: no slashes).
        images: float ``(T, 3, H, W)`` in [0, 1], uint8 ``(T, H, W, 3)``, or a sequence of single frames.
        labels: int ``(T, H, W)`` instance ids (0 = background), or a length-T sequence whose entries
            may be None (frames without annotation); None: no annotations.
        meta: JSON-serialisable sequence metadata, written to ``meta/<seq>.json``; by convention
            ``meta["frames"]`` is a list with one dict per frame.
        split: split name(s) whose ``ImageSets/<split>.txt`` gets ``seq`` added.
        frame_names: names of the T frames; default ``00000, 00001, ...``.
        image_ext: ``.png`` (lossless, default) or ``.jpg``.

    Returns:
        The root folder.

    Examples:
        >>> import tempfile, numpy as np
        >>> root = tempfile.mkdtemp()
        >>> lab = np.zeros((2, 8, 8), np.int64); lab[:, 2:5, 2:5] = 1
        >>> _ = write_sequence_tree(root, "square", np.zeros((2, 3, 8, 8), np.float32), lab, split="train")
        >>> sorted(p.name for p in (Path(root) / "Annotations" / "square").iterdir())
        ['00000.png', '00001.png']
    """
    root_p = Path(root).expanduser()
    if not seq or "/" in seq or "\\" in seq or seq.startswith("."):
        raise ConfigError(f"sequence name must be a plain folder name, got {seq!r}")
    frames = list(images)
    t = len(frames)
    if t == 0:
        raise ShapeError(f"sequence '{seq}' has no frames to write")
    names = [f"{k:05d}" for k in range(t)] if frame_names is None else [str(n) for n in frame_names]
    if len(names) != t or len(set(names)) != t:
        raise ShapeError(f"frame_names must be {t} unique names, got {len(names)} ({len(set(names))} unique)")
    label_list: list[Any] | None = None
    if labels is not None:
        label_list = list(labels)
        if len(label_list) != t:
            raise ShapeError(f"sequence '{seq}': {t} images but {len(label_list)} label maps")
    ext = image_ext if image_ext.startswith(".") else "." + image_ext
    if ext.lower() not in (".png", ".jpg", ".jpeg"):
        raise ConfigError(f"image_ext must be .png or .jpg, got {image_ext!r}")

    with _staging_dir(root_p / "JPEGImages" / seq) as d:
        for name, img in zip(names, frames, strict=True):
            write_image(d / f"{name}{ext}", img)
    ann_final = root_p / "Annotations" / seq
    if label_list is not None and any(lab is not None for lab in label_list):
        with _staging_dir(ann_final) as d:
            for name, lab in zip(names, label_list, strict=True):
                if lab is not None:
                    write_label_map(d / f"{name}.png", lab)
    elif ann_final.exists():
        shutil.rmtree(ann_final)
    meta_path = root_p / "meta" / f"{seq}.json"
    if meta is not None:
        write_json(meta_path, meta)
    elif meta_path.exists():
        meta_path.unlink()
    for s in [split] if isinstance(split, str) else list(split or []):
        add_to_split(root_p, s, [seq])
    return root_p
