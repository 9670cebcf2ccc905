"""Optical-flow backends behind one interface, registered by name.

A backend is created by name with keyword options (strings from the command line are converted),
``create_flow_backend("dis", preset="fast")``, and called on two frames: ``backend(frame0, frame1)``
returns the flow from ``frame0`` to ``frame1``, float32 ``(2, H, W)`` in pixels, channel 0 = x.
``backend.batch(frames0, frames1)`` does the same for a batch, ``(B, 2, H, W)``, batched on the device
where the backend allows it (RAFT) and frame by frame otherwise (OpenCV).

Frames are float ``(3, H, W)`` RGB in [0, 1] (spelke's convention); uint8 ``(H, W, 3)`` RGB (what
OpenCV and PIL give, converted from BGR first) and uint8 ``(3, H, W)`` are accepted as well.

Registered: ``dis`` (OpenCV DIS, the CPU default), ``farneback`` (OpenCV), and ``raft-small`` /
``raft-large`` (torchvision RAFT; need the ``torch`` extra). See docs/motion.md for speed and accuracy.

Examples:
    >>> import numpy as np
    >>> backend = create_flow_backend("dis", preset="ultrafast")
    >>> frame = np.random.default_rng(0).random((3, 32, 48), dtype=np.float32)
    >>> backend(frame, frame).shape
    (2, 32, 48)
    >>> list_flow_backends("raft*")
    ['raft-large', 'raft-small']
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np

from spelke._checks import check_shape
from spelke._options import as_bool, as_float, as_int
from spelke.errors import ConfigError, NotRegisteredError, ShapeError
from spelke.registry import Registry

__all__ = [
    "FLOW_BACKENDS",
    "FlowBackend",
    "as_bool",
    "as_float",
    "as_int",
    "as_rgb_frame",
    "create_flow_backend",
    "list_flow_backends",
    "register_flow_backend",
]

#: Every flow backend: name -> class (or factory) taking keyword options.
FLOW_BACKENDS: Registry[Any] = Registry("flow-backend")

F = TypeVar("F", bound=Callable[..., Any])

# Float frames may overshoot [0, 1] a little after resampling; further out they are 0..255 data.
_FLOAT_SLACK = 0.05


def register_flow_backend(
    name: str, aliases: tuple[str, ...] = (), summary: str | None = None, **tags: Any
) -> Callable[[F], F]:
    """Class decorator registering a flow backend under ``name`` (and ``aliases``)."""

    def deco(obj: F) -> F:
        if isinstance(obj, type):
            obj.name = name  # type: ignore[attr-defined]
        FLOW_BACKENDS.add(name, obj, aliases=aliases, summary=summary, **tags)
        return obj

    return deco


def _ensure_builtin() -> None:
    # Importing the modules registers the built-in backends (RAFT's module imports torch lazily).
    import spelke.motion.opencv_flow
    import spelke.motion.raft  # noqa: F401


def list_flow_backends(pattern: str = "*") -> list[str]:
    """Registered flow backend names matching a glob pattern, sorted."""
    _ensure_builtin()
    return FLOW_BACKENDS.list(pattern)


def create_flow_backend(name: str, /, **options: Any) -> FlowBackend:
    """Create a registered flow backend by name.

    Args:
        name: a registered name (:func:`list_flow_backends`).
        **options: the backend's options; strings (``"fast"``, ``"20"``, ``"true"``) are converted,
            so that ``--option key=value`` on the command line works.

    Raises:
        NotRegisteredError: unknown name (the message suggests close names).
        ConfigError: an option the backend does not have, or a bad value.
    """
    _ensure_builtin()
    try:
        factory = FLOW_BACKENDS.get(name)
    except NotRegisteredError:
        raise
    sig = inspect.signature(factory)
    params = sig.parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = [k for k in options if k not in params]
        if unknown:
            accepted = ", ".join(k for k, p in params.items() if p.kind is not p.VAR_POSITIONAL) or "none"
            raise ConfigError(
                f"flow backend '{FLOW_BACKENDS.canonical(name)}' has no option "
                f"{', '.join(repr(u) for u in unknown)}; its options are: {accepted}"
            )
    return factory(**options)


def as_rgb_frame(frame: Any, name: str = "frame") -> np.ndarray:
    """A frame as float32 ``(3, H, W)`` RGB in [0, 1].

    Accepts float ``(3, H, W)`` in [0, 1], uint8 ``(H, W, 3)`` RGB and uint8 ``(3, H, W)``. CPU torch
    tensors work through ``np.asarray``.

    Raises:
        ShapeError: another shape or dtype, or float values far outside [0, 1].
    """
    a = np.asarray(frame)
    if a.dtype == np.uint8:
        if a.ndim == 3 and a.shape[2] == 3 and a.shape[0] != 3:
            a = a.transpose(2, 0, 1)
        check_shape(a, ["3", "H", "W"], f"{name} (uint8, (H, W, 3) or (3, H, W))")
        return a.astype(np.float32) / np.float32(255.0)
    if a.dtype.kind != "f":
        raise ShapeError(
            f"{name} must be a float image (3, H, W) in [0, 1] or uint8 (H, W, 3), got dtype {a.dtype} "
            f"with shape {a.shape}"
        )
    if a.ndim == 3 and a.shape[2] == 3 and a.shape[0] != 3:
        raise ShapeError(
            f"{name} must be float (3, H, W), got {a.shape}; move the channel axis first "
            "(np.moveaxis(frame, -1, 0))"
        )
    check_shape(a, ["3", "H", "W"], f"{name} (float)")
    if a.size:
        lo, hi = float(a.min()), float(a.max())
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -_FLOAT_SLACK or hi > 1 + _FLOAT_SLACK:
            raise ShapeError(
                f"{name} must be in [0, 1], got values in [{lo:.4g}, {hi:.4g}]; divide 0..255 data by "
                "255 or pass it as uint8"
            )
    return a.astype(np.float32, copy=False)


def _pair(frame0: Any, frame1: Any) -> tuple[np.ndarray, np.ndarray]:
    a = as_rgb_frame(frame0, "frame0")
    b = as_rgb_frame(frame1, "frame1")
    if a.shape != b.shape:
        raise ShapeError(
            f"frame0 and frame1 must have the same size, got frame0 {a.shape} and frame1 {b.shape}"
        )
    return a, b


class FlowBackend:
    """Base class of flow backends: subclasses implement :meth:`_flow` (and :meth:`_batch` to batch).

    Attributes:
        name: the registered name.
        version: what produced the flow (library and model version); recorded in cache manifests.
        options: the resolved options (JSON-serialisable), recorded in cache manifests.
        batch_size: how many pairs :meth:`batch` and :func:`~spelke.motion.compute.compute_flow` group
            per call by default.
    """

    name: ClassVar[str] = ""
    batch_size: int = 1

    def __init__(self) -> None:
        self.version = ""
        self.options: dict[str, Any] = {}

    def __call__(self, frame0: Any, frame1: Any) -> np.ndarray:
        """Flow from ``frame0`` to ``frame1``, float32 ``(2, H, W)`` in pixels (channel 0 = x)."""
        a, b = _pair(frame0, frame1)
        return self._flow(a, b)

    def batch(self, frames0: Sequence[Any] | np.ndarray, frames1: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Flows of pairs ``(frames0[i], frames1[i])``, float32 ``(B, 2, H, W)``; all of one size."""
        if len(frames0) != len(frames1):
            raise ShapeError(f"frames0 and frames1 must be as many, got {len(frames0)} and {len(frames1)}")
        if len(frames0) == 0:
            raise ShapeError("batch needs at least one pair of frames")
        pairs = [_pair(a, b) for a, b in zip(frames0, frames1, strict=True)]
        sizes = {p[0].shape for p in pairs}
        if len(sizes) > 1:
            raise ShapeError(f"frames in one batch must share a size, got {sorted(sizes)}")
        return self._batch(np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]))

    def _flow(self, frame0: np.ndarray, frame1: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _batch(self, frames0: np.ndarray, frames1: np.ndarray) -> np.ndarray:
        return np.stack([self._flow(a, b) for a, b in zip(frames0, frames1, strict=True)])

    def describe(self) -> dict[str, Any]:
        """``{"backend", "version", "options"}``: what a cache manifest records about this backend."""
        return {"backend": self.name, "version": self.version, "options": dict(self.options)}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({opts})"
