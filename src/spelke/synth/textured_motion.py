"""A small synthetic video with exact optical flow, occlusion masks and point tracks, without Blender.

Textured shapes move over a textured background. Every surface (each object and the background) is a
continuous image — a smooth periodic noise texture sampled bilinearly — carried by a known motion, and
each frame is rendered by *inverse warping*: pixel ``p`` of frame ``t`` shows the texture at ``A(t)⁻¹ p``
of the top-most surface covering ``p``, where ``A(t)`` is that surface's affine pose. Because the
pixels are samples of the moving textures, the ground truth is exact and consistent with the images:

* labels: the id of the top-most surface at each pixel centre (0 = background, objects 1..K, ids
  stable across the clip; occlusion follows a fixed depth order, :attr:`TexturedVideo.depth_order`);
* flow from any frame ``t0`` to any frame ``t1`` (forward or backward): ``A_k(t1) A_k(t0)⁻¹ p - p``
  for the surface ``k`` visible at ``p`` in ``t0``; warping frame ``t1`` by it reproduces frame ``t0``
  up to interpolation error wherever the target is visible;
* the validity (non-occlusion) mask of a pair: the target ``p + flow`` lies inside frame ``t1`` and
  the same surface is visible there (evaluated analytically at the sub-pixel target, not on the label
  map);
* point tracks of a grid of query pixels, with visibility.

Pixel coordinates: the centre of pixel ``(row i, column j)`` is ``(x, y) = (j, i)``; flow and tracks
use these coordinates (the flow convention of ``spelke.data.flow_io`` and of RAFT/ARFlow warping).

The background translates (a slow camera pan; ``background_speed=0`` makes it static) so that "zero
flow = background" is not a shortcut. Objects translate with sub-pixel velocities; with
``motion="affine"`` they also rotate and scale slowly about their centres.

Examples:
    >>> v = make_textured_video(frames=4, size=(32, 48), objects=2, seed=0)
    >>> v.images.shape, v.labels.shape, v.flow(0, 3).shape
    ((4, 3, 32, 48), (4, 32, 48), (2, 32, 48))
    >>> xy, vis = v.tracks(query_frame=1, stride=8)
    >>> xy.shape, vis.shape, bool(vis[1].all())
    ((4, 24, 2), (4, 24), True)
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spelke.errors import ConfigError

__all__ = ["SHAPES", "MovingSurface", "TexturedVideo", "make_textured_video"]

#: Object shapes, in canonical coordinates scaled by the object's radius and aspect.
SHAPES = ("ellipse", "box", "triangle", "diamond")

# Smooth noise octaves (Gaussian correlation length in texels, amplitude): coarse structure for the
# coarse levels of pyramidal flow estimators, fine structure for sub-pixel accuracy. The finest octave
# keeps sigma above one texel so that bilinear interpolation error stays small.
_OCTAVES = ((8.0, 0.16), (3.0, 0.12), (1.3, 0.07))


@dataclass(frozen=True)
class MovingSurface:
    """One moving surface: the background (id 0) or an object, with its texture and motion.

    The pose at frame ``t`` maps canonical coordinates ``u`` (texels, origin at the object's centre)
    to pixel coordinates: ``p = s(t) R(angle(t)) u + centre(t)`` with ``centre(t) = centre + t *
    velocity``, ``angle(t) = angle + t * angular_velocity`` and ``s(t) = exp(t * scale_rate)``.

    Attributes:
        id: 0 for the background, 1..K for objects.
        shape: one of :data:`SHAPES`, or ``"plane"`` for the background.
        radius: object radius in pixels at scale 1 (0 for the background).
        aspect: ratio of the shape's second semi-axis to its first.
        centre: ``(x, y)`` in pixels at frame 0.
        velocity: ``(vx, vy)`` in pixels per frame.
        angle: orientation at frame 0, radians.
        angular_velocity: radians per frame (0 unless ``motion="affine"``).
        scale_rate: log-scale change per frame (0 unless ``motion="affine"``).
        texture: float32 ``(3, S, S')`` periodic texture in [0, 1].
    """

    id: int
    shape: str
    radius: float
    aspect: float
    centre: tuple[float, float]
    velocity: tuple[float, float]
    angle: float
    angular_velocity: float
    scale_rate: float
    texture: np.ndarray = field(repr=False, compare=False)

    def pose(self, t: float) -> np.ndarray:
        """The 3x3 homogeneous affine matrix mapping canonical coordinates to pixels at frame ``t``."""
        s = math.exp(self.scale_rate * t)
        a = self.angle + self.angular_velocity * t
        c, sn = math.cos(a), math.sin(a)
        return np.array(
            [
                [s * c, -s * sn, self.centre[0] + self.velocity[0] * t],
                [s * sn, s * c, self.centre[1] + self.velocity[1] * t],
                [0.0, 0.0, 1.0],
            ]
        )

    def transfer(self, t0: float, t1: float) -> np.ndarray:
        """The 3x3 matrix moving a point of this surface from its pixel position in ``t0`` to ``t1``."""
        return self.pose(t1) @ np.linalg.inv(self.pose(t0))

    def contains(self, u: np.ndarray) -> np.ndarray:
        """Whether canonical points ``u`` (..., 2) lie inside the shape (the background contains all)."""
        if self.shape == "plane":
            return np.ones(u.shape[:-1], bool)
        x = u[..., 0] / self.radius
        y = u[..., 1] / (self.radius * self.aspect)
        if self.shape == "ellipse":
            return x * x + y * y <= 1.0
        if self.shape == "box":  # a rounded square (superellipse of degree 4)
            return x**4 + y**4 <= 1.0
        if self.shape == "diamond":
            return np.abs(x) + np.abs(y) <= 1.0
        # equilateral triangle with circumradius 1 pointing along -y: inside the three edges, each at
        # distance 1/2 (the inradius) from the centre
        inside = np.ones(x.shape, bool)
        for k in range(3):
            a = math.pi / 2 + 2 * math.pi * k / 3
            inside &= x * math.cos(a) + y * math.sin(a) <= 0.5
        return inside

    def metadata(self) -> dict[str, Any]:
        """JSON-serialisable description (everything but the texture)."""
        return {
            "id": self.id,
            "shape": self.shape,
            "radius": self.radius,
            "aspect": self.aspect,
            "centre": list(self.centre),
            "velocity": list(self.velocity),
            "angle": self.angle,
            "angular_velocity": self.angular_velocity,
            "scale_rate": self.scale_rate,
        }


def _sample_periodic(tex: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Bilinearly sample a periodic texture (C, S, S') at texel coordinates ``u`` (N, 2) -> (C, N)."""
    _, sh, sw = tex.shape
    x, y = u[:, 0], u[:, 1]
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0).astype(np.float32), (y - y0).astype(np.float32)
    x0 = x0.astype(np.int64) % sw
    y0 = y0.astype(np.int64) % sh
    x1, y1 = (x0 + 1) % sw, (y0 + 1) % sh
    return (
        tex[:, y0, x0] * ((1 - fx) * (1 - fy))
        + tex[:, y0, x1] * (fx * (1 - fy))
        + tex[:, y1, x0] * ((1 - fx) * fy)
        + tex[:, y1, x1] * (fx * fy)
    )


def _periodic_noise(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian-filtered white noise that tiles seamlessly (filtered by FFT)."""
    white = rng.standard_normal((h, w))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    gain = np.exp(-2.0 * (math.pi * sigma) ** 2 * (fx * fx + fy * fy))
    n = np.fft.ifft2(np.fft.fft2(white) * gain).real
    return (n - n.mean()) / max(float(n.std()), 1e-12)


def _texture(rng: np.random.Generator, h: int, w: int, base: np.ndarray) -> np.ndarray:
    """A colourful periodic texture (3, h, w) in [0, 1] around a base colour: three noise octaves, each
    varying along its own random colour direction (so the channels are not mere copies)."""
    tex = np.broadcast_to(base[:, None, None], (3, h, w)).astype(np.float64)
    for sigma, amp in _OCTAVES:
        direction = rng.normal(size=3) + 1.0  # biased towards brightness changes, which flow needs
        direction /= np.linalg.norm(direction)
        tex = tex + amp * math.sqrt(3.0) * direction[:, None, None] * _periodic_noise(rng, h, w, sigma)[None]
    return np.clip(tex, 0.0, 1.0).astype(np.float32)


def _base_colour(rng: np.random.Generator, others: list[np.ndarray], min_dist: float = 0.3) -> np.ndarray:
    """A base colour at least ``min_dist`` (Euclidean, RGB) from the others, if one can be found."""
    best, best_d = None, -1.0
    for _ in range(64):
        c = rng.uniform(0.25, 0.75, 3)
        d = min((float(np.linalg.norm(c - o)) for o in others), default=math.inf)
        if d >= min_dist:
            return c
        if d > best_d:
            best, best_d = c, d
    return best  # type: ignore[return-value]


@dataclass
class TexturedVideo:
    """A generated clip with exact motion ground truth (see the module docstring).

    Attributes:
        images: float32 ``(T, 3, H, W)`` in [0, 1].
        labels: int64 ``(T, H, W)``, 0 = background, objects 1..K.
        background: the background surface (id 0).
        objects: the K object surfaces, ``objects[k - 1].id == k``.
        depth_order: object ids from back to front (later ids occlude earlier ones).
        motion: ``"translate"`` or ``"affine"``.
        seed: the seed it was generated from.
    """

    images: np.ndarray
    labels: np.ndarray
    background: MovingSurface
    objects: list[MovingSurface]
    depth_order: list[int]
    motion: str
    seed: int

    # -- basic properties -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self.images.shape[2]), int(self.images.shape[3])

    def surface(self, k: int) -> MovingSurface:
        """Surface ``k`` (0 = background)."""
        return self.background if k == 0 else self.objects[k - 1]

    def _check_frame(self, t: int, name: str = "frame") -> int:
        n = len(self)
        if not -n <= int(t) < n:
            raise IndexError(f"{name} {t} out of range for a clip of {n} frames")
        return int(t) % n

    def _grid(self) -> np.ndarray:
        h, w = self.size
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
        return np.stack([xs, ys], axis=-1)  # (H, W, 2) as (x, y)

    # -- analytic scene queries ----------------------------------------------------------------------------

    def label_at(self, t: int, xy: np.ndarray) -> np.ndarray:
        """Id of the top-most surface at sub-pixel points ``xy`` (..., 2) of frame ``t``.

        Evaluated on the shapes themselves, so it is exact between pixel centres too; points outside
        the frame get the id the scene would show there (the scene extends beyond the frame).
        """
        t = self._check_frame(t)
        pts = np.asarray(xy, np.float64)
        out = np.zeros(pts.shape[:-1], np.int64)
        for k in self.depth_order:
            obj = self.surface(k)
            inv = np.linalg.inv(obj.pose(t))
            u = pts @ inv[:2, :2].T + inv[:2, 2]
            out[obj.contains(u)] = k
        return out

    def _in_frame(self, xy: np.ndarray) -> np.ndarray:
        h, w = self.size
        return (xy[..., 0] >= 0) & (xy[..., 0] <= w - 1) & (xy[..., 1] >= 0) & (xy[..., 1] <= h - 1)

    def _move(self, k: np.ndarray, xy: np.ndarray, t0: int, t1: int) -> np.ndarray:
        """Positions in ``t1`` of the surface points ``xy`` (N, 2) seen on surfaces ``k`` (N,) in ``t0``."""
        out = np.array(xy, np.float64, copy=True)
        if t0 == t1:  # exact, free of round-off at shape boundaries
            return out
        for kk in np.unique(k):
            m = self.surface(int(kk)).transfer(t0, t1)
            sel = k == kk
            out[sel] = xy[sel] @ m[:2, :2].T + m[:2, 2]
        return out

    # -- ground truth ----------------------------------------------------------------------------------------

    def flow(self, t0: int, t1: int) -> np.ndarray:
        """Exact flow from frame ``t0`` to frame ``t1``, float32 ``(2, H, W)`` in pixels (channel 0 = x).

        Any pair works: forward (``t1 > t0``), backward (``t1 < t0``) and ``t1 == t0`` (zero). Each
        pixel moves with the surface visible at it in ``t0`` — background pixels with the background
        motion — wherever that point is in ``t1``, visible or not (see :meth:`valid`).
        """
        t0, t1 = self._check_frame(t0, "t0"), self._check_frame(t1, "t1")
        h, w = self.size
        grid = self._grid().reshape(-1, 2)
        lab = self.labels[t0].reshape(-1)
        target = self._move(lab, grid, t0, t1)
        return np.ascontiguousarray((target - grid).T.reshape(2, h, w)).astype(np.float32)

    def flows(self, gap: int = 1) -> np.ndarray:
        """Exact flows of every pair ``(t, t + gap)`` inside the clip, float32 ``(T - |gap|, 2, H, W)``.

        Entry ``i`` is the flow from frame ``i`` (``gap > 0``) or frame ``i + |gap|`` (``gap < 0``),
        the source frame, to frame source + gap.
        """
        if gap == 0:
            raise ConfigError("gap must be non-zero")
        sources = range(len(self) - gap) if gap > 0 else range(-gap, len(self))
        return np.stack([self.flow(t, t + gap) for t in sources])

    def valid(self, t0: int, t1: int) -> np.ndarray:
        """Bool ``(H, W)``: pixels of ``t0`` whose flow target is visible in ``t1``.

        True where ``p + flow(t0, t1)`` lies inside frame ``t1`` (pixel centres span ``[0, W-1] x
        [0, H-1]``) and the surface seen at ``p`` in ``t0`` is the top-most one there in ``t1``. False
        marks occluded and out-of-frame targets.
        """
        t0, t1 = self._check_frame(t0, "t0"), self._check_frame(t1, "t1")
        h, w = self.size
        if t0 == t1:
            return np.ones((h, w), bool)
        grid = self._grid().reshape(-1, 2)
        lab = self.labels[t0].reshape(-1)
        target = self._move(lab, grid, t0, t1)
        ok = self._in_frame(target) & (self.label_at(t1, target) == lab)
        return ok.reshape(h, w)

    def query_points(self, stride: int = 8) -> np.ndarray:
        """The query grid of :meth:`tracks`: pixel centres every ``stride`` pixels, float32 (N, 2) (x, y).

        The first point sits at ``(stride // 2, stride // 2)``; points are ordered row by row.
        """
        if stride < 1:
            raise ConfigError(f"stride must be >= 1, got {stride}")
        h, w = self.size
        ys, xs = np.mgrid[stride // 2 : h : stride, stride // 2 : w : stride]
        return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)

    def track_labels(self, query_frame: int = 0, stride: int = 8) -> np.ndarray:
        """Surface id of each track of :meth:`tracks` (the label at its query pixel), int64 (N,)."""
        q = self._check_frame(query_frame, "query_frame")
        pts = self.query_points(stride).astype(np.int64)
        return self.labels[q][pts[:, 1], pts[:, 0]]

    def tracks(self, query_frame: int = 0, stride: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """Exact point tracks of a grid of query pixels (:meth:`query_points`) of ``query_frame``.

        Each query point follows the surface visible at it in the query frame through every frame.

        Returns:
            ``xy`` float32 ``(T, N, 2)`` pixel positions (x, y) in every frame (also where hidden or
            outside the frame), and ``vis`` bool ``(T, N)``: inside the frame and not occluded. The
            layout of spelke's track cache (``t`` offsets are ``arange(T) - query_frame``).
        """
        q = self._check_frame(query_frame, "query_frame")
        pts = self.query_points(stride).astype(np.float64)
        k = self.track_labels(q, stride)
        xy = np.empty((len(self), len(pts), 2), np.float64)
        vis = np.empty((len(self), len(pts)), bool)
        for t in range(len(self)):
            xy[t] = self._move(k, pts, q, t)
            vis[t] = self._in_frame(xy[t]) & (self.label_at(t, xy[t]) == k)
        return xy.astype(np.float32), vis

    # -- conversions -----------------------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """JSON-serialisable description: motion model, surfaces, depth order, per-frame visibility.

        ``frames`` holds one dict per frame (the convention of ``meta/<seq>.json``) with the visible
        pixel count of every object.
        """
        frames = []
        for t in range(len(self)):
            counts = np.bincount(self.labels[t].ravel(), minlength=len(self.objects) + 1)
            frames.append({"visible_pixels": {str(o.id): int(counts[o.id]) for o in self.objects}})
        return {
            "generator": "spelke.synth.textured_motion",
            "motion": self.motion,
            "seed": self.seed,
            "size": list(self.size),
            "depth_order": list(self.depth_order),
            "background": self.background.metadata(),
            "objects": [{**o.metadata(), "moving": True} for o in self.objects],
            "frames": frames,
        }

    def to_clip(self, sequence: str = "textured") -> Any:
        """The clip as a :class:`spelke.data.Clip` (frames named ``00000``, ``00001``, ...)."""
        from spelke.data.types import Clip

        names = [f"{t:05d}" for t in range(len(self))]
        return Clip(sequence, names, self.images, self.labels, meta=self.metadata())

    def write(
        self,
        root: str | os.PathLike[str],
        sequence: str = "textured",
        *,
        split: str | Sequence[str] | None = None,
        gt_gaps: Sequence[int] = (1, -1),
    ) -> Path:
        """Write the clip as a DAVIS-style sequence tree, with its exact flow in the ``gt`` flow cache.

        Frames go to ``JPEGImages/<sequence>/`` (PNG), labels to ``Annotations/<sequence>/``, metadata
        to ``meta/<sequence>.json``; the exact flow of every gap in ``gt_gaps`` to
        ``flows/gt/Flows_gap<k>/<sequence>/<frame>.flo`` (see :mod:`spelke.motion.cache`).

        Returns:
            The root folder.
        """
        from spelke.data.datasets.davis_tree import write_sequence_tree
        from spelke.motion.cache import update_manifest, write_flow

        root_p = Path(root)
        write_sequence_tree(root_p, sequence, self.images, self.labels, self.metadata(), split=split)
        gaps = [int(g) for g in gt_gaps]
        for g in gaps:
            for t in range(len(self)):
                if 0 <= t + g < len(self):
                    write_flow(root_p, "gt", g, sequence, t, self.flow(t, t + g))
        if gaps:
            update_manifest(
                root_p,
                "gt",
                backend="gt",
                version="spelke.synth.textured_motion",
                gaps=gaps,
                sequences={
                    sequence: {
                        "size": list(self.size),
                        "frames": len(self),
                        "motion": self.motion,
                        "seed": self.seed,
                    }
                },
            )
        return root_p


def make_textured_video(
    frames: int = 8,
    size: tuple[int, int] = (64, 96),
    objects: int | tuple[int, int] = 2,
    motion: str = "translate",
    max_speed: float = 2.0,
    seed: int = 0,
    *,
    min_speed: float = 0.5,
    background_speed: float = 0.5,
    max_rotation: float = 2.0,
    max_scale_rate: float = 0.01,
    radius: tuple[float, float] = (0.14, 0.24),
) -> TexturedVideo:
    """Generate a clip of textured objects moving over a moving textured background.

    Args:
        frames: number of frames T (>= 2).
        size: ``(H, W)``, each at least 16.
        objects: number of objects K, or an inclusive ``(min, max)`` range sampled uniformly.
        motion: ``"translate"`` (constant sub-pixel velocities) or ``"affine"`` (translation plus a
            slow rotation and scaling about the object's centre).
        max_speed: largest object speed in pixels per frame.
        seed: seed of every random choice; the same arguments give the same clip.
        min_speed: smallest speed of an object *relative to the background*, so that every object is
            separable by motion.
        background_speed: largest background (camera pan) speed in pixels per frame; its speed is
            drawn uniformly from ``[0, background_speed]``. 0 gives a static background.
        max_rotation: largest rotation speed in degrees per frame (``motion="affine"``).
        max_scale_rate: largest relative scale change per frame (``motion="affine"``); the total
            scale change over the clip is capped at ±20 %.
        radius: range of object radii as fractions of ``min(H, W)``.

    Returns:
        A :class:`TexturedVideo`.

    Raises:
        ConfigError: for impossible settings.
    """
    if frames < 2:
        raise ConfigError(f"frames must be at least 2 to define motion, got {frames}")
    h, w = (int(s) for s in size)
    if h < 16 or w < 16:
        raise ConfigError(f"size must be at least 16x16, got {h}x{w}")
    if motion not in ("translate", "affine"):
        raise ConfigError(f"motion must be 'translate' or 'affine', got {motion!r}")
    if not 0 <= min_speed <= max_speed:
        raise ConfigError(
            f"need 0 <= min_speed <= max_speed, got min_speed={min_speed}, max_speed={max_speed}"
        )
    if background_speed < 0:
        raise ConfigError(f"background_speed must be >= 0, got {background_speed}")
    rng = np.random.default_rng(seed)
    k = int(objects) if isinstance(objects, int) else int(rng.integers(objects[0], objects[1] + 1))
    if k < 0:
        raise ConfigError(f"objects must be >= 0, got {k}")

    bg_base = rng.uniform(0.3, 0.7, 3)
    bg_speed = rng.uniform(0.0, background_speed)
    bg_dir = rng.uniform(0, 2 * math.pi)
    bg_vel = (bg_speed * math.cos(bg_dir), bg_speed * math.sin(bg_dir))
    background = MovingSurface(
        0, "plane", 0.0, 1.0, (0.0, 0.0), bg_vel, 0.0, 0.0, 0.0, _texture(rng, h, w, bg_base)
    )

    span = frames - 1
    colours = [bg_base]
    objs: list[MovingSurface] = []
    for i in range(k):
        r = float(rng.uniform(*radius) * min(h, w))
        aspect = float(rng.uniform(0.7, 1.0))
        shape = SHAPES[int(rng.integers(0, len(SHAPES)))]
        # velocity: speed in [min_speed, max_speed] relative to the background, absolute speed capped
        for _ in range(100):
            speed = rng.uniform(min_speed, max_speed)
            a = rng.uniform(0, 2 * math.pi)
            v = np.array([speed * math.cos(a), speed * math.sin(a)])
            if np.linalg.norm(v - np.array(bg_vel)) >= min_speed:
                break
        # keep the centre's straight path inside the frame with a margin of 0.6 radius; slow the
        # object down if the clip is too long for its path to fit
        margin = 0.6 * r
        room = np.array([w - 1 - 2 * margin, h - 1 - 2 * margin])
        travel = np.abs(v) * span
        shrink = float(np.min(np.where(travel > 0, np.maximum(room, 0) / np.maximum(travel, 1e-12), np.inf)))
        if shrink < 1.0:
            v = v * shrink
        lo = np.array([margin, margin]) - np.minimum(v * span, 0)
        hi = np.array([w - 1 - margin, h - 1 - margin]) - np.maximum(v * span, 0)
        # start apart from the objects already placed (overlapping by at most a quarter of the radii)
        # so that no object starts hidden; occlusions still happen where paths cross
        for _ in range(50):
            c0 = rng.uniform(lo, np.maximum(hi, lo))
            if all(np.hypot(*(c0 - np.array(o.centre))) >= 0.75 * (r + o.radius) for o in objs):
                break
        if motion == "affine":
            omega = math.radians(rng.uniform(-max_rotation, max_rotation))
            cap = math.log(1.2) / span
            sigma = float(np.clip(rng.uniform(-max_scale_rate, max_scale_rate), -cap, cap))
        else:
            omega, sigma = 0.0, 0.0
        base = _base_colour(rng, colours)
        colours.append(base)
        side = max(32, 2 ** math.ceil(math.log2(2.6 * r + 8)))
        objs.append(
            MovingSurface(
                i + 1,
                shape,
                r,
                aspect,
                (float(c0[0]), float(c0[1])),
                (float(v[0]), float(v[1])),
                float(rng.uniform(0, 2 * math.pi)),
                omega,
                sigma,
                _texture(rng, side, side, base),
            )
        )
    depth = [int(d) + 1 for d in rng.permutation(k)]

    video = TexturedVideo(
        images=np.empty((frames, 3, h, w), np.float32),
        labels=np.empty((frames, h, w), np.int64),
        background=background,
        objects=objs,
        depth_order=depth,
        motion=motion,
        seed=int(seed),
    )
    grid = video._grid().reshape(-1, 2)
    for t in range(frames):
        lab = video.label_at(t, grid)
        img = np.empty((3, h * w), np.float32)
        for kk in [0, *depth]:
            sel = lab == kk
            if not sel.any():
                continue
            surf = video.surface(kk)
            inv = np.linalg.inv(surf.pose(t))
            u = grid[sel] @ inv[:2, :2].T + inv[:2, 2]
            img[:, sel] = _sample_periodic(surf.texture, u)
        video.images[t] = np.clip(img, 0.0, 1.0).reshape(3, h, w)
        video.labels[t] = lab.reshape(h, w)
    return video
