"""``segtrackv2``: SegTrack v2 (Li et al., ICCV 2013) in its official release layout.

``SegTrackv2.zip`` (web.engr.oregonstate.edu/~lif/SegTrack2/dataset.html) unpacks to ``JPEGImages/``,
``GroundTruth/`` and ``ImageSets/``. The release is irregular, and the loader absorbs it:

* frames are ``.png`` in some sequences and ``.bmp`` in others, and a sequence's masks need not share
  the frames' extension (penguin, monkeydog: ``.bmp`` frames, ``.png`` masks; cheetah: object 1 in
  ``.bmp``, object 2 in ``.png``), so frames and masks are matched by file stem, never by full name;
* sequences with several objects keep one folder per object (``GroundTruth/<seq>/1/``, ``2/``, ...),
  the others keep the masks directly in ``GroundTruth/<seq>/``;
* stray files: ``JPEGImages/CSI_NY.jpg`` sits beside the sequence folders, and ``GroundTruth/worm/``
  holds an extra ``0000000000.png`` that matches no frame (both ignored; the latter is listed in
  ``meta(seq)["unmatched_annotations"]``);
* ``ImageSets/all.txt`` prefixes names with ``*``; ``ImageSets/<seq>.txt`` starts with the folder
  (``bird_of_paradise/``) followed by the frame names without extension.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from spelke.data.datasets.base import SequenceDataset
from spelke.data.datasets.flow_access import CachedFlow
from spelke.data.io import IMAGE_EXTENSIONS, read_image
from spelke.data.registry import register_dataset
from spelke.data.video import natural_key
from spelke.errors import ConfigError, FileFormatError

__all__ = ["SegTrackV2", "read_foreground"]

#: When a stem exists with several extensions, the first of these wins (then any other image type).
_EXT_PREFERENCE = (".png", ".bmp", ".jpg", ".jpeg")
OBJECT_MODES = ("separate", "merged")


def read_foreground(path: Path) -> np.ndarray:
    """A mask image as bool ``(H, W)``: any nonzero colour channel is foreground.

    Palette images are read through their colours (a BMP's palette need not put black at index 0).
    """
    try:
        with Image.open(path) as im:
            if im.mode in ("P", "PA"):
                im = im.convert("RGB")
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise FileFormatError(f"cannot read {path} as a mask image: {e}") from None
    if arr.ndim == 3:
        arr = arr[..., :3].max(axis=-1)  # alpha (if any) says nothing about the object
    return arr > 0


def _images_by_stem(folder: Path) -> dict[str, Path]:
    """Image files directly in ``folder`` by stem; a stem with several extensions keeps the preferred one."""
    out: dict[str, Path] = {}
    if not folder.is_dir():
        return out
    rank = {e: i for i, e in enumerate(_EXT_PREFERENCE)}
    for f in folder.iterdir():
        ext = f.suffix.lower()
        if not f.is_file() or f.name.startswith(".") or ext not in IMAGE_EXTENSIONS:
            continue
        old = out.get(f.stem)
        if old is None or rank.get(ext, len(rank)) < rank.get(old.suffix.lower(), len(rank)):
            out[f.stem] = f
    return out


def _strip_ext(name: str) -> str:
    p = Path(name)
    return p.stem if p.suffix.lower() in IMAGE_EXTENSIONS else name


@register_dataset(
    "segtrackv2",
    aliases=("stv2", "segtrack-v2", "segtrack_v2"),
    summary="SegTrackv2 (official release: png/bmp frames, per-object GroundTruth folders)",
    kind="sequence",
)
class SegTrackV2(CachedFlow, SequenceDataset):
    """SegTrack v2: 14 sequences, every frame annotated, 1 to 6 objects.

    Args:
        root: the ``SegTrackv2/`` folder.
        split: None or ``all`` (SegTrackv2 has no official split; every sequence of ``ImageSets/all.txt``).
        objects: ``separate`` (default): object folder ``k`` becomes id ``k`` (where masks overlap, the
            lower-numbered object wins, as the ``segtrackv2`` protocol reads them); ``merged``: every
            object is foreground 1, the single foreground the binary protocol scores.
    """

    layout = """
<root>/                                   SegTrackv2.zip (web.engr.oregonstate.edu/~lif/SegTrack2)
├── JPEGImages/<seq>/<frame>.png|.bmp     extensions differ between sequences
├── GroundTruth/<seq>/<frame>.png|.bmp    one object: the masks directly (nonzero = object)
│   or GroundTruth/<seq>/1/, 2/, ...      several objects: one folder per object
└── ImageSets/all.txt                     sequence names, one per line ('*bird_of_paradise')
    ImageSets/<seq>.txt                   first line the folder ('bird_of_paradise/'), then frame names
"""

    def __init__(
        self, root: str | os.PathLike[str], split: str | None = None, objects: str = "separate"
    ) -> None:
        super().__init__(root, split)
        if objects not in OBJECT_MODES:
            raise ConfigError(f"objects must be one of {', '.join(OBJECT_MODES)}; got {objects!r}")
        if split not in (None, "all"):
            raise ConfigError(f"SegTrackv2 has no official splits; use split=all (or none), got {split!r}")
        self.objects = objects
        self.image_root = self.root / "JPEGImages"
        self.gt_root = self.root / "GroundTruth"
        if not self.image_root.is_dir():
            raise self.layout_error("there is no JPEGImages/ folder")
        if not self.gt_root.is_dir():
            raise self.layout_error("there is no GroundTruth/ folder")
        sets = self.root / "ImageSets"
        all_txt = sets / "all.txt"
        if all_txt.is_file():
            names = [
                ln.strip().lstrip("*").strip() for ln in all_txt.read_text(encoding="utf-8").splitlines()
            ]
            self.sequences = list(dict.fromkeys(n for n in names if n))
        else:
            self.sequences = sorted(
                (d.name for d in self.image_root.iterdir() if d.is_dir() and not d.name.startswith(".")),
                key=natural_key,
            )
        if not self.sequences:
            raise self.layout_error("no sequences in ImageSets/all.txt nor in JPEGImages/", self.image_root)
        self._folders: dict[str, str] = {}
        self._listed: dict[str, list[str] | None] = {}
        for seq in self.sequences:
            folder, listed = self._read_sequence_list(sets / f"{seq}.txt", seq)
            if not (self.image_root / folder).is_dir():
                raise self.layout_error(
                    f"sequence '{seq}' has no frame folder JPEGImages/{folder}/", self.image_root
                )
            self._folders[seq] = folder
            self._listed[seq] = listed
        self._frames: dict[str, list[Path]] = {}
        self._objects: dict[str, list[dict[str, Path]]] = {}

    @staticmethod
    def _read_sequence_list(path: Path, seq: str) -> tuple[str, list[str] | None]:
        """(folder, frame names) from ``ImageSets/<seq>.txt``; (seq, None) when there is no such file."""
        if not path.is_file():
            return seq, None
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        if not lines:
            return seq, None
        folder = lines[0].strip("/\\") or seq
        return folder, [_strip_ext(ln) for ln in lines[1:]]

    # -- readers ---------------------------------------------------------------------------------------------

    def _files(self, seq: str) -> list[Path]:
        if seq not in self._frames:
            self.check_sequence(seq)
            folder = self.image_root / self._folders[seq]
            by_stem = _images_by_stem(folder)
            listed = self._listed[seq]
            if listed:
                missing = [n for n in listed if n not in by_stem]
                if missing:
                    raise self.layout_error(
                        f"ImageSets/{seq}.txt lists {len(missing)} frame(s) with no image in "
                        f"JPEGImages/{self._folders[seq]}/, e.g. {missing[:3]}",
                        folder,
                    )
                self._frames[seq] = [by_stem[n] for n in listed]
            else:
                self._frames[seq] = sorted(by_stem.values(), key=lambda f: natural_key(f.name))
            if not self._frames[seq]:
                raise self.layout_error(f"no frames in JPEGImages/{self._folders[seq]}/", folder)
        return self._frames[seq]

    def object_masks(self, seq: str) -> list[dict[str, Path]]:
        """Per object (in folder order 1, 2, ...), its mask files by frame stem."""
        if seq not in self._objects:
            self.check_sequence(seq)
            gt = self.gt_root / self._folders[seq]
            subdirs = [d for d in gt.iterdir() if d.is_dir() and d.name.isdigit()] if gt.is_dir() else []
            dirs = sorted(subdirs, key=lambda d: int(d.name)) or [gt]
            self._objects[seq] = [_images_by_stem(d) for d in dirs]
        return self._objects[seq]

    def frame_names(self, seq: str) -> list[str]:
        return [f.stem for f in self._files(seq)]

    def image(self, seq: str, i: int | str) -> np.ndarray:
        return read_image(self._files(seq)[self.frame_index(seq, i)])

    def annotated_frames(self, seq: str) -> list[str]:
        have = set().union(*(set(m) for m in self.object_masks(seq)))
        return [n for n in self.frame_names(seq) if n in have]

    def labels(self, seq: str, i: int | str) -> np.ndarray | None:
        name = self.frame_names(seq)[self.frame_index(seq, i)]
        lab: np.ndarray | None = None
        for k, files in enumerate(self.object_masks(seq), start=1):
            if name not in files:
                continue
            fg = read_foreground(files[name])
            if lab is None:
                lab = np.zeros(fg.shape, np.int64)
            elif lab.shape != fg.shape:
                raise FileFormatError(
                    f"{files[name]} is {fg.shape[1]}x{fg.shape[0]}, the other objects' masks of frame "
                    f"'{name}' are {lab.shape[1]}x{lab.shape[0]}"
                )
            lab[fg & (lab == 0)] = 1 if self.objects == "merged" else k
        return lab

    def meta(self, seq: str) -> dict[str, Any]:
        names = set(self.frame_names(seq))
        objects = self.object_masks(seq)
        unmatched = sorted(
            {str(p.relative_to(self.gt_root)) for m in objects for s, p in m.items() if s not in names}
        )
        return {"folder": self._folders[seq], "objects": len(objects), "unmatched_annotations": unmatched}
