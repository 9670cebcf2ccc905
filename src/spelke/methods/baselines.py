"""Non-learned baselines for the results tables: flow thresholding and K-means on flow, colour and position.

Pure functions on numpy arrays, deterministic given their seed. They give the floor a learned method
must beat: GWM's Table C.3 compares against K-means and spectral clustering of features; motion
segmentation papers compare against thresholded flow magnitude. Flow is (2, H, W) in pixels (channel 0
= x); images are (3, H, W) RGB in [0, 1]; label maps are int64 (H, W) with arbitrary ids.

Camera motion: the foreground is what moves *relative to the background*, so flow-based baselines first
subtract the median flow (``background="median"``), the robust estimate of a translating camera when the
background covers more than half the frame. A rotating or zooming camera leaves a residual;
``background="quadratic"`` removes it too: GWM's 12-parameter quadratic motion model (thesis eq. 3.2),
fitted to the whole frame by trimmed least squares, explains the flow of a turning camera. It is a
hand-made camera-compensated baseline, stronger than the median; ``background="none"`` keeps the raw
flow (docs/fidelity.md).

K-means is our own (k-means++ seeding with greedy local trials, Lloyd iterations, best of ``n_init``
runs), since scikit-learn is only a development dependency; the tests compare its inertia with
scikit-learn's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from spelke._checks import check_shape
from spelke.errors import ConfigError, ShapeError

__all__ = [
    "KMeansResult",
    "flow_magnitude",
    "flow_threshold",
    "kmeans",
    "kmeans_colour_position",
    "kmeans_flow",
    "kmeans_flow_binary",
    "otsu_threshold",
    "quadratic_background",
]

Background = Literal["median", "quadratic", "none"]

#: Otsu's threshold is never below this (pixels): flow that a fit explains to rounding is not motion.
MIN_MOTION_PX = 1e-3


def _flow(flow: Any) -> np.ndarray:
    f = np.asarray(flow.detach().cpu().numpy() if hasattr(flow, "detach") else flow, np.float64)
    check_shape(f, ["2", "H", "W"], "flow")
    if not np.all(np.isfinite(f)):
        raise ShapeError("flow holds NaN or infinite values; mask invalid flow before calling a baseline")
    return f


def quadratic_background(flow: Any, iterations: int = 6, keep: float = 0.5) -> np.ndarray:
    """The flow (2, H, W) of the dominant quadratic motion: the 12-parameter model of thesis eq. 3.2
    (basis ``[x, x^2, y, y^2, xy, 1]`` per flow component, coordinates scaled to [-1, 1]) fitted by
    trimmed least squares: each round refits on the ``keep`` fraction of pixels it explains best, so
    objects covering less than ``1 - keep`` of the frame do not pull the fit."""
    f = _flow(flow)
    _, h, w = f.shape
    ys, xs = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    basis = np.stack([xs, xs**2, ys, ys**2, xs * ys, np.ones_like(xs)], -1).reshape(-1, 6)
    target = f.reshape(2, -1).T
    inliers = np.ones(h * w, bool)
    for _ in range(max(1, iterations)):
        coef, *_ = np.linalg.lstsq(basis[inliers], target[inliers], rcond=None)
        resid = np.hypot(*(target - basis @ coef).T)
        inliers = resid <= np.quantile(resid, keep)
    return (basis @ coef).T.reshape(2, h, w)


def _relative(f: np.ndarray, background: Background) -> np.ndarray:
    if background == "median":
        return f - np.median(f.reshape(2, -1), axis=1)[:, None, None]
    if background == "quadratic":
        return f - quadratic_background(f)
    if background == "none":
        return f
    raise ConfigError(f"background must be 'median', 'quadratic' or 'none'; got {background!r}")


def flow_magnitude(flow: Any, background: Background = "median") -> np.ndarray:
    """Per-pixel flow magnitude (H, W), after subtracting the median flow (``background="median"``)."""
    f = _relative(_flow(flow), background)
    return np.hypot(f[0], f[1])


def otsu_threshold(values: Any, bins: int = 256) -> float:
    """Otsu's threshold (1979): the histogram split that maximises the between-class variance.

    ``bins`` equal bins span ``[min, max]``; the threshold is the upper edge of the last bin of the lower
    class, so ``values > threshold`` is the upper class. Constant input returns its value.
    """
    v = np.asarray(values, np.float64).ravel()
    if v.size == 0:
        raise ShapeError("otsu_threshold needs at least one value")
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return hi
    hist, edges = np.histogram(v, bins=bins, range=(lo, hi))
    p = hist / v.size
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)[:-1]
    mu = np.cumsum(p * centres)[:-1]
    mu_t = float((p * centres).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu_t * w0 - mu) ** 2 / (w0 * (1 - w0))
    between = np.nan_to_num(between, nan=-1.0, posinf=-1.0)
    return float(edges[1 + int(np.argmax(between))])


def flow_threshold(
    flow: Any, method: Literal["otsu"] | float = "otsu", background: Background = "median"
) -> np.ndarray:
    """Foreground = pixels whose flow, relative to the background, is large.

    Args:
        flow: (2, H, W) in pixels.
        method: ``"otsu"`` (default): Otsu's threshold on the magnitude, at least
            ``MIN_MOTION_PX`` (1e-3 px); a number: a fixed threshold in pixels.
        background: ``"median"`` subtracts the median flow first (removes a translating camera);
            ``"quadratic"`` subtracts the robustly fitted quadratic motion of the frame (removes a
            turning camera too, :func:`quadratic_background`); ``"none"`` thresholds the raw magnitude.

    Returns:
        (H, W) bool foreground.

    Examples:
        >>> f = np.zeros((2, 8, 8)); f[0, 2:5, 2:5] = 3.0
        >>> int(flow_threshold(f).sum())
        9
    """
    mag = flow_magnitude(flow, background)
    if isinstance(method, str):
        if method != "otsu":
            raise ConfigError(f"method must be 'otsu' or a threshold in pixels; got {method!r}")
        # Otsu splits any spread, even rounding noise; a relative motion below MIN_MOTION_PX is none
        t = max(otsu_threshold(mag), MIN_MOTION_PX)
    else:
        t = float(method)
    return mag > t


# --------------------------------------------------------------------------------------------------------
# K-means
# --------------------------------------------------------------------------------------------------------


@dataclass
class KMeansResult:
    """Labels (N,), centres (k, D), inertia (sum of squared distances) and Lloyd iterations of the best run."""

    labels: np.ndarray
    centres: np.ndarray
    inertia: float
    n_iter: int


def _sq_dist(x: np.ndarray, x2: np.ndarray, c: np.ndarray) -> np.ndarray:
    # einsum, not BLAS: for few features (flow, colour) a skinny GEMM pays more in threading than it gains
    d = x2[:, None] - 2.0 * np.einsum("nd,kd->nk", x, c) + (c * c).sum(1)[None]
    return np.maximum(d, 0.0)


def _kmeanspp(x: np.ndarray, x2: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy k-means++ (Arthur & Vassilvitskii 2007): 2 + log k candidates per step, keep the best."""
    n = x.shape[0]
    trials = 2 + int(np.log(k))
    centres = np.empty((k, x.shape[1]))
    centres[0] = x[rng.integers(n)]
    closest = _sq_dist(x, x2, centres[:1])[:, 0]
    for j in range(1, k):
        total = closest.sum()
        if total <= 0:  # fewer distinct points than clusters: any point will do
            cand = rng.integers(n, size=trials)
        else:
            cand = np.searchsorted(np.cumsum(closest), rng.random(trials) * total)
            cand = np.minimum(cand, n - 1)
        d = np.minimum(closest[None], _sq_dist(x, x2, x[cand]).T)
        best = int(np.argmin(d.sum(1)))
        centres[j] = x[cand[best]]
        closest = d[best]
    return centres


