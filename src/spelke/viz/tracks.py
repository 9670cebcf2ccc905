"""Pictures of point tracks: coloured tails over the frames, as images and animated GIFs.

Each track is drawn as its path over the last ``tail`` rows (an anti-aliased OpenCV polyline at
sub-pixel precision) ending in a dot at its current position: filled where the point is visible,
hollow where it is hidden (occluded or lost), so a tracker's occlusion handling can be seen. Colours
come from the query position — the Middlebury wheel of :func:`spelke.viz.flow.flow_to_color` applied
to the offset from the image centre, so neighbouring points share a hue and a whole object shows as
one patch of colour — or from the track's index in spelke's label palette (``by="id"``).

Rows of :class:`~spelke.motion.tracks.Tracks` are drawn on the frames they show
(``tracks.frames``), so ``frames`` is the whole clip.

Examples:
    >>> import numpy as np
    >>> from spelke.motion.tracks import Tracks
    >>> xy = np.zeros((3, 2, 2), np.float32); xy[:, 0] = [[4, 4], [6, 4], [8, 4]]; xy[:, 1] = 10
    >>> tr = Tracks(xy, np.ones((3, 2), bool), [0, 1, 2], (16, 16))
    >>> frames = np.full((3, 3, 16, 16), 0.5, np.float32)
    >>> [f.shape for f in track_frames(frames, tr, tail=2)]
    [(16, 16, 3), (16, 16, 3), (16, 16, 3)]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from spelke.data.io import write_image
from spelke.errors import ConfigError, ShapeError
from spelke.viz._image import to_uint8
from spelke.viz.flow import flow_to_color
from spelke.viz.palette import MAX_COLORS, palette
from spelke.viz.video import write_gif

__all__ = ["draw_tracks", "track_colors", "track_frames", "write_tracks_gif", "write_tracks_png"]

_COLOR_BY = ("position", "id")
# cv2 draws with integer coordinates scaled by 2**_SHIFT: sub-pixel positions without rounding.
_SHIFT = 4


def track_colors(tracks: Any, by: str = "position") -> np.ndarray:
    """One RGB colour per track, uint8 ``(N, 3)``.

    Args:
        tracks: :class:`~spelke.motion.tracks.Tracks`.
        by: ``"position"``: the Middlebury hue of the query point's offset from the image centre
            (saturation from 50 % at the centre to full at the corners); ``"id"``: the track's index in
            spelke's palette.
    """
    n = len(tracks)
    if by == "id":
        ids = 1 + np.arange(n) % (MAX_COLORS - 1)  # skip black (id 0)
        return palette(MAX_COLORS)[ids]
    if by != "position":
        raise ConfigError(f"colour tracks by one of {', '.join(_COLOR_BY)}; got {by!r}")
    h, w = tracks.size
    q = np.asarray(tracks.query, np.float64)
    offset = np.stack([q[:, 0] - (w - 1) / 2, q[:, 1] - (h - 1) / 2])  # (2, N)
    r = np.hypot(*offset)
    radius = max(float(np.hypot((w - 1) / 2, (h - 1) / 2)), 1.0)
    # saturation from 50 % at the centre to 100 % at the corners: no white dots on bright textures
    direction = np.where(r > 0, offset / np.maximum(r, 1e-12), np.array([[1.0], [0.0]]))
    vec = direction * (0.5 + 0.5 * np.minimum(r / radius, 1.0))
    return flow_to_color(vec[:, None, :], max_flow=1.0)[0]


def _subset(n: int, max_tracks: int | None) -> np.ndarray:
    if max_tracks is None or n <= max_tracks:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, int(max_tracks)).round().astype(np.int64))


def _pts(xy: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(xy, np.float64) * (1 << _SHIFT)).astype(np.int32)


def draw_tracks(
    image: object,
    tracks: Any,
    row: int,
    *,
    tail: int | None = 8,
    by: str = "position",
    colors: np.ndarray | None = None,
    max_tracks: int | None = 400,
    radius: int = 2,
    thickness: int = 1,
    show_hidden: bool = True,
) -> np.ndarray:
    """Draw the tracks' tails up to row ``row`` and their positions at that row over ``image``.

    Args:
        image: the frame row ``row`` shows, any layout :func:`spelke.viz.to_uint8` reads.
        tracks: :class:`~spelke.motion.tracks.Tracks` whose ``size`` is the image's.
        row: the row drawn (``tracks.query_index`` is the query frame).
        tail: rows of path drawn behind the current position; None: from the first row.
        by: colour by ``"position"`` or ``"id"`` (:func:`track_colors`); ignored with ``colors``.
        colors: uint8 ``(N, 3)`` RGB per track.
        max_tracks: draw at most this many tracks, evenly spread over the grid (None: all).
        radius: dot radius in pixels.
        thickness: line thickness in pixels.
        show_hidden: draw hidden points as hollow circles (else leave them out); tails are drawn only
            between positions where the point is visible.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    import cv2

    canvas = to_uint8(image).copy()
    if tuple(canvas.shape[:2]) != tuple(tracks.size):
        raise ShapeError(f"image is {canvas.shape[:2]} but the tracks are for frames of {tuple(tracks.size)}")
    t_rows = tracks.xy.shape[0]
    if not 0 <= row < t_rows:
        raise ConfigError(f"row {row} is outside the tracks' {t_rows} rows")
    cols = track_colors(tracks, by) if colors is None else np.asarray(colors, np.uint8)
    if cols.shape != (len(tracks), 3):
        raise ShapeError(f"colors must have shape (N, 3) = ({len(tracks)}, 3), got {cols.shape}")
    first = 0 if tail is None else max(0, row - int(tail))
    xy, vis = tracks.xy, tracks.vis
    for j in _subset(len(tracks), max_tracks):
        c = tuple(int(v) for v in cols[j])
        path = xy[first : row + 1, j]
        seen = vis[first : row + 1, j]
        ok = np.isfinite(path).all(1)
        # one polyline per run of visible rows: no lines across occlusions
        run: list[np.ndarray] = []
        for k in range(len(path)):
            if seen[k] and ok[k]:
                run.append(path[k])
            if (not (seen[k] and ok[k]) or k == len(path) - 1) and len(run) > 1:
                cv2.polylines(canvas, [_pts(np.array(run))], False, c, thickness, cv2.LINE_AA, _SHIFT)
            if not (seen[k] and ok[k]):
                run = []
        p = xy[row, j]
        if not np.isfinite(p).all():
            continue
        centre = tuple(int(v) for v in _pts(p))
        r = radius << _SHIFT
        if vis[row, j]:
            cv2.circle(canvas, centre, r, c, -1, cv2.LINE_AA, _SHIFT)
        elif show_hidden:
            cv2.circle(canvas, centre, r, c, 1, cv2.LINE_AA, _SHIFT)
    return canvas


