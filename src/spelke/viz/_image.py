"""Conversion of the image layouts spelke meets into the (H, W, 3) uint8 that viewers and files expect."""

from __future__ import annotations

import numpy as np

from spelke.errors import ShapeError

# A float image whose values leave this band is not a [0, 1] image (most often it is 0..255 data);
# values inside the band but outside [0, 1] (resampling overshoot) are clipped.
_FLOAT_SLACK = 0.5


def _describe(a: np.ndarray) -> str:
    return f"shape {a.shape} and dtype {a.dtype}"


def to_uint8(img: object) -> np.ndarray:
    """Convert an image to an (H, W, 3) uint8 RGB array.

    Accepted layouts:

    * (3, H, W) float in [0, 1] (spelke's image convention) or (H, W, 3) float in [0, 1];
    * (H, W), (1, H, W) or (H, W, 1) greyscale, float in [0, 1] or integer in [0, 255];
    * (H, W, 3) uint8 (returned as a contiguous copy), (3, H, W) uint8, and (H, W, 4) / (4, H, W)
      RGBA, whose alpha channel is dropped;
    * boolean (H, W) masks (``True`` becomes 255).

    A float array with both a leading and a trailing axis of size 3 is read as (3, H, W), spelke's
    convention. Floats slightly outside [0, 1] (resampling overshoot) are clipped; floats far outside
    (such as 0..255 data) raise. CPU torch tensors work through ``np.asarray``.

    Args:
        img: the image.

    Returns:
        A new C-contiguous (H, W, 3) uint8 array.

    Raises:
        ShapeError: for an unsupported shape or dtype, non-finite values, or values out of range.

    Examples:
        >>> to_uint8(np.ones((3, 2, 4))).shape
        (2, 4, 3)
    """
    a = np.asarray(img)
    if a.dtype.kind == "b":
        a = a.astype(np.uint8) * 255
    elif a.dtype.kind == "f":
        if not np.all(np.isfinite(a)):
            raise ShapeError(f"image must hold finite values, got NaN or inf in an array of {_describe(a)}")
        if a.size and (a.min() < -_FLOAT_SLACK or a.max() > 1 + _FLOAT_SLACK):
            raise ShapeError(
                f"float images must be in [0, 1], got values in [{a.min():.4g}, {a.max():.4g}] "
                f"({_describe(a)}); divide 0..255 data by 255 or pass it as uint8"
            )
        a = np.floor(np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif a.dtype.kind in "iu":
        if a.dtype != np.uint8:
            if a.size and (a.min() < 0 or a.max() > 255):
                raise ShapeError(
                    f"integer images must be in [0, 255], got values in [{a.min()}, {a.max()}] "
                    f"({_describe(a)}); rescale to uint8 first"
                )
            a = a.astype(np.uint8)
    else:
        raise ShapeError(f"image must be a float, integer or bool array, got {_describe(a)}")

    if a.ndim == 2:
        a = a[:, :, None]
    elif a.ndim != 3:
        raise ShapeError(
            f"image must have shape (3, H, W), (H, W, 3) or (H, W), got {_describe(a)} "
            f"({a.ndim} axes); pass one image, not a batch"
        )
    elif a.shape[0] in (1, 3, 4) and a.shape[-1] not in (1, 3, 4):
        a = np.moveaxis(a, 0, -1)
    elif a.shape[0] == 3 and a.shape[-1] in (1, 3, 4) and np.asarray(img).dtype.kind == "f":
        a = np.moveaxis(a, 0, -1)  # ambiguous (3, H, 3): spelke float images are channel-first
    if a.shape[-1] not in (1, 3, 4):
        raise ShapeError(
            f"image must have shape (3, H, W), (H, W, 3) or (H, W), got {_describe(np.asarray(img))}"
        )
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    elif a.shape[-1] == 4:
        a = a[..., :3]
    return np.ascontiguousarray(a)