def kmeans(
    x: Any, k: int, seed: int = 0, *, n_init: int = 4, max_iter: int = 300, tol: float = 1e-4
) -> KMeansResult:
    """K-means (Lloyd) with greedy k-means++ seeding; the best of ``n_init`` runs by inertia.

    Convergence as scikit-learn: stop when the labels no longer change or the total squared centre shift
    is at most ``tol`` times the mean per-feature variance. An emptied cluster is re-seeded at the point
    farthest from its centre. Deterministic given ``seed``.

    Args:
        x: (N, D) points.
        k: number of clusters (1 ≤ k ≤ N).
        seed: seed of the k-means++ sampling.
        n_init: independent seedings; the lowest-inertia result is returned.
        max_iter: Lloyd iterations per run.
        tol: relative tolerance on the centre shift.

    Returns:
        A :class:`KMeansResult`.
    """
    a = np.asarray(x, np.float64)
    if a.ndim != 2:
        raise ShapeError(f"kmeans expects points of shape (N, D); got {a.shape}")
    n = a.shape[0]
    if not 1 <= k <= n:
        raise ConfigError(f"kmeans needs 1 <= k <= number of points ({n}); got k={k}")
    rng = np.random.default_rng(seed)
    x2 = (a * a).sum(1)
    abs_tol = tol * float(a.var(0).mean())
    best: KMeansResult | None = None
    for _ in range(max(1, n_init)):
        c = _kmeanspp(a, x2, k, rng)
        labels = np.full(n, -1)
        n_iter = 0
        for it in range(1, max_iter + 1):
            n_iter = it
            d = _sq_dist(a, x2, c)
            new = d.argmin(1)
            if np.array_equal(new, labels):
                break
            labels = new
            counts = np.bincount(labels, minlength=k)
            sums = np.stack([np.bincount(labels, weights=col, minlength=k) for col in a.T], axis=1)
            nc = c.copy()
            nz = counts > 0
            nc[nz] = sums[nz] / counts[nz, None]
            if not nz.all():
                far = np.argsort(-d[np.arange(n), labels], kind="stable")
                for j, e in zip(np.flatnonzero(~nz), far, strict=False):
                    nc[j] = a[e]
            shift = float(((nc - c) ** 2).sum())
            c = nc
            if shift <= abs_tol:
                break
        d = _sq_dist(a, x2, c)
        labels = d.argmin(1)
        inertia = float(d[np.arange(n), labels].sum())
        if best is None or inertia < best.inertia:
            best = KMeansResult(labels.astype(np.int64), c, inertia, n_iter)
    assert best is not None
    return best


