"""``fbms59``: the Freiburg-Berkeley Motion Segmentation dataset (Ochs, Malik and Brox, TPAMI 2014).

``FBMS_Trainingset.zip`` and ``FBMS_Testset.zip`` (lmb.informatik.uni-freiburg.de) unpack to
``Trainingset/`` and ``Testset/`` (29 + 30 sequences). Each sequence folder holds its frames
``<seq>_<n>.jpg`` (a few sequences number differently, e.g. ``tennis454.jpg``) and ``GroundTruth/`` with
sparse annotations (roughly every 20th frame) plus a definition file ``<seq>Def.dat``::

    Ground truth definition file; do not change!

    Total number of regions:
    2

    0

    255

    Confusion penality matrix
    0 1
    1 0

    Total number of frames in this shot:
    19
    Total number of labeled frames for this shot:
    4
    Frame number:
    0
    File name:
    cars1_01_gt.pgm
    Input file name:
    cars1_01.ppm
    ...

The definition lists the region colours (grey values for ``.pgm`` masks, ``r * 65536 + g * 256 + b`` for
``.ppm`` masks) and which mask belongs to which frame. Background is black in ``.pgm`` masks and white in
``.ppm`` masks. ``GroundTruth/`` also holds other files (``*PROB*`` maps, ``.pgm`` companions of ``.ppm``
masks) that the definition does not list; they are not read.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from spelke.data.datasets.base import SequenceDataset
from spelke.data.datasets.flow_access import CachedFlow
from spelke.data.io import IMAGE_EXTENSIONS, read_image
from spelke.data.registry import register_dataset
from spelke.data.video import natural_key
from spelke.errors import ConfigError, DataLayoutError, FileFormatError

__all__ = ["FBMS59", "FBMSDefinition", "read_fbms_definition", "read_fbms_mask"]

SETS = {"train": "Trainingset", "test": "Testset"}
_SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "trainingset": "train",
    "test": "test",
    "testing": "test",
    "testset": "test",
}
OBJECT_MODES = ("separate", "merged")
UNKNOWN_MODES = ("background", "nearest")
_FRAME_EXT_PREFERENCE = (".jpg", ".jpeg", ".png", ".ppm", ".bmp")
WHITE = 0xFFFFFF


@dataclass
class FBMSDefinition:
    """What a ``<seq>Def.dat`` file says.

    Attributes:
        colours: region colours in file order (grey value, or ``r * 65536 + g * 256 + b``).
        n_frames: the shot's frame count, when given.
        labelled: one ``(frame number, mask file name, input file name)`` per annotated frame.
    """

    colours: list[int] = field(default_factory=list)
    n_frames: int | None = None
    labelled: list[tuple[int, str, str]] = field(default_factory=list)


def _int_line(line: str, path: Path) -> int:
    parts = line.split()
    try:
        if len(parts) == 3:  # an "r g b" colour, packed like the definition's own integers
            r, g, b = (int(p) for p in parts)
            return (r << 16) | (g << 8) | b
        return int(parts[0])
    except (ValueError, IndexError):
        raise FileFormatError(f"{path}: expected a number, found {line!r}") from None


def read_fbms_definition(path: str | os.PathLike[str]) -> FBMSDefinition:
    """Parse an FBMS ground-truth definition file (``<seq>Def.dat``).

    The reader keys on the section headings rather than on line numbers, so blank lines and the
    confusion-penalty matrix (not needed to read the masks) are skipped wherever they are.

    Raises:
        FileFormatError: a heading is missing or a value is not a number.
    """
    p = Path(path)
    lines = [ln.strip() for ln in p.read_text(encoding="latin-1").splitlines()]
    values = [(i, ln) for i, ln in enumerate(lines) if ln]

    def after(pos: int, count: int = 1) -> list[str]:
        out = [ln for i, ln in values if i > pos][:count]
        if len(out) < count:
            raise FileFormatError(f"{p} ends early: expected {count} value(s) after line {pos + 1}")
        return out

    def find(prefix: str, start: int = 0) -> int | None:
        return next((i for i, ln in values if i >= start and ln.lower().startswith(prefix)), None)

    out = FBMSDefinition()
    pos = find("total number of regions")
    if pos is None:
        raise FileFormatError(f"{p} has no 'Total number of regions:' line; is it an FBMS definition file?")
    n = _int_line(after(pos)[0], p)
    out.colours = [_int_line(v, p) for v in after(pos, n + 1)[1:]]
    pos = find("total number of frames")
    if pos is not None:
        out.n_frames = _int_line(after(pos)[0], p)
    pos = find("frame number")
    while pos is not None:
        number = _int_line(after(pos)[0], p)
        f_pos = find("file name", pos + 1)
        if f_pos is None:
            raise FileFormatError(f"{p}: 'Frame number: {number}' has no 'File name:' after it")
        file_name = after(f_pos)[0]
        nxt = find("frame number", f_pos + 1)
        i_pos = find("input file name", f_pos + 1)
        input_name = ""
        if i_pos is not None and (nxt is None or i_pos < nxt):
            rest = [ln for i, ln in values if i > i_pos][:1]
            input_name = rest[0] if rest and not rest[0].endswith(":") else ""  # may be left empty
        out.labelled.append((number, file_name, input_name))
        pos = nxt
    return out


def read_fbms_mask(path: Path) -> tuple[np.ndarray, bool]:
    """An FBMS mask as ``(colour codes (H, W) int64, is_colour)``; colour codes are packed RGB for ``.ppm``."""
    try:
        with Image.open(path) as im:
            if im.mode in ("P", "PA", "RGBA"):
                im = im.convert("RGB")
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise FileFormatError(f"cannot read {path} as an FBMS mask (.pgm/.ppm): {e}") from None
    if arr.ndim == 3:
        a = arr.astype(np.int64)
        return (a[..., 0] << 16) | (a[..., 1] << 8) | a[..., 2], True
    return arr.astype(np.int64), False


def _frames_by_stem(folder: Path) -> list[Path]:
    rank = {e: i for i, e in enumerate(_FRAME_EXT_PREFERENCE)}
    by_stem: dict[str, Path] = {}
    for f in folder.iterdir():
        ext = f.suffix.lower()
        if not f.is_file() or f.name.startswith(".") or ext not in IMAGE_EXTENSIONS:
            continue
        old = by_stem.get(f.stem)
        if old is None or rank.get(ext, len(rank)) < rank.get(old.suffix.lower(), len(rank)):
            by_stem[f.stem] = f
    return sorted(by_stem.values(), key=lambda f: natural_key(f.name))


@register_dataset(
    "fbms59",
    aliases=("fbms", "fbms-59"),
    summary="FBMS-59 motion segmentation (Trainingset/Testset, sparse .pgm/.ppm ground truth + Def.dat)",
    kind="sequence",
)
class FBMS59(CachedFlow, SequenceDataset):
    """FBMS-59: 59 sequences with sparse annotation (about every 20th frame).

    Clips mark the unannotated frames (``clip.annotated`` False, label maps filled with
    :data:`~spelke.data.types.UNANNOTATED`); :meth:`labels` returns None for them.

    Region ids follow the definition file: the background colour (black in ``.pgm``, white in ``.ppm``)
    is 0 and the other regions are 1, 2, ... in the order the definition lists them.

    Args:
        root: the folder holding ``Trainingset/`` and/or ``Testset/``.
        split: ``train`` (``Trainingset/``), ``test`` (``Testset/``, the set GWM and LRTL evaluate on),
            or None / ``all`` for both.
        objects: ``separate`` (default, region ids) or ``merged`` (every region but the background is 1,
            the single foreground the binary protocol scores).
        unknown: what a mask colour the definition does not list becomes: ``background`` (default;
            the official evaluation code maps such colours to region 0) or ``nearest`` (the closest
            listed colour, which absorbs anti-aliased edges).
    """

    layout = """
