"""Long-range point tracks: the :class:`Tracks` type, the tracker registry, and flow chaining.

A tracker follows a grid of query points of one frame (the *query frame*) forwards and backwards
through a window of frames and returns :class:`Tracks` in the layout of the track cache
(docs/contracts.md): ``xy`` float32 ``(T, N, 2)`` pixel positions (x, y), ``vis`` bool ``(T, N)``,
``t`` int ``(T,)`` frame offsets from the query frame, ``size`` ``(H, W)``. Pixel centres sit at
integer coordinates (the flow convention of :mod:`spelke.motion.consistency`).

The defaults are LRTL's trajectory extraction (thesis Sec. 5.5 and App. E.5.2; spec A3.4):

* queries on every 4th pixel of the query frame (``stride=4``), the first at ``(stride // 2,
  stride // 2)`` — the grid of :meth:`spelke.synth.textured_motion.TexturedVideo.query_points`;
* a context of ``window=20`` frames on each side, with **reflection padding** at the ends of the video,
  so every query frame gets ``T = 2 * window + 1 = 41`` rows (``padding="none"`` truncates instead);
  row ``i`` shows frame ``query_frame + t[i]``, and with padding ``t`` repeats frames (reflected);
* positions smoothed along time by a box (moving-average) filter of width 11 (``smooth=11``, 0 = off);
* tracks are visible in their query frame; positions are kept where a point is hidden (LRTL puts
  occluded positions into its track matrix).

Registered trackers (:func:`list_trackers`): ``flow-chain`` (:class:`FlowChainTracker`, the CPU default:
chaining optical flow with forward-backward checks) and ``cotracker`` (:mod:`spelke.motion.cotracker`,
LRTL's tracker; needs the non-commercial ``co-tracker`` package and a local checkpoint).

Examples:
    >>> from spelke.synth.textured_motion import make_textured_video
    >>> video = make_textured_video(frames=6, size=(32, 48), seed=0)
    >>> tracker = create_tracker("flow-chain", stride=8, window=2, smooth=0)
    >>> tr = tracker.track(video.images, query_frame=0, flows=lambda t, g: video.flow(t, t + g))
    >>> tr.xy.shape, tr.t.tolist(), bool(tr.vis[tr.query_index].all())
    ((5, 24, 2), [2, 1, 0, 1, 2], True)
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from spelke import __version__
from spelke.errors import ConfigError, FileFormatError, ShapeError
from spelke.motion.backends import FlowBackend, as_float, as_int, as_rgb_frame, create_flow_backend
from spelke.motion.consistency import FB_ALPHA, FB_BETA, bilinear_sample, fb_consistent
from spelke.registry import Registry

__all__ = [
    "AFTER_LOSS",
    "PADDINGS",
    "PHOTOMETRIC_STEP",
    "SMOOTH_MODES",
    "TRACKERS",
    "FlowChainTracker",
    "FlowSource",
    "Tracker",
    "Tracks",
    "create_tracker",
    "flow_cache_info",
    "list_trackers",
    "load_tracks",
    "padded_frame_indices",
    "query_grid",
    "register_tracker",
    "save_tracks",
    "smooth_tracks",
    "tracker_class",
]

#: Every tracker: name -> class taking keyword options.
TRACKERS: Registry[Any] = Registry("tracker")

#: How the window is completed at the ends of a video (see :func:`padded_frame_indices`).
PADDINGS = ("reflect", "symmetric", "none")
#: How the box filter treats the first and last rows (see :func:`smooth_tracks`).
SMOOTH_MODES = ("odd", "reflect")
#: Where :class:`FlowChainTracker` puts a point after it is lost (see the class).
AFTER_LOSS = ("velocity", "hold", "flow")
#: Default largest per-step colour change of :class:`FlowChainTracker` (mean |ΔRGB| in [0, 1], ~13/255).
PHOTOMETRIC_STEP = 0.05

#: Flow ``F_{t -> t+gap}`` on demand: ``flows(t, gap)`` -> float32 (2, H, W).
FlowFn = Callable[[int, int], np.ndarray]

C = TypeVar("C", bound=type)


# --------------------------------------------------------------------------------------------------
# The tracks type and its file format
# --------------------------------------------------------------------------------------------------


@dataclass
class Tracks:
    """Point tracks of one query frame, in the track cache's layout.

    Attributes:
        xy: float32 ``(T, N, 2)`` pixel positions (x, y) in the frame of each row, also where hidden.
        vis: bool ``(T, N)``: the point is inside the frame and not occluded.
        t: int64 ``(T,)``: row ``i`` shows frame ``query_frame + t[i]`` (with reflection padding frames
            repeat, so ``t`` need not be monotonic).
        size: ``(H, W)`` of the frames the positions refer to.
        query_frame: index of the query frame in its sequence.
        query_index: the row of the query frame itself (``window`` when padded).
        query: float32 ``(N, 2)``: the query points as asked (before smoothing moved them).
    """

    xy: np.ndarray
    vis: np.ndarray
    t: np.ndarray
    size: tuple[int, int]
    query_frame: int = 0
    query_index: int = 0
    query: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.xy = np.asarray(self.xy, np.float32)
        self.vis = np.asarray(self.vis, bool)
        self.t = np.asarray(self.t, np.int64)
        if self.xy.ndim != 3 or self.xy.shape[2] != 2:
            raise ShapeError(f"tracks xy must have shape (T, N, 2), got {self.xy.shape}")
        if self.vis.shape != self.xy.shape[:2]:
            raise ShapeError(f"tracks vis must have shape (T, N) = {self.xy.shape[:2]}, got {self.vis.shape}")
        if self.t.shape != (self.xy.shape[0],):
            raise ShapeError(f"tracks t must have shape (T,) = ({self.xy.shape[0]},), got {self.t.shape}")
        self.size = (int(self.size[0]), int(self.size[1]))
        self.query_frame, self.query_index = int(self.query_frame), int(self.query_index)
        if not 0 <= self.query_index < len(self.t):
            raise ShapeError(f"query_index {self.query_index} is outside the {len(self.t)} rows")
        if self.query is None:
            self.query = self.xy[self.query_index].copy()
        self.query = np.asarray(self.query, np.float32)
        if self.query.shape != (self.xy.shape[1], 2):
            raise ShapeError(
                f"tracks query must have shape (N, 2) = ({self.xy.shape[1]}, 2), got {self.query.shape}"
            )

    @property
    def frames(self) -> np.ndarray:
        """int64 ``(T,)``: the sequence frame index of each row (``query_frame + t``)."""
        return self.query_frame + self.t

    def __len__(self) -> int:
        return int(self.xy.shape[1])

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays stored in a track-cache ``.npz`` file (contract keys first)."""
        return {
            "xy": self.xy,
            "vis": self.vis,
            "t": self.t,
            "size": np.asarray(self.size, np.int64),
            "query_frame": np.asarray(self.query_frame, np.int64),
            "query_index": np.asarray(self.query_index, np.int64),
            "query": np.asarray(self.query, np.float32),
        }


