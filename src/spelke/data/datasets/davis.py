"""``davis2016`` and ``davis2017``: the official DAVIS releases, read as published.

DAVIS 2016 (Perazzi et al., CVPR 2016; ``DAVIS-data.zip``): 50 sequences at 480p (and 1080p), one binary
foreground mask per frame, and ``ImageSets/480p/{train,val,trainval}.txt`` whose lines are path pairs
(``/JPEGImages/480p/bear/00000.jpg /Annotations/480p/bear/00000.png``). The DAVIS 2017 package holds the
same 50 sequences (with object-level palette annotations) and names them in ``ImageSets/2016/*.txt``; GWM's
motion-grouping folder ``DAVIS2016/`` has only ``JPEGImages/480p`` and ``Annotations/480p`` and hard-codes
the 20 validation sequences. ``davis2016`` reads all three.

DAVIS 2017 (Pont-Tuset et al., arXiv 1704.00675; read as davis2017-evaluation's ``davis2017/davis.py``
reads it): ``JPEGImages/{480p,Full-Resolution}``, palette multi-object ``Annotations/480p`` (semi-supervised
task), ``Annotations_unsupervised/480p`` (unsupervised task, 2019 challenge), ``ImageSets/2017`` lists
(``ImageSets/2019`` for the unsupervised test sets), 255 = void. LRTL's DAVIS17-motion annotations live
in ``Annotations_unsupervised_Xie_et_al/480p`` (``karazijal/lrtl``, ``davis2017/davis.py``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import ClassVar

import numpy as np

from spelke.data.datasets.base import as_int, read_split_file
from spelke.data.datasets.davis_tree import DavisTree
from spelke.data.datasets.flow_access import CachedFlow
from spelke.data.io import _is_palette_png, read_label_map
from spelke.data.registry import register_dataset
from spelke.errors import ConfigError

__all__ = ["DAVIS2016_TRAIN", "DAVIS2016_VAL", "Davis2016", "Davis2017"]

#: The 20 DAVIS 2016 validation sequences (``ImageSets/480p/val.txt``; the list GWM hard-codes).
DAVIS2016_VAL = (
    "blackswan",
    "bmx-trees",
    "breakdance",
    "camel",
    "car-roundabout",
    "car-shadow",
    "cows",
    "dance-twirl",
    "dog",
    "drift-chicane",
    "drift-straight",
    "goat",
    "horsejump-high",
    "kite-surf",
    "libby",
    "motocross-jump",
    "paragliding-launch",
    "parkour",
    "scooter-black",
    "soapbox",
)
#: The 30 DAVIS 2016 training sequences (``ImageSets/480p/train.txt``).
DAVIS2016_TRAIN = (
    "bear",
    "bmx-bumps",
    "boat",
    "breakdance-flare",
    "bus",
    "car-turn",
    "dance-jump",
    "dog-agility",
    "drift-turn",
    "elephant",
    "flamingo",
    "hike",
    "hockey",
    "horsejump-low",
    "kite-walk",
    "lucia",
    "mallard-fly",
    "mallard-water",
    "motocross-bumps",
    "motorbike",
    "paragliding",
    "rhino",
    "rollerblade",
    "scooter-gray",
    "soccerball",
    "stroller",
    "surf",
    "swing",
    "tennis",
    "train",
)
_BUILTIN_2016 = {
    "train": DAVIS2016_TRAIN,
    "val": DAVIS2016_VAL,
    "trainval": tuple(sorted(DAVIS2016_TRAIN + DAVIS2016_VAL)),
}


def _davis_root(root: str | os.PathLike[str]) -> Path:
    """The folder holding ``JPEGImages/``: the root, or the ``DAVIS/`` folder the official zips unpack to."""
    r = Path(root).expanduser()
    if not (r / "JPEGImages").is_dir() and (r / "DAVIS" / "JPEGImages").is_dir():
        return r / "DAVIS"
    return r


class _DavisRelease(CachedFlow, DavisTree):
    """Shared split handling of the official releases (split files name the sequences; order kept)."""

    def _use_split(self, split: str | None, names: list[str] | None, source: str) -> None:
        """Restrict :attr:`sequences` to ``names`` (None: keep every folder), checking they exist."""
        self.split = split
        if names is None:
            return
        have = set(self.sequences)
        missing = [s for s in names if s not in have]
        if missing:
            raise self.layout_error(
                f"{source} lists {len(missing)} sequence(s) with no folder in "
                f"{self.image_root.relative_to(self.root)}/, e.g. {missing[:5]}",
                self.image_root,
            )
        self.sequences = list(names)
        self._seq_cache = None

    def _available_splits(self) -> str:
        sets = self.root / "ImageSets"
        if not sets.is_dir():
            return "none (no ImageSets/ folder)"
        found = sorted(str(p.relative_to(sets).with_suffix("")) for p in sets.rglob("*.txt"))
        return ", ".join(found) or "none"


@register_dataset(
    "davis2016",
    aliases=("davis16", "davis-2016"),
    summary="DAVIS 2016 (480p, binary foreground): the 2016 release, or its 50 sequences in the 2017 package",
    kind="sequence",
)
class Davis2016(_DavisRelease):
    """DAVIS 2016: 50 sequences with one binary foreground mask per frame (labels 0/1).

    Three trees are read, detected from ``ImageSets/`` (option ``release``):

    * ``2016``: the DAVIS 2016 release, ``ImageSets/480p/<split>.txt`` (path-pair lines); the masks
      are greyscale 0/255, every nonzero pixel is foreground.
    * ``2017``: the DAVIS 2017 trainval package, ``ImageSets/2016/<split>.txt`` (sequence names); its
      object-level palette annotations are merged into one foreground, palette index 255 (void) is
      background, as davis2017-evaluation reads it.
    * ``none``: no split files (motion-grouping's ``DAVIS2016/`` folder, as GWM uses it); ``split``
      selects from the official lists built in (:data:`DAVIS2016_TRAIN`, :data:`DAVIS2016_VAL`).

    Args:
        root: the DAVIS folder (or the folder holding the ``DAVIS/`` the zips unpack to).
        split: ``train``, ``val`` or ``trainval``; None: every DAVIS 2016 sequence in the tree (in the
            2017 package, only the 50 DAVIS 2016 ones).
        resolution: ``480p`` (default) or ``1080p`` (2016 release) / ``Full-Resolution`` (2017 package).
        release: ``auto`` (default), ``2016``, ``2017`` or ``none``, see above.

    Examples:
        >>> import tempfile, numpy as np
        >>> from spelke.data import write_image, write_label_map
        >>> root = Path(tempfile.mkdtemp())
        >>> write_image(root / "JPEGImages/480p/dog/00000.jpg", np.zeros((3, 4, 6), np.float32))
        >>> write_label_map(root / "Annotations/480p/dog/00000.png", np.full((4, 6), 255), palette=False)
        >>> ds = Davis2016(root)
        >>> ds.release, ds.sequences, int(ds.labels("dog", 0).max())
        ('none', ['dog'], 1)
    """

    layout = """
<root>/                                  the DAVIS 2016 release (DAVIS-data.zip)
├── JPEGImages/480p/<seq>/00000.jpg
├── Annotations/480p/<seq>/00000.png     binary masks, 0 / 255
└── ImageSets/480p/train.txt|val.txt|trainval.txt
                                         lines '/JPEGImages/480p/bear/00000.jpg /Annotations/480p/bear/00000.png'
or the DAVIS 2017 trainval package (its 50 DAVIS 2016 sequences):
├── JPEGImages/480p/<seq>/00000.jpg
├── Annotations/480p/<seq>/00000.png     palette ids, merged into one foreground (255 = void)
└── ImageSets/2016/train.txt|val.txt     sequence names
or JPEGImages/480p/ + Annotations/480p/ alone (motion-grouping's DAVIS2016/; official lists built in)
"""
    RELEASES: ClassVar[tuple[str, ...]] = ("auto", "2016", "2017", "none")

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        resolution: str = "480p",
        release: str = "auto",
    ) -> None:
        root_p = _davis_root(root)
        release = str(release)
        if release not in self.RELEASES:
            raise ConfigError(f"release must be one of {', '.join(self.RELEASES)}; got {release!r}")
        super().__init__(root_p, split=None, resolution=resolution)
        self.release = self._detect_release() if release == "auto" else release
        if split is None:
            if self.release == "2017":  # the package holds 90 sequences; DAVIS 2016 is 50 of them
                names: list[str] = []
                for s in ("train", "val"):
                    names += self._split_names(s)
                self._use_split(None, names, "ImageSets/2016/train.txt + val.txt")
            return
        if split not in _BUILTIN_2016:
            raise ConfigError(f"DAVIS 2016 splits are train, val and trainval; got split={split!r}")
        self._use_split(split, self._split_names(split), f"split '{split}'")

    def _detect_release(self) -> str:
        sets = self.root / "ImageSets"
        if any((sets / lvl).is_dir() for lvl in ("480p", "1080p")):
            return "2016"
        if (sets / "2016").is_dir():
            return "2017"
        return "none"

    def _split_names(self, split: str) -> list[str]:
        sets = self.root / "ImageSets"
        if self.release == "2016":
            levels = [lv for lv in (self.resolution, "480p", "1080p") if lv]
            candidates = [sets / lv / f"{split}.txt" for lv in dict.fromkeys(levels)]
        elif self.release == "2017":
            candidates = [sets / "2016" / f"{split}.txt"]
        else:
            candidates = []
        for c in candidates:
            if c.is_file():
                return read_split_file(c)
        if self.release == "none":  # GWM's DAVIS2016 folder: the official lists, built in
            return list(_BUILTIN_2016[split])
        if split == "trainval" and self.release == "2017":  # the 2017 package has no trainval list
            return self._split_names("train") + self._split_names("val")
        raise self.layout_error(
            f"no split file {candidates[0].relative_to(self.root)}; available: {self._available_splits()}",
            sets if sets.is_dir() else self.root,
        )

    def labels(self, seq: str, i: int | str) -> np.ndarray | None:
        name = self.frame_names(seq)[self.frame_index(seq, i)]
        if name not in self._annotated_set(seq):
            return None
        path = self.label_path(seq, name)
        lab = read_label_map(path)
        # In the 2017 package's palette masks index 255 marks void pixels, not an object; the 2016
        # release's greyscale masks store the foreground as 255.
        if self.release == "2017" or (self.release == "none" and _is_palette_png(path)):
            lab[lab == 255] = 0
        return (lab != 0).astype(np.int64)


#: ``annotations`` option of ``davis2017`` -> folder name.
DAVIS2017_ANNOTATIONS = {
    "semi": "Annotations",
    "semi-supervised": "Annotations",
    "unsupervised": "Annotations_unsupervised",
    "motion": "Annotations_unsupervised_Xie_et_al",
    "unsupervised-motion": "Annotations_unsupervised_Xie_et_al",
}
_TEST_SPLITS = ("test-dev", "test-challenge")
_SPLIT_ALIASES = {"testdev": "test-dev", "test_dev": "test-dev", "testchallenge": "test-challenge"}


@register_dataset(
    "davis2017",
    aliases=("davis17", "davis-2017"),
    summary="DAVIS 2017 multi-object (semi-supervised, unsupervised or LRTL motion annotations)",
    kind="sequence",
)
class Davis2017(_DavisRelease):
    """DAVIS 2017: palette multi-object annotations (ids 1..K per sequence, 0 = background).

    Args:
        root: the DAVIS folder (or the folder holding the ``DAVIS/`` the zips unpack to).
        split: ``train``, ``val``, ``test-dev`` or ``test-challenge`` (``ImageSets/2017/<split>.txt``;
            for the unsupervised annotations of the test sets ``ImageSets/2019/`` first, as
            davis2017-evaluation); None: every sequence folder.
        resolution: ``480p`` (default) or ``Full-Resolution``.
        annotations: ``semi`` (``Annotations/``, default), ``unsupervised``
            (``Annotations_unsupervised/``), ``motion`` (``Annotations_unsupervised_Xie_et_al/``, the
            DAVIS17-motion annotations LRTL scores), or a folder name. The test sets ship without them
            (semi-supervised test sets: first frame only): frames without a file are unannotated.
        void: the palette index read as background (davis2017-evaluation: 255); None keeps it.
    """

    layout = """
<root>/                                   DAVIS 2017 (DAVIS-2017-trainval-480p.zip, test-dev, test-challenge)
├── JPEGImages/480p/<seq>/00000.jpg       (or Full-Resolution/)
├── Annotations/480p/<seq>/00000.png      palette ids, 0 = background, 255 = void   (annotations=semi)
├── Annotations_unsupervised/480p/<seq>/   (annotations=unsupervised)
├── Annotations_unsupervised_Xie_et_al/480p/<seq>/   (annotations=motion, LRTL's DAVIS17-motion)
└── ImageSets/2017/train.txt|val.txt|test-dev.txt|test-challenge.txt   sequence names
    ImageSets/2019/test-dev.txt|test-challenge.txt   (unsupervised test sets)
"""

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        resolution: str = "480p",
        annotations: str = "semi",
        void: int | None = 255,
    ) -> None:
        root_p = _davis_root(root)
        split = _SPLIT_ALIASES.get(split, split) if split is not None else None
        folder = DAVIS2017_ANNOTATIONS.get(annotations, annotations)
        self.annotations = folder
        if isinstance(void, str) and void.strip().lower() in ("none", "null", ""):
            void = None  # from the CLI: void=none keeps index 255
        super().__init__(root_p, split=None, resolution=resolution, void_label=as_int(void, "void", 0, True))
        ann = self.root / folder
        if not ann.is_dir():
            if split not in _TEST_SPLITS:
                raise self.layout_error(f"there is no {folder}/ folder (annotations={annotations})")
            warnings.warn(
                f"davis2017: {ann} does not exist; split '{split}' is read without annotations",
                stacklevel=2,
            )
        self.label_root = (
            ann / self.resolution if self.resolution and (ann / self.resolution).is_dir() else ann
        )
        if split is None:
            return
        years = ["2019", "2017"] if split in _TEST_SPLITS and folder != "Annotations" else ["2017"]
        sets = self.root / "ImageSets"
        for y in years:
            f = sets / y / f"{split}.txt"
            if f.is_file():
                self._use_split(split, read_split_file(f), f"ImageSets/{y}/{split}.txt")
                return
        raise self.layout_error(
            f"no split file ImageSets/{years[0]}/{split}.txt; available: {self._available_splits()}",
            sets if sets.is_dir() else self.root,
        )
