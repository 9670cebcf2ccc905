"""Warping by flow, forward-backward consistency (occlusion), the photometric flow filter, and EPE.

Coordinates follow the flow convention: the centre of pixel ``(row i, column j)`` is ``(x, y) = (j, i)``
and flow ``(2, H, W)`` holds pixel displacements, channel 0 = x. Warping is *backward*: ``warp(I1,
F_01)(p) = I1(p + F_01(p))``, sampled bilinearly — the ``grid_sample(..., align_corners=True)`` warp
of RAFT, ARFlow and ssl-vos, in NumPy.

Examples:
    >>> import numpy as np
    >>> img = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    >>> flow = np.zeros((2, 3, 4), np.float32); flow[0] = 1.0          # look one pixel to the right
    >>> warp(img, flow)[0, 0].tolist()                                   # the last column repeats (border)
    [1.0, 2.0, 3.0, 3.0]
"""

from __future__ import annotations

import numpy as np

from spelke._checks import check_shape
from spelke.errors import ConfigError, ShapeError

__all__ = [
    "FB_ALPHA",
    "FB_BETA",
    "PHOTOMETRIC_PERCENTILE",
    "bilinear_sample",
    "end_point_error",
    "fb_consistent",
    "forward_backward_consistency",
    "in_frame",
    "occlusion_mask",
    "photometric_error",
    "photometric_filter",
    "warp",
]

#: Defaults of the forward-backward criterion (Sundaram et al. 2010; UnFlow, Meister et al. 2018).
FB_ALPHA = 0.01
FB_BETA = 0.5
#: ssl-vos supp. F: pixels whose photometric error exceeds this percentile are dropped (the worst 10 %).
PHOTOMETRIC_PERCENTILE = 90.0

_PADDINGS = ("border", "zeros")


def _as_flow(flow: object, name: str = "flow") -> np.ndarray:
    a = np.asarray(flow)
    check_shape(a, ["2", "H", "W"], name)
    if a.dtype.kind != "f":
        raise ShapeError(f"{name} must be float pixels (2, H, W), got dtype {a.dtype}")
    return a


def _as_image(image: object, name: str) -> tuple[np.ndarray, bool]:
    """(C, H, W) float view of an image given as (C, H, W) or (H, W); the flag says it was 2-D."""
    a = np.asarray(image)
    if a.ndim == 2:
        return a[None].astype(np.float32, copy=False), True
    if a.ndim != 3:
        raise ShapeError(f"{name} must have shape (C, H, W) or (H, W), got {a.shape}")
    return a.astype(np.float32, copy=False), False


