"""Generic datasets over plain folders: ``image_folder`` (images) and ``frame_folder`` (video frames)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from spelke.data.datasets.base import ImageDataset, SequenceDataset
from spelke.data.io import read_image, read_label_map
from spelke.data.registry import register_dataset
from spelke.data.video import list_frames, natural_key

__all__ = ["FrameFolder", "ImageFolder"]


def _resolve(root: Path, p: str | os.PathLike[str]) -> Path:
    q = Path(p).expanduser()
    return q if q.is_absolute() else root / q


@register_dataset(
    "image_folder",
    summary="a folder of images (optionally images/), with optional masks/<stem>.png label maps",
    kind="image",
)
class ImageFolder(ImageDataset):
    """A folder of images with optional label maps.

    Images are read from ``<root>/images/`` when that folder exists, else from ``<root>`` itself
    (not recursively). Label maps are ``<masks>/<stem>.png`` with the image's stem, ``masks`` being
    ``<root>/masks/`` by default; images without a mask get ``labels=None``. With a ``split``, the
    image stems are read from ``<root>/ImageSets/<split>.txt`` (without ImageSets the split is ignored
    with a warning).

    Args:
        root: the dataset folder.
        split: optional split name.
        masks: folder of label maps (relative to root or absolute); default ``masks/`` if present.
        rgb: how colour-coded RGB masks are read (see :func:`spelke.data.read_label_map`).
    """

    layout = """
<root>/
├── images/              (or the images directly in <root>/)
│   ├── 0001.jpg
│   └── 0002.png
├── masks/               (optional; option masks=PATH)
│   └── 0001.png         label map, same stem as the image, 0 = background
└── ImageSets/<split>.txt  (optional; image stems, one per line)
"""

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        masks: str | os.PathLike[str] | None = None,
        rgb: str = "error",
    ) -> None:
        super().__init__(root, split)
        self.rgb = rgb
        if not self.root.is_dir():
            raise self.layout_error("the root is not a folder")
        self.image_dir = self.root / "images" if (self.root / "images").is_dir() else self.root
        files = list_frames(self.image_dir)
        if not files:
            raise self.layout_error(f"no images in {self.image_dir}", self.image_dir)
        by_stem: dict[str, Path] = {}
        for f in files:
            if f.stem in by_stem:
                raise self.layout_error(
                    f"two images share the stem '{f.stem}' ({by_stem[f.stem].name}, {f.name}); "
                    "names must be unique",
                    self.image_dir,
                )
            by_stem[f.stem] = f
        if masks is not None:
            self.mask_dir: Path | None = _resolve(self.root, masks)
            if not self.mask_dir.is_dir():
                raise self.layout_error(f"the masks folder {self.mask_dir} does not exist")
        else:
            self.mask_dir = self.root / "masks" if (self.root / "masks").is_dir() else None
        wanted = self._split_from_imagesets(self.root / "ImageSets", split)
        if wanted is not None:
            # Accept "0001.jpg" as well as "0001" in the split file.
            wanted = [w if w in by_stem or Path(w).stem not in by_stem else Path(w).stem for w in wanted]
            missing = [w for w in wanted if w not in by_stem]
            if missing:
                raise self.layout_error(
                    f"split '{split}' lists {len(missing)} image(s) not in {self.image_dir}, "
                    f"e.g. {missing[:3]}"
                )
            stems = wanted
        else:
            stems = [f.stem for f in files]
        self._files = [by_stem[s] for s in stems]
        self.names = stems

    def image(self, i: int) -> np.ndarray:
        return read_image(self._files[i])

    def mask_path(self, i: int) -> Path | None:
        """Where image ``i``'s label map is (or would be); None without a masks folder."""
        return None if self.mask_dir is None else self.mask_dir / f"{self.names[i]}.png"

    def labels(self, i: int) -> np.ndarray | None:
        p = self.mask_path(i)
        if p is None or not p.is_file():
            return None
        return read_label_map(p, rgb=self.rgb)  # type: ignore[arg-type]

    def meta(self, i: int) -> dict[str, Any]:
        return {"path": str(self._files[i])}


