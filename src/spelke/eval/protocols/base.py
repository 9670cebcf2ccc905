"""Named, versioned evaluation protocols: the objects that turn prediction files into benchmark numbers.

A protocol fixes everything that changes a number: which ground-truth files count (split, frame
selection), how predictions are read (their *kind*: ``labels``, ``binary`` or ``soft``; DESIGN.md), how
they are brought to the ground-truth resolution, which metric functions run, and how per-frame values
are averaged. Its ``version`` changes whenever any of these changes, and every result file records it.

Protocols read files, call the pure metric functions of :mod:`spelke.eval`, and return an
:class:`EvalResult`. They never import methods or models (a lower layer never imports a higher one).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from spelke.data.video import natural_key
from spelke.errors import ConfigError, DataLayoutError, ShapeError

T = TypeVar("T")

PREDICTION_KINDS = ("labels", "binary", "soft")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff")

# A progress hook: wraps an iterable, given its length and a description (rich's ``track`` fits).
ProgressFn = Callable[[Iterable[T], int, str], Iterable[T]]


def no_progress(it: Iterable[T], total: int, description: str) -> Iterable[T]:
    return it


@dataclass
class ItemScore:
    """One scored item (a frame or an image) for galleries: its key, headline score and files."""

    key: str
    score: float
    gt_path: Path | None = None
    pred_path: Path | None = None
    image_path: Path | None = None


@dataclass
class EvalResult:
    """What a protocol returns: headline numbers, tables of rows, per-item scores and notes."""

    protocol: str
    version: str
    summary: dict[str, float]
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    items: list[ItemScore] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    headline: str = ""

    def to_dict(self) -> dict[str, Any]:
        from spelke import __version__

        return {
            "protocol": self.protocol,
            "protocol_version": self.version,
            "spelke_version": __version__,
            "headline": self.headline,
            "options": {k: _jsonable(v) for k, v in self.options.items()},
            "summary": {k: _jsonable(v) for k, v in self.summary.items()},
            "tables": {
                k: [{c: _jsonable(v) for c, v in r.items()} for r in rows] for k, rows in self.tables.items()
            },
            "notes": list(self.notes),
        }

    def table_csv(self, name: str) -> str:
        """One table as CSV text (columns: the union of the rows' keys, in first-seen order)."""
        rows = self.tables[name]
        cols: list[str] = []
        for r in rows:
            cols += [c for c in r if c not in cols]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({c: _fmt_csv(r.get(c)) for c in cols})
        return buf.getvalue()


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None  # JSON has no NaN; null means "undefined for this item"
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _fmt_csv(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        return "" if not math.isfinite(v) else repr(v)
    return v


class Protocol:
    """Base class of evaluation protocols. Subclasses set the class attributes and ``evaluate``.

    Attributes:
        name: registered name (``davis2016``).
        version: bumped whenever anything that changes a number changes.
        reads: the prediction kinds this protocol accepts, first = preferred.
        summary: one line for ``spelke list``.
        oracle: True if the protocol looks at ground truth to choose a prediction.
        options: the keyword options ``evaluate`` accepts, with their defaults (documented in docs/metrics.md).
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    reads: ClassVar[tuple[str, ...]] = ("labels",)
    summary: ClassVar[str] = ""
    oracle: ClassVar[bool] = False
    options: ClassVar[dict[str, Any]] = {}
    gt_layout: ClassVar[str] = ""
    pred_layout: ClassVar[str] = ""

    def resolve_options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with ``given``; unknown keys are an error naming the known ones."""
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            known = ", ".join(f"{k}={v!r}" for k, v in self.options.items()) or "(none)"
            raise ConfigError(
                f"protocol '{self.name}' has no option {', '.join(map(repr, unknown))}; its options are: {known}"
            )
        out = dict(self.options)
        for k, v in given.items():
            default = self.options[k]
            out[k] = coerce_option(k, v, default)
        return out

    def evaluate(
        self,
        pred: str | Path,
        gt: str | Path,
        *,
        progress: ProgressFn = no_progress,
        **options: Any,
    ) -> EvalResult:
        raise NotImplementedError

    def describe(self) -> str:
        kind = "oracle " if self.oracle else ""
        return f"{self.name} v{self.version}: {kind}{self.summary} (reads {'/'.join(self.reads)})"


def coerce_option(key: str, value: Any, default: Any) -> Any:
    """Coerce a ``key=value`` string from the command line to the type of the option's default."""
    if not isinstance(value, str) or isinstance(default, str):
        return value
    v = value.strip()
    try:
        if isinstance(default, bool):
            if v.lower() in ("1", "true", "yes", "on"):
                return True
            if v.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            return int(v)
        if isinstance(default, float):
            return float(v)
        if default is None:
            if v.lower() in ("none", "null", ""):
                return None
            for cast in (int, float):
                try:
                    return cast(v)
                except ValueError:
                    pass
            return v
    except ValueError:
        raise ConfigError(
            f"option {key}={value!r} must be of type {type(default).__name__} (default {default!r})"
        ) from None
    return v


# --------------------------------------------------------------------------------------------------
# Layout discovery shared by the protocols
# --------------------------------------------------------------------------------------------------


def list_images(folder: Path, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> list[Path]:
    return sorted(
        (
            p
            for p in folder.iterdir()
            if p.is_file() and p.suffix.lower() in extensions and not p.name.startswith(".")
        ),
        key=lambda p: natural_key(p.name),
    )


def prediction_root(pred: Path) -> Path:
    """Accept a run directory (holding ``predictions/``) as well as the predictions folder itself."""
    pred = Path(pred)
    if not pred.is_dir():
        raise DataLayoutError(
            f"prediction folder {pred} does not exist; pass the folder holding your prediction files"
        )
    if (pred / "predictions").is_dir():
        return pred / "predictions"
    return pred


@dataclass
class SequenceGT:
    """Ground-truth annotation files of one sequence, by frame stem, in natural order."""

    name: str
    frames: dict[str, Path]  # stem -> annotation file (for SegTrackv2 multi-object: the sequence folder)
    object_dirs: list[Path] | None = None  # SegTrackv2 multi-object: one sub-folder per object
    image_dir: Path | None = None


def read_split(gt_root: Path, split: str, year: str | None = None) -> list[str]:
    """Sequence names of a split from ``ImageSets/[<year>/]<split>.txt``.

    Lines may be bare names (DAVIS 2017 package) or pairs of paths like
    ``/JPEGImages/480p/bear/00000.jpg /Annotations/480p/bear/00000.png`` (original DAVIS 2016 lists);
    the sequence name is taken from the path in the latter case.
    """
    candidates = [gt_root / "ImageSets" / year / f"{split}.txt"] if year else []
    candidates += [gt_root / "ImageSets" / f"{split}.txt"]
    for c in candidates:
        if c.is_file():
            names: list[str] = []
            for line in c.read_text().splitlines():
                tok = line.strip().split()
                if not tok:
                    continue
                first = tok[0]
                name = Path(first).parent.name if "/" in first else first
                if name not in names:
                    names.append(name)
            return names
    tried = ", ".join(str(c.relative_to(gt_root)) for c in candidates)
    raise DataLayoutError(
        f"split '{split}' not found under {gt_root}: looked for {tried}; pass split=none to use every sequence"
    )


SEQUENCE_GT_TREE = """\
  <gt>/Annotations[/480p]/<seq>/<frame>.png    (DAVIS and spelke trees; 0 = background)
  <gt>/GroundTruth/<seq>[/<object>]/<frame>.png (SegTrackv2; one sub-folder per object if several)
  <gt>/<seq>/<frame>.png                        (plain: one label PNG per annotated frame)
  <gt>/ImageSets/[2016|2017/]<split>.txt        (optional sequence lists)
  <gt>/JPEGImages[/480p]/<seq>/<frame>.jpg|png  (optional frames, for galleries)"""


ANNOTATION_DIRS = ("Annotations/480p", "Annotations", "GroundTruth")


def find_sequence_gt(
    gt_root: str | Path,
    split: str | None = None,
    year: str | None = None,
    annotation_dirs: tuple[str, ...] = ANNOTATION_DIRS,
) -> list[SequenceGT]:
    """Find annotated sequences under ``gt_root`` in the DAVIS, SegTrackv2 or plain layout.

    The first of ``annotation_dirs`` that exists is the annotation root; if none does, ``gt_root`` itself
    is read as a plain ``<seq>/<frame>.png`` tree.
    """
    gt_root = Path(gt_root)
    if not gt_root.is_dir():
        raise DataLayoutError(
            f"ground-truth folder {gt_root} does not exist; expected one of:\n{SEQUENCE_GT_TREE}"
        )
    ann = None
    for cand in annotation_dirs:
        if (gt_root / cand).is_dir():
            ann = gt_root / cand
            break
    if ann is None:
        ann = gt_root
    img_root = None
    for cand in ("JPEGImages/480p", "JPEGImages"):
        if (gt_root / cand).is_dir():
            img_root = gt_root / cand
            break
    seq_dirs = sorted(
        (d for d in ann.iterdir() if d.is_dir() and not d.name.startswith(".")),
        key=lambda d: natural_key(d.name),
    )
    seq_dirs = [d for d in seq_dirs if d.name not in ("ImageSets", "JPEGImages", "meta", "flows", "tracks")]
    if split is not None:
        wanted = read_split(gt_root, split, year)
        by_name = {d.name: d for d in seq_dirs}
        missing = [s for s in wanted if s not in by_name]
        if missing:
            raise DataLayoutError(
                f"split '{split}' lists {len(missing)} sequence(s) with no annotation folder under {ann}: "
                f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
            )
        seq_dirs = [by_name[s] for s in wanted]
    out: list[SequenceGT] = []
    for d in seq_dirs:
        files = list_images(d)
        subdirs = sorted((s for s in d.iterdir() if s.is_dir()), key=lambda s: natural_key(s.name))
        image_dir = img_root / d.name if img_root is not None and (img_root / d.name).is_dir() else None
        if files:
            out.append(SequenceGT(d.name, {f.stem: f for f in files}, image_dir=image_dir))
        elif subdirs:  # SegTrackv2: one folder per object, frames inside
            frames: dict[str, Path] = {}
            for s in subdirs:
                for f in list_images(s):
                    frames.setdefault(f.stem, d)
            stems = sorted(frames, key=natural_key)
            out.append(SequenceGT(d.name, {k: d for k in stems}, object_dirs=subdirs, image_dir=image_dir))
    if not out:
        raise DataLayoutError(
            f"no annotated sequences found under {gt_root}; expected one of:\n{SEQUENCE_GT_TREE}"
        )
    return out


def find_frame_image(image_dir: Path | None, stem: str) -> Path | None:
    if image_dir is None:
        return None
    for ext in (".jpg", ".png", ".jpeg"):
        p = image_dir / f"{stem}{ext}"
        if p.is_file():
            return p
    return None


def find_prediction(pred_root: Path, rel_stem: str, kinds: tuple[str, ...]) -> Path | None:
    """The prediction file for ``rel_stem`` (``seq/00012``), trying the kinds' extensions in order."""
    for kind in kinds:
        exts = (".npz",) if kind == "soft" else (".png",)
        for ext in exts:
            p = pred_root / f"{rel_stem}{ext}"
            if p.is_file():
                return p
    return None


def list_prediction_stems(pred_root: Path) -> set[str]:
    """Every prediction file below ``pred_root`` as a relative stem (``seq/00012``)."""
    out = set()
    for p in pred_root.rglob("*"):
        if p.is_file() and p.suffix.lower() in (".png", ".npz"):
            out.add(p.relative_to(pred_root).with_suffix("").as_posix())
    return out


def report_missing(missing: list[str], pred_root: Path, layout: str, allow_missing: bool) -> str | None:
    """Raise a DataLayoutError listing missing prediction files, or return a note if they are allowed."""
    if not missing:
        return None
    shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
    if allow_missing:
        return f"{len(missing)} prediction file(s) missing, scored as empty predictions: {shown}"
    raise DataLayoutError(
        f"{len(missing)} prediction file(s) missing under {pred_root}: {shown}. Expected layout: {layout}. "
        "Pass allow_missing=true to score missing frames as empty predictions"
    )


def note_extra(
    extra: Iterable[str], what: str = "prediction file(s) have no ground truth and were ignored"
) -> str | None:
    extra = sorted(extra, key=natural_key)
    if not extra:
        return None
    shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
    return f"{len(extra)} {what}: {shown}"


def resize_nearest(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an (H, W) label map (OpenCV INTER_NEAREST; exact for integer ids)."""
    import cv2

    if labels.shape == shape:
        return labels
    src = labels.astype(np.int32) if labels.max(initial=0) < 2**31 else labels
    return cv2.resize(src, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST).astype(np.int64)


def resize_bilinear(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an (H, W) or (K, H, W) float map (half-pixel centres, as align_corners=False)."""
    import cv2

    if x.shape[-2:] == shape:
        return x
    if x.ndim == 2:
        return cv2.resize(x.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.stack([resize_bilinear(c, shape) for c in x])


def match_shape(
    pred: np.ndarray, shape: tuple[int, int], key: str, resize: str, *, soft: bool = False
) -> tuple[np.ndarray, bool]:
    """Bring a prediction to the ground-truth shape according to the protocol's ``resize`` option.

    ``resize="none"`` raises a ShapeError naming both shapes; ``"nearest"`` resizes label maps by nearest
    neighbour; soft maps are always resized bilinearly when resizing is allowed.
    """
    if pred.shape[-2:] == tuple(shape):
        return pred, False
    if resize == "none":
        raise ShapeError(
            f"prediction {key} has size {tuple(pred.shape[-2:])} but its ground truth has size {tuple(shape)}; "
            "write predictions at the annotation resolution or pass resize=nearest"
        )
    if resize not in ("nearest", "bilinear"):
        raise ConfigError(f"resize must be one of none, nearest, bilinear; got {resize!r}")
    if soft or (resize == "bilinear" and pred.dtype.kind == "f"):
        return resize_bilinear(pred, tuple(shape)), True
    return resize_nearest(pred, tuple(shape)), True


def iter_with_progress(items: list[T], progress: ProgressFn, description: str) -> Iterator[T]:
    yield from progress(items, len(items), description)