def bilinear_sample(image: np.ndarray, x: np.ndarray, y: np.ndarray, padding: str = "border") -> np.ndarray:
    """Sample ``image`` (C, H, W) bilinearly at pixel coordinates ``x``, ``y`` (any equal shapes S).

    Args:
        image: float (C, H, W).
        x, y: sample positions in pixels (pixel centres at integers).
        padding: ``"border"`` clamps positions to the image (``grid_sample``'s ``padding_mode="border"``);
            ``"zeros"`` gives each of the four neighbours outside the image weight zero
            (``padding_mode="zeros"``).

    Returns:
        float32 (C, *S).
    """
    if padding not in _PADDINGS:
        raise ConfigError(f"padding must be one of {_PADDINGS}, got {padding!r}")
    c, h, w = image.shape
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    shape = x.shape
    x, y = x.ravel(), y.ravel()
    if padding == "border":
        x = np.minimum(np.maximum(x, 0), w - 1)
        y = np.minimum(np.maximum(y, 0), h - 1)
    x0 = np.floor(x)
    y0 = np.floor(y)
    fx = (x - x0).astype(np.float32)
    fy = (y - y0).astype(np.float32)
    x0 = x0.astype(np.int64)
    y0 = y0.astype(np.int64)
    # Gathering from the flattened image with one index array per corner is ~3x faster than 2-D fancy
    # indexing (it matters for the point tracker, which samples thousands of points per frame).
    flat = np.asarray(image).reshape(c, h * w)
    out = np.zeros((c, x.size), np.float32)
    for dy, dx, wgt in (
        (0, 0, (1 - fx) * (1 - fy)),
        (0, 1, fx * (1 - fy)),
        (1, 0, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        xi, yi = x0 + dx, y0 + dy
        inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        # Clamped indices are read but weighted by zero outside (zeros padding) or never reached
        # with weight > 0 (border padding clamps the positions first).
        idx = np.minimum(np.maximum(yi, 0), h - 1) * w + np.minimum(np.maximum(xi, 0), w - 1)
        out += flat.take(idx, axis=1) * np.where(inside, wgt, 0).astype(np.float32)
    return out.reshape(c, *shape)


def fb_consistent(
    forward: np.ndarray, backward: np.ndarray, alpha: float = FB_ALPHA, beta: float = FB_BETA
) -> np.ndarray:
    """The forward-backward criterion on displacement vectors (component axis first, any shape after).

    ``forward`` is a point's forward displacement ``w``, ``backward`` the backward flow read at its
    target ``p + w``; the point is consistent when ``|w + b|² < alpha (|w|² + |b|²) + beta`` (Sundaram
    et al. 2010, eq. (5); UnFlow eq. 2). :func:`forward_backward_consistency` applies it to every pixel,
    the flow-chaining tracker (:mod:`spelke.motion.tracks`) to sub-pixel track positions.

    Returns:
        bool array of shape ``forward.shape[1:]``.
    """
    diff = ((forward + backward) ** 2).sum(0)
    mag = (forward**2).sum(0) + (backward**2).sum(0)
    return diff < alpha * mag + beta


def warp(image: object, flow: object, padding: str = "border") -> np.ndarray:
    """Backward-warp ``image`` by ``flow``: ``out(p) = image(p + flow(p))``, bilinear.

    With the flow ``F_01`` from frame 0 to frame 1, ``warp(frame1, F_01)`` predicts frame 0, and
    ``warp(F_10, F_01)`` brings the backward flow into frame 0's pixel grid.

    Args:
        image: (C, H, W) or (H, W) float (images, flows, masks).
        flow: float (2, H, W) in pixels, channel 0 = x.
        padding: ``"border"`` (default, as ARFlow's ``flow_warp``) or ``"zeros"``.

    Returns:
        float32 array of the shape of ``image``.
    """
    img, flat = _as_image(image, "image")
    f = _as_flow(flow)
    if img.shape[1:] != f.shape[1:]:
        raise ShapeError(f"image {np.shape(image)} and flow {f.shape} must have the same H and W")
    h, w = f.shape[1:]
    ys, xs = np.mgrid[0:h, 0:w]
    out = bilinear_sample(img, xs + f[0], ys + f[1], padding)
    return out[0] if flat else out


def in_frame(flow: object) -> np.ndarray:
    """Bool (H, W): pixels whose target ``p + flow(p)`` lies inside the frame (``[0, W-1] x [0, H-1]``)."""
    f = _as_flow(flow)
    h, w = f.shape[1:]
    ys, xs = np.mgrid[0:h, 0:w]
    tx, ty = xs + f[0], ys + f[1]
    return (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)


def forward_backward_consistency(
    flow_fw: object,
    flow_bw: object,
    alpha: float = FB_ALPHA,
    beta: float = FB_BETA,
    *,
    out_of_frame: bool = True,
    padding: str = "border",
) -> np.ndarray:
    """Bool (H, W): where the forward flow of frame 0 is consistent with the backward flow of frame 1.

    The criterion of Sundaram, Brox & Keutzer, "Dense point trajectories by GPU-accelerated large
    displacement optical flow" (ECCV 2010), in the form of UnFlow (Meister et al., AAAI 2018, eq. 2):
    with ``B̂ = warp(F_bw, F_fw)``, a pixel is consistent when

        |F_fw + B̂|² < alpha (|F_fw|² + |B̂|²) + beta.

    Args:
        flow_fw: flow from frame 0 to frame 1, float (2, H, W).
        flow_bw: flow from frame 1 to frame 0, float (2, H, W).
        alpha, beta: the criterion's constants (UnFlow's 0.01 and 0.5).
        out_of_frame: also mark pixels whose forward target leaves the frame as inconsistent (they have
            no backward flow to compare with). UnFlow and ARFlow sample ``F_bw`` with zero padding
            instead, which marks such pixels only when their motion exceeds about 0.7 px; pass
            ``out_of_frame=False, padding="zeros"`` for exactly that.
        padding: how ``F_bw`` is sampled outside the frame (see :func:`bilinear_sample`).

    Returns:
        True where consistent (visible in frame 1), False where occluded or unreliable.
    """
    fw = _as_flow(flow_fw, "flow_fw").astype(np.float32)
    bw = _as_flow(flow_bw, "flow_bw").astype(np.float32)
    if fw.shape != bw.shape:
        raise ShapeError(f"flow_fw {fw.shape} and flow_bw {bw.shape} must have the same shape")
    ok = fb_consistent(fw, warp(bw, fw, padding=padding), alpha, beta)
    if out_of_frame:
        ok &= in_frame(fw)
    return ok


def occlusion_mask(
    flow_fw: object,
    flow_bw: object,
    alpha: float = FB_ALPHA,
    beta: float = FB_BETA,
    *,
    out_of_frame: bool = True,
    padding: str = "border",
) -> np.ndarray:
    """Bool (H, W): pixels of frame 0 that fail the forward-backward check (occluded in frame 1).

    The complement of :func:`forward_backward_consistency` (same arguments).
    """
    return ~forward_backward_consistency(
        flow_fw, flow_bw, alpha, beta, out_of_frame=out_of_frame, padding=padding
    )


def photometric_error(frame0: object, frame1: object, flow: object, padding: str = "border") -> np.ndarray:
    """Per-pixel warp error ``mean_c |I0 - warp(I1, F_01)|``, float32 (H, W).

    The difference image of ssl-vos (Ponimatkin et al., WACV 2023, supp. F): frame 1 warped into frame
    0 by the flow, absolute difference averaged over the colour channels (ssl-vos
    ``generate_flow_arflow.py``: ``abs(org_img - warped_img).mean(2)``).
    """
    i0, _ = _as_image(frame0, "frame0")
    i1, _ = _as_image(frame1, "frame1")
    if i0.shape != i1.shape:
        raise ShapeError(f"frame0 {i0.shape} and frame1 {i1.shape} must have the same shape")
    return np.abs(i0 - warp(i1, flow, padding=padding)).mean(0)


def photometric_filter(
    frame0: object,
    frame1: object,
    flow: object,
    percentile: float = PHOTOMETRIC_PERCENTILE,
    *,
    soft: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Drop the flow of the pixels with the worst photometric error: ssl-vos's flow filter.

    ssl-vos (Ponimatkin et al., "A Simple and Powerful Global Optimization for Unsupervised Video Object
    Segmentation", WACV 2023), supp. F and ``generate_flow_arflow.py``: the difference image ``D =
    mean_c |I0 - warp(I1, F)|`` (:func:`photometric_error`) is divided by its maximum; pixels with
    ``D`` above its 90th percentile get weight 0, the others weight 1, and the flow is multiplied by
    the weight, so bad flow becomes zero. (The paper's text also says the opposite — "locations under
    the threshold indicate where optical flow fails" — but its code and its intent drop the worst
    10 %; see docs/fidelity.md.)

    Args:
        frame0, frame1: float images (3, H, W) in [0, 1].
        flow: flow from frame 0 to frame 1, float (2, H, W).
        percentile: the threshold percentile of ``D`` (NumPy's linear interpolation, as in ssl-vos).
        soft: instead of a binary weight, use ``1 - D / max(D)`` (ssl-vos with ``thr_type=None``).

    Returns:
        ``(filtered_flow, weight)``: float32 (2, H, W) flow times the weight, and the float32 (H, W)
        weight (1 = kept).
    """
    f = _as_flow(flow).astype(np.float32)
    if not 0 <= percentile <= 100:
        raise ConfigError(f"percentile must be in [0, 100], got {percentile}")
    d = photometric_error(frame0, frame1, f)
    peak = float(d.max()) if d.size else 0.0
    if peak <= 0:  # a perfect warp: nothing to drop (ssl-vos would divide by zero here)
        weight = np.ones_like(d)
    else:
        d = d / peak
        if soft:
            weight = (1.0 - d).astype(np.float32)
        else:
            thr = np.percentile(d, percentile)
            weight = (d <= thr).astype(np.float32)
    return f * weight[None], weight


def end_point_error(flow: object, flow_true: object, mask: object = None) -> float:
    """Average end-point error ``mean |F - F_true|`` in pixels over ``mask`` (default: every pixel).

    Returns NaN when the mask selects no pixel.
    """
    f = _as_flow(flow, "flow").astype(np.float64)
    g = _as_flow(flow_true, "flow_true").astype(np.float64)
    if f.shape != g.shape:
        raise ShapeError(f"flow {f.shape} and flow_true {g.shape} must have the same shape")
    err = np.sqrt(((f - g) ** 2).sum(0))
    if mask is not None:
        m = np.asarray(mask, bool)
        if m.shape != err.shape:
            raise ShapeError(f"mask {m.shape} must have the flow's size {err.shape}")
        err = err[m]
    return float(err.mean()) if err.size else float("nan")
