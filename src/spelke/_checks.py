"""Shape and dtype checks at public boundaries (kornia's KORNIA_CHECK_SHAPE is the model).

A failed check names the expected and the actual shape in one line.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spelke.errors import ShapeError


def check_shape(x: object, dims: Sequence[str], name: str = "input") -> dict[str, int]:
    """Check that ``x`` has ``len(dims)`` axes; named dims must agree with each other.

    ``dims`` holds symbols (``"B"``, ``"H"``) or literal sizes (``"3"``); a symbol used twice must have
    the same size both times. Returns the bound sizes.

    Examples:
        >>> check_shape(np.zeros((2, 3, 4, 4)), ["B", "3", "H", "W"])
        {'B': 2, 'H': 4, 'W': 4}
    """
    shape = tuple(getattr(x, "shape", np.shape(x)))
    want = "(" + ", ".join(dims) + ")"
    if len(shape) != len(dims):
        raise ShapeError(
            f"{name} must have shape {want}, got {shape} ({len(shape)} axes instead of {len(dims)})"
        )
    bound: dict[str, int] = {}
    for d, s in zip(dims, shape, strict=True):
        if d.isdigit():
            if int(d) != s:
                raise ShapeError(f"{name} must have shape {want}, got {shape}")
        elif d in bound and bound[d] != s:
            raise ShapeError(f"{name} must have shape {want}, got {shape} ({d} differs between axes)")
        else:
            bound[d] = int(s)
    return bound


def check_same_shape(a: object, b: object, names: tuple[str, str] = ("pred", "true")) -> None:
    """Raise a ShapeError naming both shapes if ``a`` and ``b`` differ in shape."""
    sa, sb = tuple(np.shape(a)), tuple(np.shape(b))
    if sa != sb:
        raise ShapeError(
            f"{names[0]} and {names[1]} must have the same shape, got {names[0]} {sa} and {names[1]} {sb}; "
            "resize predictions to the ground-truth resolution first (nearest for label maps)"
        )


def as_label_batch(x: object, name: str = "labels") -> np.ndarray:
    """Return integer label maps as an int64 array of shape (N, H, W); accepts (H, W) as N = 1.

    Raises a ShapeError for float arrays with non-integer values, negative labels, or wrong ndim.
    Accepts numpy arrays, lists, and anything with ``__array__`` (e.g. CPU torch tensors).
    """
    a = np.asarray(x)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ShapeError(
            f"{name} must be integer label maps of shape (N, H, W) or (H, W), got shape {a.shape}"
        )
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise ShapeError(
                f"{name} must hold integer labels, got non-integer floats; for soft masks (N, K, H, W) "
                "take the argmax over K first"
            )
        a = a.astype(np.int64)
    elif a.dtype.kind == "b":
        a = a.astype(np.int64)
    elif a.dtype.kind not in "iu":
        raise ShapeError(f"{name} must be an integer array, got dtype {a.dtype}")
    else:
        a = a.astype(np.int64, copy=False)
    if a.size and a.min() < 0:
        raise ShapeError(f"{name} must hold non-negative labels, got minimum {a.min()}")
    return a
