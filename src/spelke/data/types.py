"""The two records the data layer hands upwards: a :class:`Frame` (one image) and a :class:`Clip` (a video).

Both follow the project conventions: images are float32 ``(3, H, W)`` in [0, 1], label maps int64
``(H, W)`` with 0 = background. Construction checks shapes and converts dtypes where that is lossless,
so that code above the data layer can trust what it receives.

Examples:
    >>> import numpy as np
    >>> f = Frame(image=np.zeros((3, 4, 5), np.float32), labels=np.zeros((4, 5), np.int64), name="00000")
    >>> f.size
    (4, 5)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spelke._checks import as_label_batch, check_shape
from spelke.errors import ShapeError

#: Value that fills the label maps of frames without annotation inside :attr:`Clip.labels`.
#: Negative on purpose: metric code that forgets to consult :attr:`Clip.annotated` fails loudly
#: (label maps must be non-negative) instead of scoring an unannotated frame as all background.
UNANNOTATED = -1


def _as_image(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x)
    check_shape(a, ["3", "H", "W"], name)
    if a.dtype.kind != "f":
        raise ShapeError(
            f"{name} must be a float image in [0, 1] of shape (3, H, W), got dtype {a.dtype}; "
            "divide uint8 images by 255 (spelke.data.read_image does this)"
        )
    return a.astype(np.float32, copy=False)


def _as_labels(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x)
    check_shape(a, ["H", "W"], name)
    return as_label_batch(a, name)[0]


@dataclass
class Frame:
    """One image with optional ground truth.

    Attributes:
        image: float32 ``(3, H, W)`` in [0, 1], or None when only labels were loaded.
        labels: int64 ``(H, W)`` instance ids (0 = background), or None when the frame has no annotation.
        name: the frame's name, unique within its sequence or dataset (file stem, e.g. ``"00012"``).
        index: position of the frame in its sequence (or dataset for image datasets).
        sequence: name of the sequence the frame belongs to, None for image datasets.
        meta: free-form metadata (per-frame object metadata for spelke's own benchmarks).
    """

    image: np.ndarray | None = None
    labels: np.ndarray | None = None
    name: str = ""
    index: int = 0
    sequence: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"frame '{self.name}'" + (f" of sequence '{self.sequence}'" if self.sequence else "")
        if self.image is not None:
            self.image = _as_image(self.image, f"image of {where}")
        if self.labels is not None:
            self.labels = _as_labels(self.labels, f"labels of {where}")
        if self.image is not None and self.labels is not None and self.image.shape[1:] != self.labels.shape:
            raise ShapeError(
                f"{where}: image {self.image.shape} and labels {self.labels.shape} differ in size; "
                "the annotation must have the image's resolution"
            )

    @property
    def size(self) -> tuple[int, int] | None:
        """``(H, W)`` of the image or labels, None if the frame holds neither."""
        if self.image is not None:
            return (int(self.image.shape[1]), int(self.image.shape[2]))
        if self.labels is not None:
            return (int(self.labels.shape[0]), int(self.labels.shape[1]))
        return None


@dataclass
class Clip:
    """A video sequence: frame names, images, optional (possibly sparse) labels and metadata.

    Images are either loaded (``images`` is a float32 ``(T, 3, H, W)`` array) or left on disk
    (``images`` is None and ``loader(i)`` reads frame ``i`` on demand); :meth:`image` works for both.

    Labels, when present, are an int64 ``(T, H, W)`` array. Sequences where only some frames are
    annotated (FBMS, DAVIS semi-supervised) mark the annotated frames in ``annotated`` (bool ``(T,)``); the
    other frames' label maps are filled with :data:`UNANNOTATED` (-1) so they cannot be mistaken for
    all-background ground truth.

    Attributes:
        sequence: the sequence name.
        frame_names: names of the T frames, in order.
        images: float32 ``(T, 3, H, W)`` in [0, 1], or None when loaded lazily.
        labels: int64 ``(T, H, W)`` or None when no frame is annotated (or labels were not requested).
        annotated: bool ``(T,)``, which frames have labels; None when ``labels`` is None.
        meta: the sequence metadata (``meta/<seq>.json`` for spelke's DAVIS-style tree).
        loader: reads frame ``i``'s image ``(3, H, W)`` when ``images`` is None.

    Examples:
        >>> import numpy as np
        >>> c = Clip("cat", ["00000", "00001"], images=np.zeros((2, 3, 4, 4), np.float32))
        >>> len(c), c.image(1).shape
        (2, (3, 4, 4))
    """

    sequence: str
    frame_names: list[str]
    images: np.ndarray | None = None
    labels: np.ndarray | None = None
    annotated: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    loader: Callable[[int], np.ndarray] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.frame_names = [str(n) for n in self.frame_names]
        t = len(self.frame_names)
        where = f"clip '{self.sequence}'"
        if self.images is not None:
            a = np.asarray(self.images)
            check_shape(a, [str(t), "3", "H", "W"], f"images of {where} ({t} frames)")
            if a.dtype.kind != "f":
                raise ShapeError(f"images of {where} must be float in [0, 1], got dtype {a.dtype}")
            self.images = a.astype(np.float32, copy=False)
        if self.labels is not None:
            lab = np.asarray(self.labels)
            check_shape(lab, [str(t), "H", "W"], f"labels of {where} ({t} frames)")
            if lab.dtype.kind not in "iu":
                raise ShapeError(f"labels of {where} must be integer, got dtype {lab.dtype}")
            self.labels = lab.astype(np.int64, copy=False)
            if self.annotated is None:
                self.annotated = np.ones(t, dtype=bool)
            self.annotated = np.asarray(self.annotated, dtype=bool)
            check_shape(self.annotated, [str(t)], f"annotated flags of {where}")
            if self.labels[self.annotated].size and self.labels[self.annotated].min() < 0:
                raise ShapeError(f"labels of {where} hold negative ids on annotated frames")
            if self.images is not None and self.images.shape[2:] != self.labels.shape[1:]:
                raise ShapeError(
                    f"{where}: images {self.images.shape} and labels {self.labels.shape} differ in size"
                )
        elif self.annotated is not None:
            raise ShapeError(f"{where}: 'annotated' was given without labels")

    def __len__(self) -> int:
        return len(self.frame_names)

    def image(self, i: int) -> np.ndarray:
        """Frame ``i``'s image, float32 ``(3, H, W)``, from memory or read on demand."""
        if self.images is not None:
            return self.images[i]
        if self.loader is None:
            raise ShapeError(f"clip '{self.sequence}' was loaded without images and has no loader")
        return _as_image(self.loader(i), f"image {i} of clip '{self.sequence}'")

    def load(self) -> Clip:
        """Read every image into :attr:`images` (no-op if already loaded); returns self."""
        if self.images is None and len(self):
            self.images = np.stack([self.image(i) for i in range(len(self))])
        return self

    def frame(self, i: int) -> Frame:
        """Frame ``i`` as a :class:`Frame` (labels None when that frame is not annotated)."""
        lab = None
        if self.labels is not None and self.annotated is not None and self.annotated[i]:
            lab = self.labels[i]
        frames_meta = self.meta.get("frames") if isinstance(self.meta, dict) else None
        meta = frames_meta[i] if isinstance(frames_meta, list) and len(frames_meta) == len(self) else {}
        img = self.image(i) if (self.images is not None or self.loader is not None) else None
        return Frame(img, lab, self.frame_names[i], i, self.sequence, dict(meta) if meta else {})

    @property
    def annotated_names(self) -> list[str]:
        """Names of the frames that have labels."""
        if self.annotated is None:
            return []
        return [n for n, a in zip(self.frame_names, self.annotated, strict=True) if a]