def track_frames(frames: Sequence[object] | np.ndarray, tracks: Any, **kwargs: Any) -> list[np.ndarray]:
    """One picture per row of ``tracks``: its frame (``frames[tracks.frames[i]]``) with :func:`draw_tracks`.

    Args:
        frames: the clip the tracks were computed on.
        tracks: :class:`~spelke.motion.tracks.Tracks`.
        **kwargs: options of :func:`draw_tracks` (``tail``, ``by``, ``max_tracks``, ...).
    """
    idx = np.asarray(tracks.frames)
    if idx.size and (idx.min() < 0 or idx.max() >= len(frames)):
        raise ShapeError(
            f"the tracks show frames {int(idx.min())}..{int(idx.max())} but {len(frames)} frames were given"
        )
    if "colors" not in kwargs:  # compute once, not per row
        kwargs["colors"] = track_colors(tracks, kwargs.pop("by", "position"))
    return [draw_tracks(frames[int(f)], tracks, i, **kwargs) for i, f in enumerate(idx)]


def write_tracks_gif(
    path: str | os.PathLike[str],
    frames: Sequence[object] | np.ndarray,
    tracks: Any,
    *,
    fps: float = 6,
    **kwargs: Any,
) -> None:
    """Write an animated GIF of :func:`track_frames` (one frame per row), atomically."""
    write_gif(path, track_frames(frames, tracks, **kwargs), fps=fps)


def write_tracks_png(
    path: str | os.PathLike[str],
    frames: Sequence[object] | np.ndarray,
    tracks: Any,
    *,
    row: int | None = None,
    tail: int | None = None,
    **kwargs: Any,
) -> None:
    """Write one picture of the tracks as PNG, atomically: by default the last row's frame with every
    track's whole path (``tail=None``); pass ``row`` and ``tail`` for another moment."""
    r = tracks.xy.shape[0] - 1 if row is None else int(row)
    if not 0 <= r < tracks.xy.shape[0]:
        raise ConfigError(f"row {r} is outside the tracks' {tracks.xy.shape[0]} rows")
    image = frames[int(tracks.frames[r])]
    write_image(path, draw_tracks(image, tracks, r, tail=tail, **kwargs))