#: Keys every track file holds (docs/contracts.md); the others are spelke additions.
REQUIRED_KEYS = ("xy", "vis", "t", "size")


def save_tracks(path: str | os.PathLike[str], tracks: Tracks) -> Path:
    """Write tracks to an ``.npz`` file atomically (uncompressed: positions hardly compress)."""
    from spelke.data.io import atomic_write

    p = Path(path)
    with atomic_write(p) as f:
        np.savez(f, **tracks.arrays())
    return p


def load_tracks(path: str | os.PathLike[str]) -> Tracks:
    """Read an ``.npz`` track file (any file with the contract keys ``xy``, ``vis``, ``t``, ``size``).

    Raises:
        FileFormatError: not a readable ``.npz`` or a contract key is missing.
    """
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as e:
        raise FileFormatError(f"cannot read tracks from {p}: {e}") from None
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise FileFormatError(
            f"{p} is not a track file: it lacks {', '.join(missing)} (a track file holds xy (T, N, 2), "
            "vis (T, N), t (T,) and size (H, W))"
        )
    t = data["t"]
    q_index = int(data["query_index"]) if "query_index" in data else int(np.flatnonzero(t == 0)[0])
    return Tracks(
        xy=data["xy"],
        vis=data["vis"],
        t=t,
        size=tuple(int(v) for v in data["size"]),  # type: ignore[arg-type]
        query_frame=int(data.get("query_frame", 0)),
        query_index=q_index,
        query=data.get("query"),
    )


# --------------------------------------------------------------------------------------------------
# Shared pieces: query grid, padding, smoothing
# --------------------------------------------------------------------------------------------------


