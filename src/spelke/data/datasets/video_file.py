"""``video_file``: a video file (or a folder of them) read as sequences."""

from __future__ import annotations

import os

import numpy as np

from spelke.data.datasets.base import SequenceDataset, as_bool, as_int
from spelke.data.registry import register_dataset
from spelke.data.video import VIDEO_EXTENSIONS, iter_video, natural_key

__all__ = ["VideoFile"]


@register_dataset(
    "video_file",
    summary="a video file as one sequence (or a folder of video files, one sequence each)",
    kind="sequence",
)
class VideoFile(SequenceDataset):
    """A video file as one sequence, named after the file's stem; or every video file in a folder.

    Frames are decoded with OpenCV. With ``cache=True`` (default) a sequence is decoded once, on first
    use, and kept in memory; with ``cache=False`` each frame is decoded on demand, sequentially from the
    start of the file (exact, but slow for late frames). Frames are named by their index in the file,
    ``f"{index:05d}"``, so ``stride=2`` gives ``00000, 00002, ...``. Videos carry no labels.

    Args:
        root: the video file, or a folder of video files.
        split: ignored (a video has no splits).
        stride: keep every ``stride``-th frame.
        max_frames: keep at most this many frames (after striding).
        start: index of the first frame kept.
        cache: keep decoded frames in memory.
    """

    layout = """
<root> = clip.mp4        one sequence 'clip'
or
<root>/                  one sequence per video file
├── walk.mp4
└── dog.avi
"""

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        stride: int = 1,
        max_frames: int | None = None,
        start: int = 0,
        cache: bool = True,
    ) -> None:
        super().__init__(root, split)
        self.stride = as_int(stride, "stride", 1)
        self.max_frames = as_int(max_frames, "max_frames", 0, allow_none=True)
        self.start = as_int(start, "start", 0)
        self.cache = as_bool(cache, "cache")
        if self.root.is_file():
            files = [self.root]
        elif self.root.is_dir():
            files = sorted(
                (
                    f
                    for f in self.root.iterdir()
                    if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS and not f.name.startswith(".")
                ),
                key=lambda f: natural_key(f.name),
            )
            if not files:
                raise self.layout_error(f"no video files ({', '.join(VIDEO_EXTENSIONS)}) in the folder")
        else:
            raise self.layout_error("the path does not exist")
        self._paths = {}
        for f in files:
            if f.stem in self._paths:
                raise self.layout_error(f"two videos share the name '{f.stem}'")
            self._paths[f.stem] = f
        self.sequences = list(self._paths)
        self._frames: dict[str, np.ndarray] = {}
        self._names: dict[str, list[str]] = {}

    def _iter(self, seq: str, start: int, max_frames: int | None):
        return iter_video(self._paths[seq], start=start, stride=self.stride, max_frames=max_frames)

    def _decoded(self, seq: str) -> np.ndarray:
        if seq not in self._frames:
            self.check_sequence(seq)
            frames = list(self._iter(seq, self.start, self.max_frames))
            if not frames:
                raise self.layout_error(f"no frames could be decoded from {self._paths[seq]}")
            self._frames[seq] = np.stack(frames)
        return self._frames[seq]

    def frame_names(self, seq: str) -> list[str]:
        if seq not in self._names:
            if self.cache:
                n = len(self._decoded(seq))
            else:
                self.check_sequence(seq)
                n = sum(1 for _ in self._iter(seq, self.start, self.max_frames))
            self._names[seq] = [f"{self.start + k * self.stride:05d}" for k in range(n)]
        return self._names[seq]

    def image(self, seq: str, i: int | str) -> np.ndarray:
        k = self.frame_index(seq, i)
        if self.cache:
            return self._decoded(seq)[k]
        return next(self._iter(seq, self.start + k * self.stride, 1))

    def meta(self, seq: str) -> dict:
        self.check_sequence(seq)
        return {"path": str(self._paths[seq]), "stride": self.stride, "start": self.start}
