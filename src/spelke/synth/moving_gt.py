"""Moving-object ground truth for motion segmentation on spelke's Moving ClevrTex / Moving CLEVR trees.

``Annotations/<seq>/<t>.png`` holds every object of a clip. Motion segmentation (GWM, DAVIS-style binary
protocols) asks for the objects that *move*; in a Moving ClevrTex clip one, two or all objects are
pushed (thesis App. D.2) and the others stand still unless hit. :func:`write_moving_annotations` writes
``AnnotationsMoving/<seq>/<t:05d>.png`` beside ``Annotations/``: the same instance ids (stable across the
clip), with the objects that do not move set to background. Score against it with
``spelke evaluate --protocol davis2016 ... annotations=AnnotationsMoving``, or read it with
``create_dataset("moving-clevrtex", root, annotations="AnnotationsMoving")``.

The rule (docs/data.md, docs/fidelity.md):

* Candidates come from the metadata: the pushed objects and every object whose pose changes between two
  rendered frames (``meta["pushed_objects"]``, ``meta["moving"]``; objects hit by a pushed one move too).
* An object's displacement on frame t is the median magnitude of the ground-truth flow over its visible
  pixels, the larger of the forward (t→t+1) and backward (t→t-1) flows. A candidate moves when this
  exceeds ``threshold_px`` (default 0.5 px): sub-pixel settling of resting bodies does not count.
  When the camera turns (``meta["camera_frames"]``), the displacement is that of the object's own motion:
  the exact flow with the camera held at frame t's pose, recomputed from the metadata.
* ``rule="clip"`` (default): an object that moves on any frame of the clip is kept on *every* frame where
  it is visible, including after a pushed object has come to rest — it is a Spelke object the clip's
  motion reveals, and DAVIS likewise keeps annotating a primary object that pauses. ``rule="frame"``
  keeps an object only on the frames where it moves.
* ``threshold_px=None`` uses the metadata alone (no flow is read).

The flow is read from the flow cache (``flows/<backend>/Flows_gap±1``; backend ``gt`` by default) and,
for ``gt`` when a file is missing, recomputed exactly from the clip's transforms
(:func:`spelke.synth.moving.flow_between`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from spelke.data.io import read_json, read_label_map, write_json, write_label_map
from spelke.errors import ConfigError, DataLayoutError, ShapeError

__all__ = [
    "DEFAULT_THRESHOLD_PX",
    "MovingAnnotationReport",
    "moving_objects",
    "object_displacements",
    "write_moving_annotations",
]

#: Median flow magnitude (pixels per frame) above which an object counts as moving on a frame.
DEFAULT_THRESHOLD_PX = 0.5
#: Version of the rule; recorded in ``AnnotationsMoving/manifest.json``.
RULE_VERSION = "1"

Rule = Literal["clip", "frame"]


@dataclass
class MovingAnnotationReport:
    """What :func:`write_moving_annotations` did.

    Attributes:
        out: the output folder.
        sequences: per clip, the ids kept on at least one frame (the clip's moving objects).
        written: label maps written (new or changed).
        unchanged: label maps already on disk with the same content (left untouched).
        skipped: clips asked for (every ``meta/*.json``, or ``sequences``) that are not finished: no
            ``meta/<seq>.json``, or annotation frames missing.
    """

    out: Path
    sequences: dict[str, list[int]] = field(default_factory=dict)
    written: int = 0
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)


def object_displacements(labels: np.ndarray, flow: np.ndarray) -> dict[int, float]:
    """Median flow magnitude over each object's pixels: ``{id: pixels}`` for every id > 0 in ``labels``."""
    if tuple(flow.shape) != (2, *labels.shape):
        raise ShapeError(
            f"flow {tuple(flow.shape)} does not match the label map {labels.shape}; expected (2, H, W) at the "
            "annotation resolution"
        )
    mag = np.hypot(flow[0], flow[1])
    return {int(i): float(np.median(mag[labels == i])) for i in np.unique(labels) if i > 0}


def _frames(root: Path, source: str, seq: str, n: int) -> list[Path]:
    return [root / source / seq / f"{t:05d}.png" for t in range(n)]


def _flow(root: Path, backend: str, seq: str, t: int, gap: int, camera_moves: bool = False) -> np.ndarray:
    from spelke.data.flow_io import read_flo
    from spelke.synth.moving import flow_between

    if camera_moves:
        # The camera's own motion is not the object's: measure the object's motion with the camera held
        # still, exactly, from the metadata (whatever the flow backend).
        return flow_between(root, seq, t, t + gap, camera="fixed")
    p = root / "flows" / backend / f"Flows_gap{gap}" / seq / f"{t:05d}.flo"
    if p.is_file():
        return read_flo(p)
    if backend != "gt":
        raise DataLayoutError(
            f"{p} is missing: compute the flow cache first (spelke flow), use flow_backend='gt', or pass "
            "threshold_px=None to decide from the metadata alone"
        )
    try:
        return flow_between(root, seq, t, t + gap)
    except (KeyError, DataLayoutError, FileNotFoundError) as e:
        raise DataLayoutError(
            f"{p} is missing and cannot be recomputed from meta/{seq}.json ({e}); write the gt flow cache or "
            "pass threshold_px=None to decide from the metadata alone"
        ) from None


def _candidates(meta: dict[str, Any], present: set[int], n: int) -> tuple[set[int], list[set[int]]]:
    """Candidate moving ids for the clip and per frame, from the metadata (module docstring)."""
    pushed = {int(i) for i in meta.get("pushed_objects", [])}
    moving = meta.get("moving")
    if moving is None and "pushed_objects" not in meta:
        # a tree without motion metadata: every object is a candidate, the flow decides
        return set(present), [set(present) for _ in range(n)]
    moving = [[int(i) for i in m] for m in (moving or [[] for _ in range(n)])]
    if len(moving) != n:
        raise DataLayoutError(f"meta 'moving' has {len(moving)} entries for a clip of {n} frames")
    # meta["moving"][t]: pose changes from t to t+1; an object moves *at* t if it moved into or out of t
    per_frame = [set(moving[t]) | (set(moving[t - 1]) if t > 0 else set()) for t in range(n)]
    clip = pushed.union(*per_frame)
    return clip, per_frame


def moving_objects(
    root: str | Path,
    seq: str,
    *,
    rule: Rule = "clip",
    threshold_px: float | None = DEFAULT_THRESHOLD_PX,
    flow_backend: str = "gt",
    source: str = "Annotations",
) -> list[set[int]]:
    """The ids of moving objects on each frame of clip ``seq`` (module docstring for the rule)."""
    if rule not in ("clip", "frame"):
        raise ConfigError(f"rule must be 'clip' or 'frame'; got {rule!r}")
    root = Path(root)
    meta_path = root / "meta" / f"{seq}.json"
    if not meta_path.is_file():
        raise DataLayoutError(f"{meta_path} is missing: is {root} a Moving ClevrTex tree written by spelke?")
    meta = read_json(meta_path)
    n = int(meta.get("num_frames", 0))
    labels = [read_label_map(p) for p in _frames(root, source, seq, n)]
    present = set().union(*({int(i) for i in np.unique(lab) if i > 0} for lab in labels)) if labels else set()
    clip_cand, frame_cand = _candidates(meta, present, n)
    if threshold_px is None:
        per_frame = frame_cand if rule == "frame" else [set(clip_cand) for _ in range(n)]
    else:
        disp: list[dict[int, float]] = []
        for t in range(n):
            d: dict[int, float] = {}
            for gap in (1, -1):
                if 0 <= t + gap < n:
                    for i, v in object_displacements(
                        labels[t], _flow(root, flow_backend, seq, t, gap, "camera_frames" in meta)
                    ).items():
                        d[i] = max(d.get(i, 0.0), v)
            disp.append(d)
        if rule == "clip":
            moved = {i for d in disp for i, v in d.items() if v > threshold_px and i in clip_cand}
            per_frame = [set(moved) for _ in range(n)]
        else:
            per_frame = [{i for i, v in d.items() if v > threshold_px and i in clip_cand} for d in disp]
    return [s & {int(i) for i in np.unique(lab)} for s, lab in zip(per_frame, labels, strict=True)]


def write_moving_annotations(
    root: str | Path,
    out_dir: str = "AnnotationsMoving",
    threshold_px: float | None = DEFAULT_THRESHOLD_PX,
    *,
    rule: Rule = "clip",
    flow_backend: str = "gt",
    source: str = "Annotations",
    sequences: list[str] | None = None,
) -> MovingAnnotationReport:
    """Write ``<root>/<out_dir>/<seq>/<t:05d>.png`` keeping only the moving objects of every finished clip.

    Ids are those of ``Annotations/`` (stable across the clip), other objects become background 0. Writes
    are atomic and idempotent: a label map already on disk with the right content is left untouched,
    anything else is (re)written, so a run can be repeated or resumed and always ends in the same state.
    ``<out_dir>/manifest.json`` (written last) records the rule, the threshold and each clip's moving ids.

    Args:
        root: the tree's root (``JPEGImages/``, ``Annotations/``, ``meta/``).
        out_dir: output folder, relative to ``root`` (or absolute).
        threshold_px: median flow magnitude in pixels above which an object moves on a frame; None:
            decide from the metadata alone.
        rule: ``"clip"`` (an object that moves anywhere in the clip is kept on every frame) or
            ``"frame"`` (only on the frames where it moves).
        flow_backend: flow cache backend read for the displacement (``gt``: rendered ground truth).
        source: the full annotation folder.
        sequences: clip names to process (default: every ``meta/*.json``).

    Returns:
        A :class:`MovingAnnotationReport`.
    """
    root = Path(root)
    if rule not in ("clip", "frame"):
        raise ConfigError(f"rule must be 'clip' or 'frame'; got {rule!r}")
    if threshold_px is not None and threshold_px < 0:
        raise ConfigError(f"threshold_px must be >= 0 or None; got {threshold_px}")
    out = Path(out_dir) if Path(out_dir).is_absolute() else root / out_dir
    src = root / source
    if out.resolve() == src.resolve():
        raise ConfigError(f"out_dir must differ from the source annotations ({src}); it would overwrite them")
    if not (root / "meta").is_dir() or not src.is_dir():
        raise DataLayoutError(
            f"{root} has no meta/ or {source}/ folder; expected a Moving ClevrTex tree: "
            f"{source}/<seq>/00000.png and meta/<seq>.json (spelke generate --dataset moving-clevrtex)"
        )
    names = sequences if sequences is not None else sorted(p.stem for p in (root / "meta").glob("*.json"))
    report = MovingAnnotationReport(out)
    for seq in names:
        meta_path = root / "meta" / f"{seq}.json"
        n = int(read_json(meta_path).get("num_frames", 0)) if meta_path.is_file() else 0
        frames = _frames(root, source, seq, n)
        if n == 0 or not all(p.is_file() for p in frames):
            report.skipped.append(seq)
            continue
        keep = moving_objects(
            root, seq, rule=rule, threshold_px=threshold_px, flow_backend=flow_backend, source=source
        )
        for t, (p, ids) in enumerate(zip(frames, keep, strict=True)):
            lab = read_label_map(p)
            new = np.where(np.isin(lab, sorted(ids)), lab, 0)
            target = out / seq / f"{t:05d}.png"
            if target.is_file():
                try:
                    if np.array_equal(read_label_map(target), new):
                        report.unchanged += 1
                        continue
                except Exception:  # unreadable leftovers are rewritten
                    pass
            write_label_map(target, new)
            report.written += 1
        report.sequences[seq] = sorted(set().union(*keep))
    manifest_path = out / "manifest.json"
    options = {
        "rule": rule,
        "threshold_px": threshold_px,
        "flow_backend": flow_backend,
        "source": source,
        "statistic": "median |flow| over the object's pixels, max of gaps +1 and -1",
        "version": RULE_VERSION,
    }
    recorded: dict[str, list[int]] = {}
    if manifest_path.is_file() and sequences is not None:
        old = read_json(manifest_path)
        if {k: old.get(k) for k in options} == options:
            recorded = dict(old.get("sequences", {}))
    recorded.update(report.sequences)
    out.mkdir(parents=True, exist_ok=True)
    write_json(manifest_path, {**options, "sequences": dict(sorted(recorded.items()))})
    return report
