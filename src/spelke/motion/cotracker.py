"""CoTracker behind spelke's tracker interface: LRTL's trajectory extraction (registered as ``cotracker``).

LRTL (thesis Sec. 5.5, App. E.5.2; spec A3.4) tracks with CoTracker v2 (Karaev et al., "CoTracker: It
is Better to Track Together", 2024): for every frame, a chunk of ``2 * 20 + 1`` frames around it
(reflection padding at the video's ends), queries on every 4th pixel of that frame, plus two auxiliary
grids of stride 32 queried 7 frames in the future and the past ("or less if at the video boundaries")
that help CoTracker (it tracks points jointly) and are dropped afterwards; then a box filter of width 11
along time. This module does exactly that around CoTracker's public predictor and converts its output
to spelke's :class:`~spelke.motion.tracks.Tracks` (``xy (T, N, 2)``, ``vis (T, N)``).

CoTracker is not on PyPI and its code and weights are under a **non-commercial** licence, so spelke
neither ships nor downloads them: install it yourself (``pip install
git+https://github.com/facebookresearch/co-tracker``) and pass a checkpoint you downloaded
(``checkpoint=PATH``, e.g. ``cotracker2.pth`` for LRTL's v2). Nothing of CoTracker is copied here; the
adapter only calls the documented interface::

    model = cotracker.predictor.CoTrackerPredictor(checkpoint=PATH)
    tracks, visibility = model(video, queries=queries, backward_tracking=True)

with ``video`` float ``(B, T, 3, H, W)`` in 0..255, ``queries`` float ``(B, N, 3)`` rows ``(t, x, y)``
(frame index in the chunk, pixel coordinates), ``tracks`` ``(B, T, N, 2)`` pixels and ``visibility``
``(B, T, N)`` (bool, or ``(B, T, N, 1)`` / probabilities in some versions: both are read).

Any object with that call signature can stand in for the model (``predictor=``): a model built another
way (``torch.hub``), a later CoTracker version, or a test double returning known tracks.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from spelke.errors import ConfigError, DataLayoutError, MissingDependencyError, ShapeError
from spelke.motion.backends import as_float, as_int, as_rgb_frame
from spelke.motion.tracks import FlowFn, Tracker, query_grid, register_tracker

__all__ = ["INSTALL_HINT", "CoTrackerTracker", "load_cotracker"]

#: How to install CoTracker (not on PyPI; non-commercial licence).
INSTALL_HINT = (
    "pip install git+https://github.com/facebookresearch/co-tracker (non-commercial licence; spelke does "
    "not ship it), and download a checkpoint such as cotracker2.pth from the project's README"
)


def load_cotracker(checkpoint: str | Path | None, device: str = "cpu", **options: Any) -> Any:
    """Build ``cotracker.predictor.CoTrackerPredictor(checkpoint=...)`` on ``device``, in eval mode.

    Raises:
        MissingDependencyError: the ``cotracker`` package (or torch) is not installed.
        ConfigError: no checkpoint given.
        DataLayoutError: the checkpoint file does not exist.
    """
    try:
        import torch  # noqa: F401
        from cotracker.predictor import CoTrackerPredictor
    except ImportError as e:
        raise MissingDependencyError(
            f"the cotracker tracker needs the Python package 'cotracker' (and torch), which is not "
            f"importable ({e}); install it with: {INSTALL_HINT}; or use the CPU default: --tracker flow-chain"
        ) from None
    if checkpoint is None or str(checkpoint) == "":
        raise ConfigError(
            "the cotracker tracker needs a local checkpoint: pass checkpoint=PATH (CLI: --option "
            "checkpoint=PATH), e.g. the cotracker2.pth LRTL used; spelke never downloads it"
        )
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise DataLayoutError(
            f"CoTracker checkpoint {path} does not exist; download it (see "
            "https://github.com/facebookresearch/co-tracker#installation) and pass its path as checkpoint=PATH"
        )
    model = CoTrackerPredictor(checkpoint=str(path), **options)
    model = model.to(device)
    model.eval()
    return model


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, on any device
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _package_version() -> str:
    for dist in ("cotracker", "co-tracker"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


@register_tracker(
    "cotracker", summary="CoTracker, LRTL's tracker (needs the co-tracker package + checkpoint)"
)
class CoTrackerTracker(Tracker):
    """CoTracker on a padded chunk around each query frame, with LRTL's settings.

    Args:
        stride, window, padding, smooth, smooth_mode: see :class:`~spelke.motion.tracks.Tracker`
            (LRTL: 4, 20, reflect, 11).
        checkpoint: path of a CoTracker checkpoint (required unless ``predictor`` is given).
        device: torch device of the model and the video (``cuda`` on a GPU machine).
        aux_stride: stride of LRTL's two auxiliary query grids (32); 0 turns them off.
        aux_offset: how far from the query frame they are queried (7 frames, fewer at the video's ends).
        visibility_threshold: threshold for visibilities returned as probabilities (CoTracker's predictor
            already returns booleans, thresholded at 0.9).
        predictor: a callable with CoTracker's predictor interface to use instead of loading one
            (``predictor(video, queries=..., backward_tracking=True) -> (tracks, visibility)``).
        predictor_options: extra keyword arguments of ``CoTrackerPredictor`` (``window_len``, or
            ``v2=True`` / ``offline=False`` in CoTracker 3's code for other checkpoints).

    Raises:
        MissingDependencyError / ConfigError / DataLayoutError: see :func:`load_cotracker`.
    """

    needs_flow = False
    needs_frames = True

    def __init__(
        self,
        stride: int | str = 4,
        window: int | str = 20,
        padding: str = "reflect",
        smooth: int | str = 11,
        smooth_mode: str = "odd",
        checkpoint: str | Path | None = None,
        device: str = "cpu",
        aux_stride: int | str = 32,
        aux_offset: int | str = 7,
        visibility_threshold: float | str = 0.5,
        predictor: Callable[..., Any] | None = None,
        predictor_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(stride, window, padding, smooth, smooth_mode)
        self.aux_stride = as_int(aux_stride, "aux_stride", minimum=0)
        self.aux_offset = as_int(aux_offset, "aux_offset", minimum=0)
        self.visibility_threshold = as_float(visibility_threshold, "visibility_threshold", minimum=0.0)
        self.device = str(device)
        self.checkpoint = None if checkpoint in (None, "") else Path(str(checkpoint)).expanduser()
        self.predictor_options = dict(predictor_options or {})
        if predictor is None:
            self.predictor = load_cotracker(self.checkpoint, self.device, **self.predictor_options)
            self.version = f"cotracker {_package_version()}"
        else:
            self.predictor = predictor
            self.version = f"injected {type(predictor).__name__}"

    _TAG_CORE = (*Tracker._TAG_CORE, "checkpoint")

    def tag_prefix(self) -> str:
        """The checkpoint's stem (``cotracker2``): it names the model, so it leads the tag."""
        return self.checkpoint.stem if self.checkpoint is not None else ""

    @property
    def options(self) -> dict[str, Any]:
        ckpt = None
        if self.checkpoint is not None:
            # the file's name and size identify it without tying the manifest to one machine's path
            size = self.checkpoint.stat().st_size if self.checkpoint.is_file() else None
            ckpt = {"name": self.checkpoint.name, "bytes": size}
        return {
            **super().options,
            "aux_stride": self.aux_stride,
            "aux_offset": self.aux_offset,
            "visibility_threshold": self.visibility_threshold,
            "checkpoint": ckpt,
            "predictor_options": dict(self.predictor_options),
        }

    def _queries(
        self, size: tuple[int, int], query_frame: int, query_index: int, n: int
    ) -> tuple[np.ndarray, int]:
        """Rows ``(t, x, y)`` in chunk coordinates: the main grid first, then LRTL's auxiliary grids."""
        grid = query_grid(size, self.stride)
        parts = [np.concatenate([np.full((len(grid), 1), query_index, np.float32), grid], axis=1)]
        if self.aux_stride > 0 and self.aux_offset > 0:
            aux = query_grid(size, self.aux_stride)
            # "seven frames in the future and the past (or less if at the video boundaries)"
            for direction, room in ((1, n - 1 - query_frame), (-1, query_frame)):
                off = min(self.aux_offset, room, self.window)
                if off > 0:
                    row = np.full((len(aux), 1), query_index + direction * off, np.float32)
                    parts.append(np.concatenate([row, aux], axis=1))
        return np.concatenate(parts).astype(np.float32), len(grid)

    def _track(
        self, frames: Any, query_frame: int, rows: np.ndarray, query_index: int, flows: FlowFn | None, n: int
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        if frames is None:
            raise ConfigError("the cotracker tracker needs the frames, not only flow")
        chunk = np.stack([as_rgb_frame(frames[int(f)], f"frame {int(f)}") for f in rows])
        size = (int(chunk.shape[2]), int(chunk.shape[3]))
        queries, n_main = self._queries(size, query_frame, query_index, n)
        video, q = chunk[None] * np.float32(255.0), queries[None]
        try:
            import torch
        except ImportError:  # an injected predictor may work on NumPy arrays
            torch = None
        if torch is not None:
            video = torch.from_numpy(video).to(self.device)
            q = torch.from_numpy(q).to(self.device)
            with torch.no_grad():
                out = self.predictor(video, queries=q, backward_tracking=True)
        else:
            out = self.predictor(video, queries=q, backward_tracking=True)
        if not isinstance(out, (tuple, list)) or len(out) < 2:
            raise ShapeError(
                f"the CoTracker predictor must return (tracks, visibility), got {type(out).__name__}"
            )
        xy, vis = _numpy(out[0]), _numpy(out[1])
        t_rows, m = len(rows), len(queries)
        if xy.shape != (1, t_rows, m, 2):
            raise ShapeError(
                f"CoTracker returned tracks of shape {xy.shape}; expected (1, {t_rows}, {m}, 2) for a chunk of "
                f"{t_rows} frames and {m} queries"
            )
        if vis.ndim == 4 and vis.shape[-1] == 1:
            vis = vis[..., 0]
        if vis.shape != (1, t_rows, m):
            raise ShapeError(
                f"CoTracker returned visibility of shape {vis.shape}; expected (1, {t_rows}, {m})"
            )
        vis = vis[0, :, :n_main]
        vis = vis.astype(bool) if vis.dtype == bool else vis > self.visibility_threshold
        # the auxiliary queries only help CoTracker; LRTL does not use them (A3.4)
        return xy[0, :, :n_main].astype(np.float32), vis, size
