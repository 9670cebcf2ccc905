"""Label maps, binary masks and soft masks drawn over images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spelke.errors import ShapeError
from spelke.viz._image import to_uint8
from spelke.viz.palette import _colors_for, _label_colors

__all__ = ["contour_mask", "overlay", "overlay_binary", "soft_overlay"]


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    return alpha


def _image_and_size(image: object, size: tuple[int, int], what: str) -> np.ndarray:
    img = to_uint8(image)
    if img.shape[:2] != size:
        raise ShapeError(
            f"image and {what} must have the same height and width, got image {img.shape[:2]} "
            f"and {what} {size}; resize the {what} to the image (nearest for label maps)"
        )
    return img


def contour_mask(labels: object) -> np.ndarray:
    """Mark the pixels of each segment that touch a different id (4-neighbourhood).

    The contour lies on the inner side of every segment and is one pixel wide per segment, so a
    boundary between two segments is drawn once on each side of it.

    Args:
        labels: (H, W) integer ids.

    Returns:
        (H, W) bool.
    """
    lab = np.asarray(labels)
    edge = np.zeros(lab.shape, dtype=bool)
    dx = lab[:, 1:] != lab[:, :-1]
    dy = lab[1:, :] != lab[:-1, :]
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    edge[1:, :] |= dy
    edge[:-1, :] |= dy
    return edge


def _blend(img: np.ndarray, color: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """img * (1 - weight) + color * weight, rounded to uint8; weight (H, W) broadcast over channels."""
    w = weight[..., None]
    out = img.astype(np.float32) * (1.0 - w) + color.astype(np.float32) * w
    return np.floor(out + 0.5).clip(0, 255).astype(np.uint8)


def overlay(
    image: object,
    labels: object,
    alpha: float = 0.5,
    contours: bool = True,
    background: int | None = 0,
    contour_color: Sequence[int] | None = None,
) -> np.ndarray:
    """Tint each segment of a label map with its palette colour over an image.

    Args:
        image: (3, H, W) float in [0, 1] or (H, W, 3) uint8 (anything :func:`to_uint8` reads).
        labels: (H, W) non-negative integer ids.
        alpha: opacity of the tint, 0 (image only) to 1 (colours only).
        contours: draw a 1-pixel contour on the inner side of every segment, fully opaque.
        background: the id left untinted and without contour (0 for ground truth); ``None`` tints
            every id, which suits predicted label maps whose ids are arbitrary.
        contour_color: RGB colour of the contours; ``None`` draws each in its segment's colour, and
            ``(255, 255, 255)`` gives white outlines.

    Returns:
        (H, W, 3) uint8 RGB. Background pixels equal ``to_uint8(image)`` exactly.

    Colours: id ``k`` gets ``palette()[k]`` when 0 is the background, so overlays match
    :func:`colorize`; when id 0 is a segment (``background`` not 0), id ``k`` gets ``palette()[k + 1]``
    so that no segment is painted black.

    Raises:
        ShapeError: if the image and label map differ in height or width, or either is malformed.

    Examples:
        >>> img = np.zeros((3, 4, 4)); lab = np.zeros((4, 4), dtype=np.int64); lab[1:3, 1:3] = 1
        >>> out = overlay(img, lab, alpha=0.5, contours=False)
        >>> out[0, 0].tolist(), out[1, 1].tolist()
        ([0, 0, 0], [64, 0, 0])
    """
    alpha = _check_alpha(alpha)
    lab = _label_colors(labels)
    img = _image_and_size(image, lab.shape, "labels")
    colors = _colors_for(lab if background == 0 else lab + 1)
    fg = np.ones(lab.shape, dtype=bool) if background is None else lab != background
    out = _blend(img, colors, np.where(fg, np.float32(alpha), np.float32(0.0)))
    if contours:
        edge = contour_mask(lab) & fg
        if contour_color is None:
            out[edge] = colors[edge]
        else:
            out[edge] = np.asarray(contour_color, dtype=np.uint8).reshape(3)
    return out


def overlay_binary(
    image: object,
    mask: object,
    color: Sequence[int] = (255, 0, 0),
    alpha: float = 0.5,
    contours: bool = True,
) -> np.ndarray:
    """Tint the foreground of a binary mask over an image.

    Args:
        image: (3, H, W) float in [0, 1] or (H, W, 3) uint8.
        mask: (H, W) bool, or numbers where nonzero (integers) or > 0.5 (floats) is foreground.
        color: RGB tint of the foreground.
        alpha: opacity of the tint.
        contours: draw the mask's 1-pixel inner contour in ``color``, fully opaque.

    Returns:
        (H, W, 3) uint8 RGB; pixels outside the mask equal ``to_uint8(image)``.

    Raises:
        ShapeError: if the image and mask differ in height or width, or the mask is not 2-D.
    """
    alpha = _check_alpha(alpha)
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ShapeError(f"mask must have shape (H, W), got shape {m.shape}")
    m = m > 0.5 if m.dtype.kind == "f" else m != 0
    img = _image_and_size(image, m.shape, "mask")
    rgb = np.asarray(color, dtype=np.uint8).reshape(1, 1, 3)
    out = _blend(img, np.broadcast_to(rgb, img.shape), np.where(m, np.float32(alpha), np.float32(0.0)))
    if contours:
        out[contour_mask(m) & m] = rgb[0, 0]
    return out


def soft_overlay(
    image: object, probs: object, alpha: float = 0.5, background: int | None = None
) -> np.ndarray:
    """Tint an image by soft masks: each pixel gets the probability-weighted mix of segment colours.

    Args:
        image: (3, H, W) float in [0, 1] or (H, W, 3) uint8.
        probs: (K, H, W) non-negative weights, normally a softmax over K. Where they sum to more than 1
            they are rescaled to sum to 1; where they sum to less, the tint fades accordingly.
        alpha: opacity of the tint where the weights sum to 1.
        background: channel that stands for "no object": its weight leaves the image untinted.
            ``None`` treats every channel as a segment.

    Returns:
        (H, W, 3) uint8 RGB. Colours follow :func:`overlay`, so one-hot ``probs`` give the same picture
        as ``overlay(image, probs.argmax(0), contours=False, background=background)``.

    Raises:
        ShapeError: for a wrong shape, a size mismatch, or negative or non-finite weights.
    """
    alpha = _check_alpha(alpha)
    p = np.asarray(probs, dtype=np.float32)
    if p.ndim != 3:
        raise ShapeError(f"probs must have shape (K, H, W), got shape {p.shape}")
    if not np.all(np.isfinite(p)) or (p.size and p.min() < 0):
        raise ShapeError("probs must be finite and non-negative; apply a softmax over K to logits first")
    img = _image_and_size(image, p.shape[1:], "probs")
    k = p.shape[0]
    ids = np.arange(k) if background == 0 else np.arange(k) + 1
    colors = _colors_for(ids).astype(np.float32)  # (K, 3)
    p = p / np.maximum(p.sum(0, keepdims=True), 1.0)
    seg = np.ones(k, dtype=bool)
    if background is not None:
        if not 0 <= background < k:
            raise ValueError(f"background channel must be in [0, {k - 1}], got {background}")
        seg[background] = False
    w = p[seg]  # weights of the object channels
    total = w.sum(0)  # (H, W) tint strength before alpha
    mix = np.einsum("khw,kc->hwc", w, colors[seg]) / np.maximum(total, 1e-12)[..., None]
    return _blend(img, mix, alpha * total)
