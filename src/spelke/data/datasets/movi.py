"""``movi``: MOVi (Kubric; Greff et al., CVPR 2022) exported to files, with ground-truth flow per frame.

The MOVi datasets are published as TFDS records (``gs://kubric-public/tfds``); spelke reads them
exported to files in Kubric's own file naming, the layout a Kubric worker writes for one scene
(``kubric/file_io.py``: ``write_image_dict``) and the TFDS builders read back (``challenges/movi/movi_a.py``:
``load_scene_directory``)::

    <root>/<split>/<video>/rgba_00000.png            8-bit RGBA frame (alpha dropped)
                           segmentation_00000.png    palette ids: 0 = background, instance k -> k + 1
                           forward_flow_00000.png    16-bit PNG, channels (delta_row, delta_col, 0)
                           backward_flow_00000.png   the same for the backward flow
                           metadata.json             scene metadata (Kubric's, or the TFDS record's)
                           data_ranges.json          {"forward_flow": {"min": .., "max": ..}, ...}

A flow PNG stores ``q = (flow - min) * 65535 / (max - min)`` as uint16, one ``(min, max)`` per video and
direction over both channels; it is decoded as ``q / 65535 * (max - min) + min`` (the MOVi builders'
docstring). The range is read from ``data_ranges.json`` (Kubric worker output) or, for an export of the
TFDS records, from ``metadata.json`` (``metadata.forward_flow_range`` / ``metadata.backward_flow_range``,
or the same keys at the top level). The TFDS ranges are already divided by the downsampling factor.

Kubric stores flow as (delta_row, delta_col); spelke returns (x, y) = (delta_col, delta_row). Kubric's
backward flow keeps the direction of time (the motion from frame t - 1 to frame t, expressed at frame
t's pixels: kubric issue #152), so ``flow(seq, i, gap=-1)`` negates it to give the flow from frame t to
frame t - 1, the convention of ``Flows_gap-1`` in the flow cache; ``backward_flow="as_stored"`` keeps
Kubric's sign.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from spelke.data.datasets.base import SequenceDataset
from spelke.data.io import read_image, read_label_map
from spelke.data.registry import register_dataset
from spelke.data.video import natural_key
from spelke.errors import ConfigError, DataLayoutError, FileFormatError

__all__ = ["Movi", "decode_kubric_flow", "read_kubric_flow_png"]

_FRAME = re.compile(r"^(rgba|rgb)_(\d+)\.png$")
BACKWARD_MODES = ("negate", "as_stored")
_SPLIT_ALIASES = {"val": "validation", "valid": "validation"}


def read_kubric_flow_png(path: Path) -> np.ndarray:
    """The raw uint16 ``(2, H, W)`` of a Kubric flow PNG: its first two channels, in file order."""
    import cv2

    if not path.is_file():
        raise DataLayoutError(f"{path} does not exist; expected a Kubric 16-bit flow PNG there")
    arr = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16:
        got = "undecodable" if arr is None else f"{arr.dtype}"
        raise FileFormatError(f"{path}: a Kubric flow PNG is 16-bit, got {got}")
    if arr.ndim != 3 or arr.shape[2] < 3:
        raise FileFormatError(
            f"{path}: a Kubric flow PNG has 3 channels (the 2 flow channels + 0), got {arr.shape}"
        )
    arr = arr[:, :, [2, 1]]  # OpenCV decodes to BGR: file channels 0 and 1 are OpenCV's 2 and 1
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def decode_kubric_flow(raw: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Kubric's quantised ``(delta_row, delta_col)`` uint16 -> spelke flow ``(2, H, W)`` (x, y) in pixels."""
    v = raw.astype(np.float64) / 65535.0 * (float(hi) - float(lo)) + float(lo)
    return np.ascontiguousarray(v[::-1]).astype(np.float32)  # (row, col) -> (x = col, y = row)