def _positions(h: int, w: int) -> np.ndarray:
    """(H*W, 2) pixel positions (x, y) in units of the longer side, in [0, 1)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64) / max(h, w)
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def kmeans_flow(
    flow: Any,
    k: int,
    seed: int = 0,
    *,
    position_weight: float = 0.0,
    background: Background = "median",
    n_init: int = 4,
) -> np.ndarray:
    """K-means on per-pixel flow vectors (optionally with position), a motion-grouping baseline.

    Features: the flow relative to the background (median subtracted) divided by its standard
    deviation (both channels pooled), plus ``position_weight`` times the pixel position (x, y) in units
    of the longer image side. ``position_weight=0`` clusters motion alone.

    Returns:
        (H, W) int64 labels in ``0 .. k-1`` (ids arbitrary).
    """
    f = _relative(_flow(flow), background)
    _, h, w = f.shape
    v = f.reshape(2, -1).T
    scale = float(v.std())
    feats = v / scale if scale > 0 else v
    if position_weight:
        feats = np.concatenate([feats, position_weight * _positions(h, w)], axis=1)
    return kmeans(feats, k, seed, n_init=n_init).labels.reshape(h, w)


def kmeans_flow_binary(
    flow: Any, seed: int = 0, *, position_weight: float = 0.0, background: Background = "median"
) -> np.ndarray:
    """Two-cluster K-means on flow; foreground = the cluster with the larger mean flow magnitude
    relative to the background (median subtracted). Returns (H, W) bool."""
    labels = kmeans_flow(flow, 2, seed, position_weight=position_weight, background=background)
    mag = flow_magnitude(flow, "median")
    means = [mag[labels == j].mean() if (labels == j).any() else -1.0 for j in (0, 1)]
    return labels == int(np.argmax(means))


def kmeans_colour_position(
    image: Any, k: int, position_weight: float = 0.5, seed: int = 0, *, n_init: int = 4
) -> np.ndarray:
    """K-means on colour and position, a multi-object appearance baseline.

    Features: CIELAB scaled to about unit range (``L/100, a/100, b/100``) and ``position_weight`` times
    the pixel position (x, y) in units of the longer image side (SLIC-like superpixels when the weight is
    large, colour clusters when it is 0).

    Args:
        image: (3, H, W) RGB in [0, 1].
        k: number of clusters.
        position_weight: weight of position relative to colour.
        seed: K-means seed.

    Returns:
        (H, W) int64 labels in ``0 .. k-1``.
    """
    from spelke.methods.merge import rgb_to_lab

    img = np.asarray(image.detach().cpu().numpy() if hasattr(image, "detach") else image, np.float32)
    d = check_shape(img, ["3", "H", "W"], "image")
    h, w = d["H"], d["W"]
    lab = rgb_to_lab(img.transpose(1, 2, 0)).reshape(-1, 3).astype(np.float64)
    feats = np.concatenate([lab, position_weight * _positions(h, w)], axis=1) if position_weight else lab
    return kmeans(feats, k, seed, n_init=n_init).labels.reshape(h, w)
