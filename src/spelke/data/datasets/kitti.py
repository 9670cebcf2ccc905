"""``kitti``: the KITTI 2015 frames with instance annotation that PPMP evaluates on.

PPMP (thesis Ch. 4, following Bao et al. 2022) scores FG-ARI on "the instance-segmentation subset with
200 annotated validation frames": the 200 training frames of the KITTI semantic/instance segmentation
benchmark (Alhaija et al., IJCV 2018; ``data_semantics.zip``), which are the ``<6 digits>_10.png`` frames
of KITTI 2015 scene flow (Menze and Geiger, CVPR 2015; ``data_scene_flow.zip``). PPMP's loader
(``karazijal/probable-motion``, ``src/datasets/kitti_val.py``) indexes ``instance/*.png`` and reads the
frame of the same name from ``image_2/``.

The instance maps are 16-bit PNGs whose high byte is the semantic class and whose low byte is the
instance number within that class, 0 where no instance is annotated (devkit_semantics ``README``).
PPMP keeps the low byte only (``value % 256``), so two instances of different classes with the same
number share an id; ``instances=unique`` keeps them apart. Flow ground truth (``flow_occ/``,
``flow_noc/``) is the scene flow benchmark's, read with :func:`spelke.data.read_kitti_flow`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from spelke.data.datasets.base import ImageDataset
from spelke.data.flow_io import read_kitti_flow
from spelke.data.io import read_image, read_label_map
from spelke.data.registry import register_dataset
from spelke.data.video import natural_key
from spelke.errors import ConfigError

__all__ = ["KittiInstance"]

_SPLITS = {
    "training": "training",
    "train": "training",
    "val": "training",
    "testing": "testing",
    "test": "testing",
}
INSTANCE_MODES = ("ppmp", "unique")
FLOW_KINDS = ("occ", "noc")


@register_dataset(
    "kitti",
    aliases=("kitti2015", "kitti-instance"),
    summary="KITTI 2015 frames with instance maps (PPMP's 200-frame set), flow_occ/flow_noc ground truth",
    kind="image",
)
class KittiInstance(ImageDataset):
    """KITTI 2015 ``<6 digits>_10`` frames with instance labels and ground-truth flow.

    Items are the annotated frames (``000000_10`` ...). ``next_image(i)`` reads the second frame of the
    pair (``_11``), ``flow(i)`` the ground-truth flow from the frame to it.

    Args:
        root: the KITTI folder holding ``training/`` (and ``testing/``), or a ``training/`` folder itself.
        split: ``training`` (default; aliases ``train``, and ``val`` because PPMP calls these 200 frames
            its validation set) or ``testing`` (no annotation).
        instances: ``ppmp`` (default): id = instance number (``value % 256``), as PPMP reads them;
            ``unique``: id = the 16-bit value wherever an instance is annotated, so instances of different
            classes never share an id. Pixels without an instance are background (0) in both.
    """

    layout = """
<root>/                                   KITTI 2015: data_semantics.zip and data_scene_flow.zip unpacked together
├── training/image_2/000000_10.png        left colour frame t (000000_11.png: frame t + 1)
├── training/instance/000000_10.png       16-bit: semantic id * 256 + instance id (0 = no instance)
├── training/flow_occ/000000_10.png       (optional) KITTI flow PNG, t -> t + 1, all pixels
├── training/flow_noc/000000_10.png       (optional) non-occluded pixels only
└── testing/image_2/000000_10.png         (no annotation)
"""

    def __init__(
        self, root: str | os.PathLike[str], split: str | None = None, instances: str = "ppmp"
    ) -> None:
        super().__init__(root, split)
        if instances not in INSTANCE_MODES:
            raise ConfigError(f"instances must be one of {', '.join(INSTANCE_MODES)}; got {instances!r}")
        self.instances = instances
        if (self.root / "image_2").is_dir():  # the root is a split folder itself
            self.split_root = self.root
        else:
            name = _SPLITS.get(str(split).lower(), None) if split is not None else "training"
            if name is None:
                raise ConfigError(f"KITTI splits are training and testing; got split={split!r}")
            self.split_root = self.root / name
            if not (self.split_root / "image_2").is_dir():
                where = self.split_root if self.split_root.is_dir() else self.root
                raise self.layout_error(f"there is no {name}/image_2/ folder", where)
        frames = sorted(
            (p for p in (self.split_root / "image_2").glob("*_10.png") if not p.name.startswith(".")),
            key=lambda p: natural_key(p.name),
        )
        if not frames:
            raise self.layout_error("no <6 digits>_10.png frames in image_2/", self.split_root / "image_2")
        self.names = [p.stem for p in frames]

    def _path(self, folder: str, i: int, suffix: str = "") -> Path:
        name = self.names[i]
        return self.split_root / folder / f"{name[:-3] + suffix if suffix else name}.png"

    def image(self, i: int) -> np.ndarray:
        return read_image(self._path("image_2", i))

    def next_image(self, i: int) -> np.ndarray | None:
        """The second frame of pair ``i`` (``<6 digits>_11.png``), or None when it is not there."""
        p = self._path("image_2", self.index(i), "_11")
        return read_image(p) if p.is_file() else None

    def labels(self, i: int) -> np.ndarray | None:
        p = self._path("instance", i)
        if not p.is_file():
            return None
        v = read_label_map(p)
        inst = v % 256
        return inst if self.instances == "ppmp" else np.where(inst > 0, v, 0)

    def semantic(self, i: int) -> np.ndarray | None:
        """Semantic class ids of frame ``i`` (the instance map's high byte), or None without annotation."""
        p = self._path("instance", self.index(i))
        return read_label_map(p) // 256 if p.is_file() else None

    def flow(self, i: int | str, kind: str = "occ") -> tuple[np.ndarray, np.ndarray] | None:
        """Ground-truth flow of pair ``i`` as ``(flow (2, H, W), valid (H, W) bool)``; None if absent.

        Args:
            i: index or frame name.
            kind: ``occ`` (``flow_occ/``, every pixel with a correspondence) or ``noc`` (``flow_noc/``,
                non-occluded pixels only).
        """
        if kind not in FLOW_KINDS:
            raise ConfigError(f"kind must be one of {', '.join(FLOW_KINDS)}; got {kind!r}")
        p = self._path(f"flow_{kind}", self.index(i))
        return read_kitti_flow(p) if p.is_file() else None

    def meta(self, i: int) -> dict[str, Any]:
        return {"path": str(self._path("image_2", i)), "split": self.split_root.name}