@register_dataset(
    "movi",
    aliases=("movi-a", "movi-c", "movi-d", "movi-e", "movi-f", "kubric"),
    summary="MOVi (Kubric) exported to files: rgba_/segmentation_/forward_flow_/backward_flow_<5d>.png",
    kind="sequence",
)
class Movi(SequenceDataset):
    """MOVi videos exported to files (one folder per video), with ground-truth flow per frame.

    Args:
        root: the export folder, holding ``<split>/<video>/`` (or the video folders directly).
        split: ``train``, ``validation`` (alias ``val``), ``test``, ...: a sub-folder of the root. None:
            the only split present (or the root itself when it holds the video folders).
        backward_flow: ``negate`` (default): ``flow(seq, i, gap=-1)`` is the flow from frame i to
            frame i - 1; ``as_stored``: Kubric's backward flow as stored (motion from i - 1 to i).
    """

    layout = """
<root>/<split>/<video>/                 split: train, validation, test (or <root>/<video>/)
├── rgba_00000.png                      8-bit RGBA frame (rgb_00000.png accepted)
├── segmentation_00000.png              palette ids, 0 = background, instance k of metadata -> k + 1
├── forward_flow_00000.png              16-bit PNG (delta_row, delta_col, 0), quantised per video
├── backward_flow_00000.png
├── metadata.json                       Kubric's (or {"metadata": {"forward_flow_range": [min, max], ...}})
└── data_ranges.json                    {"forward_flow": {"min": .., "max": ..}, "backward_flow": {...}}
"""

    def __init__(
        self, root: str | os.PathLike[str], split: str | None = None, backward_flow: str = "negate"
    ) -> None:
        super().__init__(root, split)
        if backward_flow not in BACKWARD_MODES:
            raise ConfigError(
                f"backward_flow must be one of {', '.join(BACKWARD_MODES)}; got {backward_flow!r}"
            )
        self.backward_flow = backward_flow
        if not self.root.is_dir():
            raise self.layout_error("the root is not a folder")
        if self._holds_videos(self.root):
            if split not in (None, "all"):
                raise self.layout_error(f"split '{split}' asked for, but the root holds the videos directly")
            folder = self.root
        else:
            splits = sorted(d.name for d in self.root.iterdir() if d.is_dir() and self._holds_videos(d))
            if not splits:
                raise self.layout_error(
                    "no video folders (holding rgba_00000.png) in the root or a split folder"
                )
            if split is None:
                if len(splits) > 1:
                    raise ConfigError(
                        f"{self.root} holds several MOVi splits ({', '.join(splits)}); choose one with split=NAME"
                    )
                split = splits[0]
            name = split if split in splits else _SPLIT_ALIASES.get(split, split)
            if name not in splits:
                raise self.layout_error(f"no split folder '{split}'; splits present: {', '.join(splits)}")
            self.split = name
            folder = self.root / name
        self.split_root = folder
        self.sequences = self._videos_in(folder)
        self._frames: dict[str, list[tuple[str, Path]]] = {}
        self._meta: dict[str, dict[str, Any]] = {}

    @staticmethod
    def _is_video(d: Path) -> bool:
        if not d.is_dir() or d.name.startswith("."):
            return False
        # one stat for Kubric's numbering from 0; a listing only for exports numbered otherwise
        return (d / "rgba_00000.png").is_file() or any(_FRAME.match(f.name) for f in d.iterdir())

    @classmethod
    def _videos_in(cls, folder: Path) -> list[str]:
        return sorted((d.name for d in folder.iterdir() if cls._is_video(d)), key=natural_key)

    @classmethod
    def _holds_videos(cls, folder: Path) -> bool:
        return any(cls._is_video(d) for d in folder.iterdir())

    # -- readers -------------------------------------------------------------------------------------------

    def video_dir(self, seq: str) -> Path:
        """The folder of video ``seq``."""
        self.check_sequence(seq)
        return self.split_root / seq

    def _files(self, seq: str) -> list[tuple[str, Path]]:
        if seq not in self._frames:
            frames: dict[int, Path] = {}
            for f in self.video_dir(seq).iterdir():
                m = _FRAME.match(f.name)
                if m and (m.group(1) == "rgba" or int(m.group(2)) not in frames):
                    frames[int(m.group(2))] = f
            self._frames[seq] = [(f"{k:05d}", frames[k]) for k in sorted(frames)]
        return self._frames[seq]

    def frame_names(self, seq: str) -> list[str]:
        return [n for n, _ in self._files(seq)]

    def image(self, seq: str, i: int | str) -> np.ndarray:
        return read_image(self._files(seq)[self.frame_index(seq, i)][1])

    def _layer(self, seq: str, layer: str, name: str) -> Path:
        return self.video_dir(seq) / f"{layer}_{name}.png"

    def annotated_frames(self, seq: str) -> list[str]:
        return [n for n in self.frame_names(seq) if self._layer(seq, "segmentation", n).is_file()]

    def labels(self, seq: str, i: int | str) -> np.ndarray | None:
        name = self.frame_names(seq)[self.frame_index(seq, i)]
        p = self._layer(seq, "segmentation", name)
        return read_label_map(p) if p.is_file() else None

    def meta(self, seq: str) -> dict[str, Any]:
        if seq not in self._meta:
            p = self.video_dir(seq) / "metadata.json"
            m = json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}
            self._meta[seq] = m if isinstance(m, dict) else {"metadata": m}
        return self._meta[seq]

    def flow_range(self, seq: str, direction: str) -> tuple[float, float]:
        """``(min, max)`` of the quantised ``forward_flow`` or ``backward_flow`` of video ``seq``."""
        key = f"{direction}_flow"
        ranges = self.video_dir(seq) / "data_ranges.json"
        if ranges.is_file():
            r = json.loads(ranges.read_text(encoding="utf-8")).get(key)
            if isinstance(r, dict) and "min" in r and "max" in r:
                return float(r["min"]), float(r["max"])
        meta = self.meta(seq)
        for where in (meta.get("metadata"), meta):
            if isinstance(where, dict) and f"{key}_range" in where:
                lo, hi = where[f"{key}_range"]
                return float(lo), float(hi)
        raise DataLayoutError(
            f"video '{seq}' has no range for {key}: expected data_ranges.json with "
            f'{{"{key}": {{"min": .., "max": ..}}}} or metadata.json with "{key}_range": [min, max] '
            f"in {self.video_dir(seq)}"
        )

    def flow(self, seq: str, i: int | str, gap: int = 1) -> np.ndarray | None:
        """Ground-truth flow ``(2, H, W)`` (pixels, x then y) from frame ``i`` to frame ``i + gap``.

        MOVi stores ``gap=1`` (forward) and ``gap=-1`` (backward) only. None when the frame has no
        such file.
        """
        gap = int(gap)
        if gap not in (1, -1):
            raise ConfigError(f"MOVi stores flow for gap 1 and -1 only, got gap={gap}")
        direction = "forward" if gap == 1 else "backward"
        name = self.frame_names(seq)[self.frame_index(seq, i)]
        p = self._layer(seq, f"{direction}_flow", name)
        if not p.is_file():
            return None
        flow = decode_kubric_flow(read_kubric_flow_png(p), *self.flow_range(seq, direction))
        if direction == "backward" and self.backward_flow == "negate":
            flow = -flow
        return flow