<root>/                                    FBMS_Trainingset.zip + FBMS_Testset.zip
├── Trainingset/<seq>/<seq>_<n>.jpg         frames (29 sequences)
│   └── <seq>/GroundTruth/<seq>Def.dat      definition: region colours, annotated frames and their masks
│       <seq>/GroundTruth/<seq>_<n>_gt.pgm  sparse masks (or .ppm for colour-coded regions)
└── Testset/<seq>/...                       same layout (30 sequences)
"""

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        objects: str = "separate",
        unknown: str = "background",
    ) -> None:
        super().__init__(root, split)
        if objects not in OBJECT_MODES:
            raise ConfigError(f"objects must be one of {', '.join(OBJECT_MODES)}; got {objects!r}")
        if unknown not in UNKNOWN_MODES:
            raise ConfigError(f"unknown must be one of {', '.join(UNKNOWN_MODES)}; got {unknown!r}")
        self.objects, self.unknown = objects, unknown
        if not self.root.is_dir():
            raise self.layout_error("the root is not a folder")
        if split in (None, "all"):
            sets = [s for s in SETS.values() if (self.root / s).is_dir()]
            if not sets:
                raise self.layout_error("there is neither a Trainingset/ nor a Testset/ folder")
        else:
            key = _SPLIT_ALIASES.get(str(split).lower())
            if key is None:
                raise ConfigError(f"FBMS-59 splits are train (Trainingset) and test (Testset); got {split!r}")
            sets = [SETS[key]]
            if not (self.root / sets[0]).is_dir():
                raise self.layout_error(f"there is no {sets[0]}/ folder (split={split})")
        self._dirs: dict[str, Path] = {}
        for s in sets:
            for d in sorted((self.root / s).iterdir(), key=lambda d: natural_key(d.name)):
                if not d.is_dir() or d.name.startswith("."):
                    continue
                if d.name in self._dirs:
                    raise self.layout_error(f"sequence '{d.name}' is in both Trainingset/ and Testset/")
                self._dirs[d.name] = d
        self.sequences = list(self._dirs)
        if not self.sequences:
            raise self.layout_error(f"no sequence folders in {', '.join(sets)}/", self.root / sets[0])
        self._frames: dict[str, list[Path]] = {}
        self._gt: dict[str, tuple[FBMSDefinition, dict[str, Path]]] = {}

    # -- layout --------------------------------------------------------------------------------------------

    def _files(self, seq: str) -> list[Path]:
        if seq not in self._frames:
            self.check_sequence(seq)
            files = _frames_by_stem(self._dirs[seq])
            if not files:
                raise self.layout_error(f"no frames in sequence folder {seq}/", self._dirs[seq])
            self._frames[seq] = files
        return self._frames[seq]

    def definition(self, seq: str) -> tuple[FBMSDefinition, dict[str, Path]]:
        """The parsed ``<seq>Def.dat`` and the mask file of each annotated frame, by frame name."""
        if seq not in self._gt:
            self.check_sequence(seq)
            gt = self._dirs[seq] / "GroundTruth"
            defs = sorted(gt.glob("*Def.dat")) if gt.is_dir() else []
            if len(defs) != 1:
                found = "none" if not defs else ", ".join(d.name for d in defs)
                raise self.layout_error(
                    f"sequence '{seq}' needs exactly one GroundTruth/<seq>Def.dat, found {found}",
                    gt if gt.is_dir() else self._dirs[seq],
                )
            d = read_fbms_definition(defs[0])
            names = [f.stem for f in self._files(seq)]
            index = {n: k for k, n in enumerate(names)}
            masks: dict[str, Path] = {}
            for number, file_name, input_name in d.labelled:
                mask = gt / Path(file_name.replace("\\", "/")).name
                if not mask.is_file():
                    raise DataLayoutError(f"{defs[0]} lists {file_name}, which is not in {gt}")
                masks[self._frame_for(seq, names, index, number, mask, input_name)] = mask
            self._gt[seq] = (d, masks)
        return self._gt[seq]

    def _frame_for(
        self, seq: str, names: list[str], index: dict[str, int], number: int, mask: Path, input_name: str
    ) -> str:
        # The input file name is the most direct link (the frames were once .ppm, now .jpg: match stems);
        # then the mask's own name without "_gt"; then the 0-based frame number.
        for cand in (Path(input_name.replace("\\", "/")).stem, re.sub(r"_gt$", "", mask.stem)):
            if cand in index:
                return cand
        if 0 <= number < len(names):
            return names[number]
        raise DataLayoutError(
            f"{mask.name} (frame number {number}) of sequence '{seq}' matches none of its {len(names)} frames"
        )

    # -- readers -------------------------------------------------------------------------------------------

    def frame_names(self, seq: str) -> list[str]:
        return [f.stem for f in self._files(seq)]

    def image(self, seq: str, i: int | str) -> np.ndarray:
        return read_image(self._files(seq)[self.frame_index(seq, i)])

    def annotated_frames(self, seq: str) -> list[str]:
        masks = self.definition(seq)[1]
        return [n for n in self.frame_names(seq) if n in masks]

    def labels(self, seq: str, i: int | str) -> np.ndarray | None:
        name = self.frame_names(seq)[self.frame_index(seq, i)]
        d, masks = self.definition(seq)
        if name not in masks:
            return None
        codes, colour = read_fbms_mask(masks[name])
        background = WHITE if colour else 0
        regions = [c for c in dict.fromkeys(d.colours) if c != background]
        palette = np.array([background, *regions], np.int64)  # position = region id
        ids = np.arange(len(palette), dtype=np.int64)
        if self.objects == "merged":
            ids = (ids > 0).astype(np.int64)
        values, inverse = np.unique(codes, return_inverse=True)
        lookup = {int(c): k for k, c in enumerate(palette)}
        per_value = np.zeros(len(values), np.int64)
        for j, v in enumerate(values):
            k = lookup.get(int(v))
            if k is None:
                k = 0 if self.unknown == "background" else self._nearest(int(v), palette, colour)
            per_value[j] = ids[k]
        return per_value[inverse].reshape(codes.shape)

    @staticmethod
    def _nearest(value: int, palette: np.ndarray, colour: bool) -> int:
        if not colour:
            return int(np.argmin(np.abs(palette - value)))
        rgb = np.stack([(palette >> 16) & 255, (palette >> 8) & 255, palette & 255], axis=1)
        v = np.array([(value >> 16) & 255, (value >> 8) & 255, value & 255])
        return int(np.argmin(((rgb - v) ** 2).sum(axis=1)))

    def meta(self, seq: str) -> dict[str, Any]:
        self.check_sequence(seq)
        return {"set": self._dirs[seq].parent.name}