def query_grid(size: tuple[int, int], stride: int) -> np.ndarray:
    """Query points every ``stride`` pixels, float32 ``(N, 2)`` (x, y), row by row.

    The first sits at ``(stride // 2, stride // 2)`` so the grid is centred in its cells (as
    :meth:`~spelke.synth.textured_motion.TexturedVideo.query_points`); ``stride=4`` is LRTL's "every
    4th-pixel coordinate" (A3.4).
    """
    if stride < 1:
        raise ConfigError(f"stride must be >= 1, got {stride}")
    h, w = size
    ys, xs = np.mgrid[stride // 2 : h : stride, stride // 2 : w : stride]
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


def padded_frame_indices(
    query_frame: int, num_frames: int, window: int, padding: str = "reflect"
) -> tuple[np.ndarray, int]:
    """Frame index of every row of a query frame's window, and the row of the query frame.

    Args:
        query_frame: the query frame ``q``.
        num_frames: frames in the video.
        window: frames on each side (LRTL's context ``f = 20``).
        padding: ``"reflect"`` mirrors at the end frames without repeating them (``..., n-2, n-1,
            n-2, ...``; NumPy's ``reflect``), ``"symmetric"`` repeats them (``n-1, n-1, n-2``), so both
            give ``2 * window + 1`` rows; ``"none"`` keeps only the frames that exist.

    Returns:
        ``(frames, query_index)``: int64 frame indices and the row holding ``q``.

    Examples:
        >>> padded_frame_indices(4, 6, 3)[0].tolist()
        [1, 2, 3, 4, 5, 4, 3]
        >>> padded_frame_indices(4, 6, 3, "none")
        (array([1, 2, 3, 4, 5]), 3)
    """
    n, q, w = int(num_frames), int(query_frame), int(window)
    if padding not in PADDINGS:
        raise ConfigError(f"padding must be one of {', '.join(PADDINGS)}; got {padding!r}")
    if n < 1:
        raise ConfigError("a video needs at least one frame to track in")
    if not 0 <= q < n:
        raise ConfigError(f"query frame {q} is outside the video's frames 0..{n - 1}")
    if w < 0:
        raise ConfigError(f"window must be >= 0 frames on each side, got {w}")
    offsets = np.arange(q - w, q + w + 1, dtype=np.int64)
    if padding == "none":
        keep = (offsets >= 0) & (offsets < n)
        return offsets[keep], int(q - offsets[keep][0])
    if n == 1:
        return np.zeros_like(offsets), w
    if padding == "reflect":
        period = 2 * (n - 1)
        i = np.mod(offsets, period)
        return np.where(i > n - 1, period - i, i), w
    period = 2 * n
    i = np.mod(offsets, period)
    return np.where(i >= n, period - 1 - i, i), w


def smooth_tracks(xy: np.ndarray, width: int, mode: str = "odd") -> np.ndarray:
    """Box (moving-average) filter of odd ``width`` along time (axis 0) of ``xy`` ``(T, ...)``.

    LRTL smooths its tracks with "an average filter" of window size 11 (thesis Sec. 5.5; spec A3.4)
    and leaves the ends open. ``mode="odd"`` (default) extends the rows past each end by point
    reflection (``x[-k] = 2 x[0] - x[k]``, NumPy's ``reflect_type="odd"``), which keeps straight,
    constant-velocity tracks exactly as they are; ``mode="reflect"`` mirrors them (``x[-k] = x[k-1]``,
    SciPy's ``uniform_filter1d`` default), which pulls the ends towards the inside. The filter is one
    linear map applied to every track, so it never raises the rank of the track matrix.

    Args:
        xy: float array, time first.
        width: odd filter width; 0 or 1 returns a copy.
        mode: ``"odd"`` or ``"reflect"``.

    Returns:
        float32 array of the shape of ``xy``.
    """
    a = np.asarray(xy, np.float64)
    width = int(width)
    if width < 0 or (width > 1 and width % 2 == 0):
        raise ConfigError(f"smooth must be 0 (off) or an odd filter width (11 in LRTL), got {width}")
    if mode not in SMOOTH_MODES:
        raise ConfigError(f"smooth_mode must be one of {', '.join(SMOOTH_MODES)}; got {mode!r}")
    if width <= 1 or a.shape[0] < 2:
        return a.astype(np.float32)
    h = width // 2
    pad = [(h, h)] + [(0, 0)] * (a.ndim - 1)
    if mode == "odd":
        padded = np.pad(a, pad, mode="reflect", reflect_type="odd")
    else:
        padded = np.pad(a, pad, mode="symmetric")
    c = np.cumsum(padded, axis=0)
    c = np.concatenate([np.zeros_like(c[:1]), c], axis=0)
    return ((c[width:] - c[:-width]) / width).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------


def register_tracker(
    name: str, aliases: tuple[str, ...] = (), summary: str | None = None
) -> Callable[[C], C]:
    """Class decorator registering a :class:`Tracker` subclass under ``name``."""

    def deco(cls: C) -> C:
        cls.name = name  # type: ignore[attr-defined]
        TRACKERS.add(name, cls, aliases=aliases, summary=summary)
        return cls

    return deco


def _ensure_builtin() -> None:
    # The CoTracker adapter registers itself on import; it imports co-tracker only when created.
    import spelke.motion.cotracker  # noqa: F401


def list_trackers(pattern: str = "*") -> list[str]:
    """Registered tracker names matching a glob pattern, sorted."""
    _ensure_builtin()
    return TRACKERS.list(pattern)


def tracker_class(name: str) -> type[Tracker]:
    """The class registered under ``name`` (or an alias)."""
    _ensure_builtin()
    return TRACKERS.get(name)


def create_tracker(name: str, /, **options: Any) -> Tracker:
    """Create a registered tracker by name.

    Args:
        name: ``flow-chain``, ``cotracker`` (:func:`list_trackers`).
        **options: the tracker's options; strings from the command line (``"4"``, ``"none"``) are
            converted.

    Raises:
        NotRegisteredError: unknown name (the message suggests close names).
        ConfigError: an option the tracker does not have, or a bad value.
    """
    _ensure_builtin()
    cls = TRACKERS.get(name)
    params = inspect.signature(cls).parameters
    unknown = [k for k in options if k not in params]
    if unknown:
        accepted = ", ".join(params) or "none"
        raise ConfigError(
            f"tracker '{TRACKERS.canonical(name)}' has no option {', '.join(repr(u) for u in unknown)}; "
            f"its options are: {accepted}"
        )
    return cls(**options)


# --------------------------------------------------------------------------------------------------
# Base class
# --------------------------------------------------------------------------------------------------


def _short_hash(obj: Any) -> str:
    """Six hex digits identifying a JSON-serialisable value (sorted keys, so stable across runs)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:6]


def _frame_count(frames: Any, num_frames: int | None) -> int:
    if num_frames is not None:
        return int(num_frames)
    if frames is None:
        raise ConfigError("give the frames, or num_frames together with flows")
    return len(frames)


class Tracker:
    """Base class of trackers: subclasses implement :meth:`_track` on the rows of one window.

    Args:
        stride: query grid spacing in pixels (LRTL: 4).
        window: frames tracked on each side of the query frame (LRTL: 20).
        padding: ``"reflect"`` (LRTL), ``"symmetric"`` or ``"none"`` (:func:`padded_frame_indices`).
        smooth: box filter width along time, odd; 0 turns it off (LRTL: 11).
        smooth_mode: ``"odd"`` or ``"reflect"`` (:func:`smooth_tracks`).

    Attributes:
        name: the registered name.
        version: what produced the tracks (recorded in cache manifests).
        needs_flow: whether :meth:`track` reads optical flow (``flows=``).
        needs_frames: whether :meth:`track` reads the frames.
    """

    name: ClassVar[str] = ""
    needs_flow: ClassVar[bool] = False
    needs_frames: ClassVar[bool] = True

    def __init__(
        self,
        stride: int | str = 4,
        window: int | str = 20,
        padding: str = "reflect",
        smooth: int | str = 11,
        smooth_mode: str = "odd",
    ) -> None:
        self.stride = as_int(stride, "stride", minimum=1)
        self.window = as_int(window, "window", minimum=0)
        if padding not in PADDINGS:
            raise ConfigError(f"padding must be one of {', '.join(PADDINGS)}; got {padding!r}")
        self.padding = padding
        self.smooth = as_int(smooth, "smooth", minimum=0)
        if self.smooth > 1 and self.smooth % 2 == 0:
            raise ConfigError(f"smooth must be 0 (off) or an odd filter width (LRTL: 11), got {self.smooth}")
        if smooth_mode not in SMOOTH_MODES:
            raise ConfigError(f"smooth_mode must be one of {', '.join(SMOOTH_MODES)}; got {smooth_mode!r}")
        self.smooth_mode = smooth_mode
        self.version = f"spelke {__version__}"

    @property
    def options(self) -> dict[str, Any]:
        """The resolved options (JSON-serialisable), recorded in cache manifests."""
        return {
            "stride": self.stride,
            "window": self.window,
            "padding": self.padding,
            "smooth": self.smooth,
            "smooth_mode": self.smooth_mode,
        }

    def describe(self) -> dict[str, Any]:
        """``{"tracker", "version", "options"}``: what a track cache manifest records."""
        return {"tracker": self.name, "version": self.version, "options": dict(self.options)}

    #: Options named in the tag itself (the others enter through a hash when they are not the defaults).
    _TAG_CORE: ClassVar[tuple[str, ...]] = ("stride", "window", "padding", "smooth", "smooth_mode")

    def tag_prefix(self) -> str:
        """What the tag starts with by default (the flow's name for flow trackers; set by the caller)."""
        return ""

    def non_default_options(self) -> dict[str, Any]:
        """The options outside the tag's readable part that differ from the class's defaults."""
        params = inspect.signature(type(self).__init__).parameters
        out = {}
        for k, v in self.options.items():
            if k in self._TAG_CORE:
                continue
            p = params.get(k)
            default = p.default if p is not None else inspect.Parameter.empty
            if default is None and v in (None, {}, ""):
                continue
            if default is inspect.Parameter.empty or v != default:
                out[k] = v
        return out

    def config_tag(self, prefix: str | None = None) -> str:
        """A folder name for these settings, e.g. ``dis-s4-w20-reflect-box11`` (``box0`` = no smoothing).

        Options beyond stride, window, padding and smoothing that differ from the defaults add a short
        hash (``-o1a2b3c``), so that different settings never share a folder.

        Args:
            prefix: what the tag starts with; None: :meth:`tag_prefix`.
        """
        prefix = self.tag_prefix() if prefix is None else prefix
        tag = f"s{self.stride}-w{self.window}-{self.padding}-box{self.smooth}"
        if self.smooth > 1 and self.smooth_mode != "odd":
            tag += f"{self.smooth_mode}"
        extra = self.non_default_options()
        if extra:
            tag += "-o" + _short_hash(extra)
        return f"{prefix}-{tag}" if prefix else tag

    def track(
        self,
        frames: Sequence[Any] | np.ndarray | None,
        query_frame: int,
        *,
        flows: FlowFn | None = None,
        num_frames: int | None = None,
    ) -> Tracks:
        """Track the query grid of ``query_frame`` through its window.

        Args:
            frames: the video, float ``(T, 3, H, W)`` in [0, 1] or a sequence of ``(3, H, W)`` frames
                (read lazily, only the window's). May be None for flow-only trackers given ``flows``
                and ``num_frames``.
            query_frame: index of the query frame.
            flows: ``flows(t, gap)`` -> the flow from frame ``t`` to ``t + gap`` (``gap`` = ±1), e.g. a
                :class:`FlowSource` over the flow cache; None lets a flow tracker compute it.
            num_frames: the video length when ``frames`` is None.

        Returns:
            :class:`Tracks` with ``2 * window + 1`` rows (fewer with ``padding="none"``).
        """
        n = _frame_count(frames, num_frames)
        rows, q_index = padded_frame_indices(query_frame, n, self.window, self.padding)
        xy, vis, size = self._track(frames, int(query_frame), rows, q_index, flows, n)
        query = np.asarray(xy[q_index], np.float32).copy()
        vis = np.asarray(vis, bool).copy()
        vis[q_index] = True  # LRTL: tracks are queried in, so visible in, the query frame
        if self.smooth > 1:
            xy = smooth_tracks(xy, self.smooth, self.smooth_mode)
        return Tracks(xy, vis, rows - int(query_frame), size, int(query_frame), q_index, query)

    def track_video(
        self,
        frames: Sequence[Any] | np.ndarray | None,
        query_frames: Sequence[int] | None = None,
        *,
        flows: FlowFn | None = None,
        num_frames: int | None = None,
    ) -> list[Tracks]:
        """:meth:`track` for several query frames (default: every frame), sharing computed flow."""
        n = _frame_count(frames, num_frames)
        qs = range(n) if query_frames is None else query_frames
        flows = self._shared_flows(frames, flows)
        return [self.track(frames, q, flows=flows, num_frames=n) for q in qs]

    def _shared_flows(self, frames: Any, flows: FlowFn | None) -> FlowFn | None:
        return flows

    def _track(
        self, frames: Any, query_frame: int, rows: np.ndarray, query_index: int, flows: FlowFn | None, n: int
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        """Raw ``(xy (T, N, 2), vis (T, N), size)`` of the rows (frame indices ``rows``)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({opts})"


# --------------------------------------------------------------------------------------------------
# Flow on demand
# --------------------------------------------------------------------------------------------------


class FlowSource:
    """``flows(t, gap)`` with a small memory: computed by a backend from frames, or read from the cache.

    Tracking every frame of a video with a window of ``w`` frames needs each flow about ``2 w`` times;
    the memory (least recently used, ``max_items`` flows) makes that one computation or read each when
    query frames are visited in order.

    Examples:
        >>> from spelke.synth.textured_motion import make_textured_video
        >>> video = make_textured_video(frames=3, size=(32, 48), seed=0)
        >>> flows = FlowSource.from_backend("dis", video.images)
        >>> flows(0, 1).shape
        (2, 32, 48)
    """

    def __init__(self, fn: FlowFn, max_items: int = 128, describe: dict[str, Any] | None = None) -> None:
        self.fn = fn
        self.max_items = max(2, int(max_items))
        self.info: dict[str, Any] = dict(describe or {})
        self._memo: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()

    def __call__(self, t: int, gap: int) -> np.ndarray:
        key = (int(t), int(gap))
        if key in self._memo:
            self._memo.move_to_end(key)
            return self._memo[key]
        f = np.asarray(self.fn(*key), np.float32)
        if f.ndim != 3 or f.shape[0] != 2:
            raise ShapeError(f"flow from frame {t} at gap {gap} must have shape (2, H, W), got {f.shape}")
        self._memo[key] = f
        while len(self._memo) > self.max_items:
            self._memo.popitem(last=False)
        return f

    @classmethod
    def from_backend(
        cls,
        backend: str | FlowBackend,
        frames: Sequence[Any] | np.ndarray,
        max_items: int = 128,
        **options: Any,
    ) -> FlowSource:
        """Flow computed from ``frames`` by a backend object or registered name (with ``options``)."""
        fb = backend if isinstance(backend, FlowBackend) else create_flow_backend(backend, **options)
        n = len(frames)

        def compute(t: int, gap: int) -> np.ndarray:
            if not (0 <= t < n and 0 <= t + gap < n):
                raise ConfigError(f"no flow from frame {t} to {t + gap}: the video has frames 0..{n - 1}")
            return fb(frames[t], frames[t + gap])

        return cls(compute, max_items, {"source": "backend", **fb.describe()})

    @classmethod
    def from_cache(
        cls,
        root: str | os.PathLike[str],
        name: str,
        sequence: str,
        frame_names: Sequence[str] | None = None,
        max_items: int = 128,
    ) -> FlowSource:
        """Flow read from the flow cache ``<root>/flows/<name>`` (:mod:`spelke.motion.cache`).

        ``frame_names`` maps frame indices to the cached file stems (default: ``00000``, ``00001``, ...).
        A missing entry raises :class:`~spelke.errors.DataLayoutError` naming the ``spelke flow``
        command that creates it.
        """
        from spelke.motion.cache import read_flow

        names = list(frame_names) if frame_names is not None else None

        def read(t: int, gap: int) -> np.ndarray:
            frame: int | str = names[t] if names is not None else t
            return read_flow(root, name, gap, sequence, frame)

        return cls(read, max_items, flow_cache_info(root, name))


def flow_cache_info(root: str | os.PathLike[str], name: str) -> dict[str, Any]:
    """Where cached flow came from, for track manifests: the cache name and its manifest's backend,
    version and options (the root is left out so that a moved dataset keeps its manifest valid)."""
    from spelke.motion.cache import read_manifest

    m = read_manifest(root, name)
    info = {"source": "cache", "name": name, "backend": m.get("backend", name)}
    info.update({k: m[k] for k in ("version", "options") if k in m})
    return info


# --------------------------------------------------------------------------------------------------
# Flow chaining
# --------------------------------------------------------------------------------------------------


def _sample(image: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``image`` (C, H, W) at sub-pixel points ``p`` (N, 2), bilinear with border clamping -> (N, C) float64."""
    return bilinear_sample(image, p[:, 0], p[:, 1], "border").T.astype(np.float64)


def _inside(p: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    return (p[:, 0] >= 0) & (p[:, 0] <= w - 1) & (p[:, 1] >= 0) & (p[:, 1] <= h - 1)


@register_tracker("flow-chain", summary="Chained optical flow with forward-backward checks (CPU default)")
class FlowChainTracker(Tracker):
    """Dense point tracks by chaining frame-to-frame optical flow (Sundaram, Brox & Keutzer, ECCV 2010).

    From the query frame, each point steps to the next frame (forwards, then separately backwards) by
    the flow sampled bilinearly at its sub-pixel position, ``p' = p + w`` with ``w = F_{t->t±1}(p)``.
    Each step is checked, and a point that fails a check or whose target leaves the frame is **lost**:
    invisible from that frame on, in that direction.

    * **Forward-backward** (always): the reverse flow at the target, ``b = F_{t±1->t}(p')``, must undo the
      step, ``|w + b|² < alpha (|w|² + |b|²) + beta`` (Sundaram et al. eq. (5),
      :func:`~spelke.motion.consistency.fb_consistent`, with the constants of
      :func:`~spelke.motion.consistency.forward_backward_consistency`).
    * **Photometric** (``photometric=0.05``, 0 = off): the colour must not jump,
      ``mean_c |I_{t±1}(p') - I_t(p)| <= photometric`` (images in [0, 1]). Estimators such as DIS fill
      the region an object is about to cover with the object's own motion, so the covered background
      point is dragged along with the object while forward and backward flow still agree; its colour
      changes from background to object, which this check catches (on the textured fixture it raises the
      share of occluded samples marked invisible from 17 % to 76 %, at the cost of 5 % of the visible
      ones; docs/motion.md).
    * **Motion boundary** (``boundary=0`` = off; Sundaram's value is 0.002): stop where the flow varies
      fast, ``|∇u|² + |∇v|² > 0.01 |w|² + boundary`` (Sundaram et al. eq. (6)); derivatives by central
      differences of the flow sampled one pixel around the point.

    A lost point never becomes visible again: flow cannot tell which pixel it is when it re-appears
    (LRTL's CoTracker re-detects points; docs/fidelity.md). Lost points keep a position, because LRTL puts
    hidden positions into its track matrix (``after_loss``): ``"velocity"`` (default) continues with the
    point's last accepted step (a good guess for a short occlusion or an exit through the border; a
    point lost at its first step uses that step's flow); ``"hold"`` freezes it at its last visible
    position; ``"flow"`` keeps following the flow at its position (which is the occluder's motion).

    Args:
        stride, window, padding, smooth, smooth_mode: see :class:`Tracker` (LRTL's defaults).
        backend: flow backend used when :meth:`track` is given no ``flows`` (name or object).
        backend_options: options of a named backend.
        alpha, beta: the forward-backward criterion's constants.
        photometric: largest per-step colour change (mean absolute difference over RGB in [0, 1]); 0 = off.
            Needs the frames.
        boundary: the motion-boundary criterion's constant; 0 = off.
        after_loss: ``"velocity"``, ``"hold"`` or ``"flow"``.
    """

    needs_flow = True

    def __init__(
        self,
        stride: int | str = 4,
        window: int | str = 20,
        padding: str = "reflect",
        smooth: int | str = 11,
        smooth_mode: str = "odd",
        backend: str | FlowBackend = "dis",
        backend_options: dict[str, Any] | None = None,
        alpha: float | str = FB_ALPHA,
        beta: float | str = FB_BETA,
        photometric: float | str = PHOTOMETRIC_STEP,
        boundary: float | str = 0.0,
        after_loss: str = "velocity",
    ) -> None:
        super().__init__(stride, window, padding, smooth, smooth_mode)
        self.backend = backend
        self.backend_options = dict(backend_options or {})
        self.alpha = as_float(alpha, "alpha", minimum=0.0)
        self.beta = as_float(beta, "beta", minimum=0.0)
        self.photometric = as_float(photometric, "photometric", minimum=0.0)
        self.boundary = as_float(boundary, "boundary", minimum=0.0)
        if after_loss not in AFTER_LOSS:
            raise ConfigError(f"after_loss must be one of {', '.join(AFTER_LOSS)}; got {after_loss!r}")
        self.after_loss = after_loss
        # The photometric check reads the frames; without it the tracker runs on flow alone.
        self.needs_frames = self.photometric > 0  # type: ignore[misc]
        self._backend_obj: FlowBackend | None = backend if isinstance(backend, FlowBackend) else None

    @property
    def options(self) -> dict[str, Any]:
        # The flow's provenance is recorded beside the options (the manifest's "flow"), not here.
        return {
            **super().options,
            "alpha": self.alpha,
            "beta": self.beta,
            "photometric": self.photometric,
            "boundary": self.boundary,
            "after_loss": self.after_loss,
        }

    def flow_backend(self) -> FlowBackend:
        """The flow backend used when no ``flows`` are given (created once)."""
        if self._backend_obj is None:
            self._backend_obj = create_flow_backend(str(self.backend), **self.backend_options)
        return self._backend_obj

    def _shared_flows(self, frames: Any, flows: FlowFn | None) -> FlowFn | None:
        if flows is None:
            if frames is None:
                raise ConfigError("the flow-chain tracker needs flows=... or the frames to compute flow from")
            return FlowSource.from_backend(self.flow_backend(), frames, max_items=4 * (self.window + 2))
        return flows

    def _track(
        self, frames: Any, query_frame: int, rows: np.ndarray, query_index: int, flows: FlowFn | None, n: int
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        if frames is not None:
            size = tuple(as_rgb_frame(frames[query_frame], f"frame {query_frame}").shape[1:])
        elif self.photometric > 0:
            raise ConfigError(
                "the flow-chain tracker's photometric check reads the frames: pass them, or photometric=0"
            )
        elif flows is not None and n > 1:
            size = tuple(flows(query_frame, 1 if query_frame + 1 < n else -1).shape[1:])
        else:
            raise ConfigError("the flow-chain tracker needs the frames (or flows and num_frames > 1)")
        size = (int(size[0]), int(size[1]))
        p0 = query_grid(size, self.stride).astype(np.float64)
        if n == 1:  # nothing to chain: the points stay where they were asked
            return np.repeat(p0[None], len(rows), 0), np.ones((len(rows), len(p0)), bool), size
        flows = self._shared_flows(frames, flows)
        assert flows is not None
        pos: dict[int, np.ndarray] = {query_frame: p0}
        seen: dict[int, np.ndarray] = {query_frame: np.ones(len(p0), bool)}
        for step, end in ((1, int(rows.max())), (-1, int(rows.min()))):
            self._chain(frames, flows, p0, query_frame, end, step, size, pos, seen)
        xy = np.stack([pos[int(f)] for f in rows])
        vis = np.stack([seen[int(f)] for f in rows])
        return xy, vis, size

    def _with_frame(self, flow: np.ndarray, frames: Any, t: int) -> np.ndarray:
        """The flow with frame ``t``'s RGB stacked under it when the photometric check needs colours:
        one bilinear gather then serves both (the sampling dominates the tracker's time)."""
        if self.photometric <= 0:
            return flow
        return np.concatenate([flow, as_rgb_frame(frames[t], f"frame {t}")])

    def _checks(
        self,
        frames: Any,
        flows: FlowFn,
        t: int,
        step: int,
        p: np.ndarray,
        at_p: np.ndarray,
        size: tuple[int, int],
    ) -> np.ndarray:
        """Which of the points ``p`` (in frame ``t``) pass every check; ``at_p`` holds their step ``w``
        (columns 0-1) and, with the photometric check, their colour in frame ``t`` (columns 2-4)."""
        w = at_p[:, :2]
        target = p + w
        ok = _inside(target, size)
        at_target = _sample(self._with_frame(flows(t + step, -step), frames, t + step), target)
        ok &= fb_consistent(w.T, at_target[:, :2].T, self.alpha, self.beta)  # Sundaram et al. eq. (5)
        if self.photometric > 0:
            ok &= np.abs(at_p[:, 2:] - at_target[:, 2:]).mean(1) <= self.photometric
        if self.boundary > 0:
            fw = flows(t, step)
            ex, ey = np.array([1.0, 0.0]), np.array([0.0, 1.0])
            dx = (_sample(fw, p + ex) - _sample(fw, p - ex)) / 2
            dy = (_sample(fw, p + ey) - _sample(fw, p - ey)) / 2
            grad = (dx**2).sum(1) + (dy**2).sum(1)
            ok &= grad <= 0.01 * (w**2).sum(1) + self.boundary  # Sundaram et al. eq. (6)
        return ok

    def _chain(
        self,
        frames: Any,
        flows: FlowFn,
        p0: np.ndarray,
        start: int,
        end: int,
        step: int,
        size: tuple[int, int],
        pos: dict[int, np.ndarray],
        seen: dict[int, np.ndarray],
    ) -> None:
        """Follow the points from frame ``start`` to ``end`` in steps of ``step`` (±1)."""
        p = p0.copy()
        alive = np.ones(len(p), bool)
        velocity = np.zeros_like(p)  # each point's last accepted step (its motion when lost)
        moved = np.zeros(len(p), bool)  # whether it has one
        for t in range(start, end, step):
            fw = flows(t, step)
            if fw.shape[1:] != size:
                raise ShapeError(f"flow from frame {t} is {fw.shape[1:]} but the frames are {size}")
            move = np.zeros_like(p)
            idx = np.flatnonzero(alive) if self.after_loss != "flow" else np.arange(len(p))
            if idx.size:
                at_p = _sample(self._with_frame(fw, frames, t) if alive.any() else fw, p[idx])
                w = at_p[:, :2]
                move[idx] = w
                live = alive[idx]
                check, w_live = idx[live], w[live]
                if check.size:
                    ok = self._checks(frames, flows, t, step, p[check], at_p[live], size)
                    lost, kept = check[~ok], check[ok]
                    alive[lost] = False
                    first = lost[~moved[lost]]  # lost at its first step: its own flow is all we know
                    velocity[first] = w_live[~ok][~moved[lost]]
                    velocity[kept] = w_live[ok]
                    moved[kept] = True
            dead = ~alive
            if self.after_loss == "velocity":
                move[dead] = velocity[dead]
            elif self.after_loss == "hold":
                move[dead] = 0.0
            p = p + move
            pos[t + step] = p.copy()
            seen[t + step] = alive.copy()