@register_dataset(
    "frame_folder",
    summary="a folder of frames (one sequence) or a folder of frame folders (one sequence each)",
    kind="sequence",
)
class FrameFolder(SequenceDataset):
    """Video frames stored as images: one folder = one sequence.

    If ``root`` holds images, it is a single sequence named after the folder; otherwise every
    sub-folder that holds images is a sequence (natural order). Frames are ordered naturally
    (``2.png`` before ``10.png``) and named by their stem. Optional label maps mirror the frames under
    ``masks`` (``<masks>/<stem>.png`` for a single sequence, ``<masks>/<seq>/<stem>.png`` for several);
    frames without a mask are unannotated.

    Args:
        root: the folder.
        split: with several sequences, ``<root>/ImageSets/<split>.txt`` lists the ones to use.
        masks: folder of label maps (relative to root or absolute).
        rgb: how colour-coded RGB masks are read (see :func:`spelke.data.read_label_map`).
    """

    layout = """
<root>/                  one sequence named after <root>
├── 00000.jpg
└── 00001.jpg
or
<root>/                  several sequences
├── <seq-a>/00000.jpg ...
└── <seq-b>/00000.jpg ...
"""

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        masks: str | os.PathLike[str] | None = None,
        rgb: str = "error",
    ) -> None:
        super().__init__(root, split)
        self.rgb = rgb
        if not self.root.is_dir():
            raise self.layout_error("the root is not a folder")
        self.mask_dir = _resolve(self.root, masks) if masks is not None else None
        if self.mask_dir is not None and not self.mask_dir.is_dir():
            raise self.layout_error(f"the masks folder {self.mask_dir} does not exist")
        self._dirs: dict[str, Path] = {}
        self._frames: dict[str, list[Path]] = {}
        files = list_frames(self.root)
        if files:
            self.single = True
            self._dirs[self.root.name] = self.root
            self._frames[self.root.name] = files
        else:
            self.single = False
            subdirs = sorted(
                (d for d in self.root.iterdir() if d.is_dir() and not d.name.startswith(".")),
                key=lambda d: natural_key(d.name),
            )
            for d in subdirs:
                if self.mask_dir is not None and d.resolve() == self.mask_dir.resolve():
                    continue
                if list_frames(d):
                    self._dirs[d.name] = d
        if not self._dirs:
            raise self.layout_error("no images in the root nor in any sub-folder")
        wanted = None if self.single else self._split_from_imagesets(self.root / "ImageSets", split)
        if wanted is not None:
            missing = [w for w in wanted if w not in self._dirs]
            if missing:
                raise self.layout_error(
                    f"split '{split}' lists sequences that are not folders here: {missing[:5]}"
                )
            self.sequences = wanted
        else:
            self.sequences = list(self._dirs)

    def _files(self, seq: str) -> list[Path]:
        if seq not in self._frames:
            self.check_sequence(seq)
            self._frames[seq] = list_frames(self._dirs[seq])
        return self._frames[seq]

    def frame_names(self, seq: str) -> list[str]:
        return [f.stem for f in self._files(seq)]

    def image(self, seq: str, i: int | str) -> np.ndarray:
        return read_image(self._files(seq)[self.frame_index(seq, i)])

    def _mask_folder(self, seq: str) -> Path | None:
        if self.mask_dir is None:
            return None
        return self.mask_dir if self.single else self.mask_dir / seq

    def labels(self, seq: str, i: int | str) -> np.ndarray | None:
        folder = self._mask_folder(seq)
        if folder is None:
            return None
        p = folder / f"{self.frame_names(seq)[self.frame_index(seq, i)]}.png"
        return read_label_map(p, rgb=self.rgb) if p.is_file() else None  # type: ignore[arg-type]

    def annotated_frames(self, seq: str) -> list[str]:
        folder = self._mask_folder(seq)
        if folder is None or not folder.is_dir():
            return []
        have = {p.stem for p in folder.glob("*.png")}
        return [n for n in self.frame_names(seq) if n in have]
