"""LRTL losses: segmentation from point trajectories (thesis Ch. 5, App. E; spec lrtl-ovdiff.md A2).

For a frame with soft masks ``M`` (B, K, H, W) and point tracks ``P`` queried in that frame,

* the **trajectory loss** (thesis eq. (5.4)) penalises every singular value of the masked track matrix
  ``P_k = P · diag(π(M_k, (P)_query))`` except the ``r`` largest: trajectories of one object should span
  a low-rank space;
* the **temporal smoothing loss** (eq. (5.7)) asks the masks of frame ``t`` and of frame ``t + Δt`` to
  agree at the same tracked points;
* the **flow loss** (eqs. (5.1)/(5.2)) is GWM's (:func:`spelke.losses.gwm_loss`);
* :func:`lrtl_loss` weighs them ``λ_f L_f + λ_t L_t + λ_τ L_τ`` with 0.03 / 5e-5 / 0.1 (thesis App. E.5.3).

Conventions. Tracks are ``(B, T, N, 2)`` pixel positions ``(x, y)`` with pixel centres at integer
coordinates (pixel ``(row i, column j)`` is ``(x, y) = (j, i)``); the track matrix ``P`` (2T × N) holds
every row of the track window, occluded positions included (spec A2.3), as rows ``x_0, y_0, x_1, ...``
(the order does not change singular values). The sampling operator π is bilinear (thesis Sec. 5.3.3)
with ``align_corners=True`` semantics with respect to pixel centres: a point on a pixel centre reads
that pixel's value exactly, and points outside the frame read the nearest border pixel. Points given in
another grid of size ``(Hp, Wp)`` are mapped with the pixel-centre rule ``x' = (x + 0.5) W / Wp − 0.5``
(the rule of :mod:`spelke.engine.data`).

Reductions: the trajectory loss sums over K and averages over the batch; the temporal loss averages over
points, sums over K and averages over the batch (docs/fidelity.md, "GWM and LRTL losses").

Examples:
    >>> import torch
    >>> from spelke.losses import trajectory_loss
    >>> masks = torch.ones(1, 1, 8, 8)
    >>> t = torch.arange(4.0).view(1, 4, 1, 1)                      # 4 frames
    >>> xy = torch.rand(1, 1, 30, 2) * 7 + torch.cat([t, 0 * t], -1)  # 30 points translating right
    >>> float(trajectory_loss(masks, xy, torch.tensor([0]), rank=3)) < 1e-3
    True
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Literal

import torch

from spelke._checks import check_shape
from spelke.errors import ConfigError, ShapeError
from spelke.losses.gwm import Coords, FlowModel, GWMForm, gwm_loss

__all__ = [
    "LRTL_WEIGHTS",
    "SVDFallbackWarning",
    "lrtl_loss",
    "rank_reconstruction_loss",
    "reset_svd_fallback_counts",
    "sample_masks",
    "svd_fallback_counts",
    "temporal_loss",
    "track_matrix",
    "trajectory_loss",
]

Drop = Literal["top-r", "top-r-minus-1"]
TrackNorm = Literal["unit"] | None
Reduction = Literal["mean", "sum", "none"]

#: λ_f, λ_t, λ_τ of the total loss (thesis Sec. 5.3.3 and App. E.5.3, "in all experiments").
LRTL_WEIGHTS = {"flow": 0.03, "trajectory": 5e-5, "temporal": 0.1}

_DROPS = ("top-r", "top-r-minus-1")
_NORMS = (None, "unit")
_REDUCTIONS = ("mean", "sum", "none")
_JITTER = 1e-7  # relative diagonal jitter of the last SVD retry (moves each σ by at most this × max|P|)

_FALLBACKS: Counter[str] = Counter()


class SVDFallbackWarning(UserWarning):
    """An SVD failed even after the retries, and an item's trajectory loss was set to zero."""


def svd_fallback_counts() -> dict[str, int]:
    """How often the SVD fallback of the trajectory losses was used since the last reset.

    Keys: ``"retry"`` (a matrix recomputed on its own in its dtype), ``"float64"`` (recomputed in float64),
    ``"jitter"`` (recomputed in float64 with a tiny diagonal jitter), ``"zeroed"`` (batch items whose loss
    was set to zero). Training can log these.
    """
    return dict(_FALLBACKS)


def reset_svd_fallback_counts() -> None:
    """Reset the counters of :func:`svd_fallback_counts`."""
    _FALLBACKS.clear()


def _choice(value: object, name: str, choices: tuple) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {list(choices)}, got {value!r}")


def _grid_size(masks: torch.Tensor, size: tuple[int, int] | None) -> tuple[int, int]:
    if size is None:
        return int(masks.shape[-2]), int(masks.shape[-1])
    if len(size) != 2 or int(size[0]) < 1 or int(size[1]) < 1:
        raise ShapeError(f"size must be (H, W) of the points' pixel grid, got {size!r}")
    return int(size[0]), int(size[1])


def sample_masks(
    masks: torch.Tensor, points: torch.Tensor, size: tuple[int, int] | None = None
) -> torch.Tensor:
    """The sampling operator π: bilinear mask values at point positions (thesis Sec. 5.3.2-5.3.3).

    Pixel centres sit at integer coordinates and interpolation runs between them (``grid_sample``'s
    ``align_corners=True`` semantics on pixel centres): a point exactly on a pixel centre returns that
    pixel's value; points outside ``[0, W-1] × [0, H-1]`` are clamped to the border, so soft masks stay
    probabilities over K.

    Args:
        masks: ``(B, K, H, W)`` soft masks.
        points: ``(B, N, 2)`` positions ``(x, y)`` in pixels.
        size: ``(Hp, Wp)`` of the grid the points refer to; None (default) for the masks' own ``(H, W)``.
            Otherwise points are mapped by ``x' = (x + 0.5) · W / Wp − 0.5`` (same for y).

    Returns:
        ``(B, K, N)`` sampled values in the dtype of ``masks``; differentiable in ``masks``.

    Examples:
        >>> m = torch.arange(6.0).view(1, 1, 2, 3)
        >>> sample_masks(m, torch.tensor([[[1.0, 1.0], [0.5, 0.0]]])).tolist()
        [[[4.0, 0.5]]]
    """
    b, k, h, w = check_shape(masks, ["B", "K", "H", "W"], "masks").values()
    if points.ndim != 3 or points.shape[0] != b or points.shape[2] != 2:
        raise ShapeError(
            f"points must have shape (B, N, 2) with B = {b} to match masks {tuple(masks.shape)}, "
            f"got {tuple(points.shape)}"
        )
    hp, wp = _grid_size(masks, size)
    dtype = masks.dtype if masks.is_floating_point() else torch.get_default_dtype()
    pts = points.to(device=masks.device, dtype=torch.float64 if dtype == torch.float64 else torch.float32)
    x, y = pts[..., 0], pts[..., 1]
    if (hp, wp) != (h, w):
        x = (x + 0.5) * (w / wp) - 0.5
        y = (y + 0.5) * (h / hp) - 0.5
    x = x.clamp(0, w - 1)
    y = y.clamp(0, h - 1)
    x0 = x.floor().clamp(0, max(w - 2, 0))
    y0 = y.floor().clamp(0, max(h - 2, 0))
    wx = (x - x0).to(dtype)[:, None]  # in [0, 1]; 0 when W = 1
    wy = (y - y0).to(dtype)[:, None]
    x0, y0 = x0.long(), y0.long()
    x1 = (x0 + 1).clamp(max=w - 1)
    y1 = (y0 + 1).clamp(max=h - 1)
    flat = masks.to(dtype).reshape(b, k, h * w)

    def at(yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
        return flat.gather(2, (yy * w + xx)[:, None, :].expand(b, k, -1))

    top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx
    bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx
    return top * (1 - wy) + bottom * wy


def _query_index(index: torch.Tensor | int, b: int, t: int, name: str, device: torch.device) -> torch.Tensor:
    idx = torch.as_tensor(index, device=device).long().reshape(-1)
    if idx.numel() == 1 and b != 1:
        idx = idx.expand(b)
    if idx.shape != (b,):
        raise ShapeError(f"{name} must have shape (B,) = ({b},) to match tracks, got {tuple(idx.shape)}")
    if idx.numel() and (int(idx.min()) < -t or int(idx.max()) >= t):
        raise ShapeError(f"{name} must index the T = {t} rows of tracks, got {idx.tolist()}")
    return idx % t


def _check_tracks(masks: torch.Tensor, tracks: torch.Tensor) -> tuple[int, int, int]:
    b = int(masks.shape[0])
    if tracks.ndim != 4 or tracks.shape[0] != b or tracks.shape[3] != 2:
        raise ShapeError(
            f"tracks must have shape (B, T, N, 2) with B = {b} to match masks {tuple(masks.shape)}, "
            f"got {tuple(tracks.shape)}"
        )
    return b, int(tracks.shape[1]), int(tracks.shape[2])


def _valid_weights(
    valid: torch.Tensor | None, b: int, n: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor | None:
    if valid is None:
        return None
    if tuple(valid.shape) != (b, n):
        raise ShapeError(f"valid must have shape (B, N) = {(b, n)} to match tracks, got {tuple(valid.shape)}")
    return valid.to(device=device, dtype=dtype)


def track_matrix(
    tracks: torch.Tensor, normalize: TrackNorm = None, size: tuple[int, int] | None = None
) -> torch.Tensor:
    """The track matrix ``P`` (2T × N) of each batch item, rows ``x_0, y_0, x_1, y_1, ...``.

    Args:
        tracks: ``(B, T, N, 2)`` positions ``(x, y)`` in pixels.
        normalize: None (pixels) or ``"unit"`` (x / W, y / H, as LRTL's MOVi-F tracks, App. E.5.4).
        size: ``(H, W)`` of the tracks' grid, needed for ``"unit"``.

    Returns:
        ``(B, 2T, N)``.
    """
    _choice(normalize, "normalize", _NORMS)
    b, t, n, _ = tracks.shape
    p = tracks
    if normalize == "unit":
        if size is None:
            raise ConfigError("normalize='unit' needs the (H, W) size of the tracks' grid")
        p = p / torch.tensor([float(size[1]), float(size[0])], dtype=p.dtype, device=p.device)
    return p.permute(0, 1, 3, 2).reshape(b, 2 * t, n)


def _masked_track_matrices(
    masks: torch.Tensor,
    tracks: torch.Tensor,
    query: torch.Tensor | int,
    valid: torch.Tensor | None,
    normalize: TrackNorm,
    size: tuple[int, int] | None,
) -> torch.Tensor:
    """``P_k = P · diag(M̂_k)`` for every item and mask: ``(B, K, 2T, N)`` (thesis Sec. 5.3.2)."""
    check_shape(masks, ["B", "K", "H", "W"], "masks")
    b, t, n = _check_tracks(masks, tracks)
    grid = _grid_size(masks, size)
    q = _query_index(query, b, t, "query", masks.device)
    dtype = torch.float64 if masks.dtype == torch.float64 else torch.float32
    tracks = tracks.to(device=masks.device, dtype=dtype)
    pts = tracks[torch.arange(b, device=masks.device), q]  # (B, N, 2) positions in the query frame
    m_hat = sample_masks(masks.to(dtype), pts, grid)  # π(M_k, (P)_query), (B, K, N)
    vw = _valid_weights(valid, b, n, dtype, masks.device)
    if vw is not None:  # padded tracks become zero columns, which leave the singular values unchanged
        m_hat = m_hat * vw[:, None, :]
    p = track_matrix(tracks, normalize, grid)  # (B, 2T, N)
    return p[:, None] * m_hat[:, :, None, :]


def _retry_svdvals(m: torch.Tensor) -> torch.Tensor | None:
    """Singular values of one matrix by the fallback chain; None if every attempt fails."""
    attempts = [("retry", lambda: m), ("float64", lambda: m.double())]

    def jittered() -> torch.Tensor:
        md = m.double()
        r = min(md.shape)
        scale = md.detach().abs().amax().clamp_min(1e-30)
        diag = torch.zeros_like(md)
        idx = torch.arange(r, device=md.device)
        diag[idx, idx] = _JITTER * scale
        return md + diag

    attempts.append(("jitter", jittered))
    for key, make in attempts:
        try:
            s = torch.linalg.svdvals(make())
        except RuntimeError:  # torch.linalg.LinAlgError derives from RuntimeError
            continue
        if bool(torch.isfinite(s).all()):
            _FALLBACKS[key] += 1
            return s.to(m.dtype)
    return None


def _robust_svdvals(x: torch.Tensor) -> torch.Tensor:
    """``torch.linalg.svdvals`` of ``(B, K, R, C)`` with a fallback for failed or non-finite results.

    A batched call is tried first. If it raises or returns non-finite values, each affected matrix is
    recomputed on its own, then in float64, then in float64 with a diagonal jitter of ``1e-7 · max|P|``
    (which moves each singular value by at most that much, by Weyl's inequality). If all fail, every
    singular value of that batch item (all K masks, so that no mask is favoured) is set to zero, the
    ``"zeroed"`` counter of :func:`svd_fallback_counts` is incremented and an
    :class:`SVDFallbackWarning` is issued. Gradients flow through singular values only.
    """
    b, k = x.shape[:2]
    r = min(x.shape[-2:])
    try:
        s = torch.linalg.svdvals(x)
        ok = torch.isfinite(s).all(-1)
        if bool(ok.all()):
            return s
    except RuntimeError:
        s = None
        ok = torch.zeros(b, k, dtype=torch.bool, device=x.device)
    rows: list[torch.Tensor] = []
    failed = torch.zeros(b, dtype=torch.bool)
    for i in range(b):
        row = []
        for j in range(k):
            if s is not None and bool(ok[i, j]):
                row.append(s[i, j])
                continue
            sj = _retry_svdvals(x[i, j])
            if sj is None:
                failed[i] = True
                sj = x.new_zeros(r)
            row.append(sj)
        rows.append(torch.stack(row))
    out = torch.stack(rows)
    if bool(failed.any()):
        n_failed = int(failed.sum())
        _FALLBACKS["zeroed"] += n_failed
        warnings.warn(
            f"SVD of the masked track matrix failed for {n_failed} batch item(s) even in float64 with "
            "jitter; their trajectory loss is set to zero (check the tracks for NaN or Inf)",
            SVDFallbackWarning,
            stacklevel=3,
        )
        # Keep the graph attached (zero gradient) so that backward works even if every item failed.
        out = torch.where(failed.to(x.device)[:, None, None], torch.zeros_like(out), out)
        out = out + 0.0 * torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).sum()
    return out


def _reduce(per_item: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return per_item.mean()
    if reduction == "sum":
        return per_item.sum()
    return per_item


def trajectory_loss(
    masks: torch.Tensor,
    tracks: torch.Tensor,
    query: torch.Tensor | int,
    valid: torch.Tensor | None = None,
    rank: int = 5,
    drop: Drop = "top-r",
    normalize: TrackNorm = None,
    size: tuple[int, int] | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """LRTL's trajectory loss ``L_t = Σ_k Σ_{i>r} σ_i(P_k)`` (thesis eq. (5.4)).

    ``P_k = P · diag(M̂_k)`` with ``P`` the (2T × N) track matrix of all T rows (occluded positions
    included) and ``M̂_k`` the masks sampled bilinearly at the tracks' positions in the query frame.
    The singular values are unsquared (a truncated nuclear norm); gradients flow only through them
    (``torch.linalg.svdvals``), as the thesis argues (Sec. 5.6).

    Eq. (5.4) prints the sum from ``i = r``, which in 1-based indexing leaves only ``r − 1`` values
    free, while the text says the "singular values higher than r-th" are penalised. ``drop="top-r"``
    (default) penalises all but the ``r`` largest; ``drop="top-r-minus-1"`` is the literal 1-based
    reading (all but the ``r − 1`` largest). The two differ by exactly ``σ_r``.

    Args:
        masks: ``(B, K, H, W)`` soft masks of the query frame.
        tracks: ``(B, T, N, 2)`` positions ``(x, y)`` in pixels of the grid ``size`` (default: the
            masks' grid).
        query: ``(B,)`` (or an int) index into T of the frame the masks belong to.
        valid: ``(B, N)`` bool, False for padded tracks (they become zero columns); None: all valid.
        rank: r, the number of singular values left free (thesis: 5).
        drop: ``"top-r"`` or ``"top-r-minus-1"`` (see above).
        normalize: None (pixels, default) or ``"unit"`` (x / W, y / H of the tracks' grid; LRTL on
            MOVi-F).
        size: ``(H, W)`` of the tracks' pixel grid; None for the masks' grid.
        reduction: over the batch, ``"mean"`` (default), ``"sum"`` or ``"none"`` (``(B,)``). Always a
            sum over K.

    Returns:
        The loss in the dtype of ``masks`` (computed in float32, or float64 for float64 masks).
    """
    _choice(drop, "drop", _DROPS)
    _choice(reduction, "reduction", _REDUCTIONS)
    if int(rank) < 1:
        raise ConfigError(f"rank must be >= 1, got {rank}")
    with torch.autocast(masks.device.type, enabled=False):
        pk = _masked_track_matrices(masks, tracks, query, valid, normalize, size)
        sigma = _robust_svdvals(pk)  # (B, K, min(2T, N)), descending
        first = int(rank) if drop == "top-r" else int(rank) - 1
        per_item = sigma[..., first:].sum((-1, -2))  # thesis eq. (5.4)
        out = _reduce(per_item, reduction)
    return out.to(masks.dtype)


def rank_reconstruction_loss(
    masks: torch.Tensor,
    tracks: torch.Tensor,
    query: torch.Tensor | int,
    valid: torch.Tensor | None = None,
    rank: int = 5,
    normalize: TrackNorm = None,
    size: tuple[int, int] | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """The rejected truncated-SVD loss ``L_rec@r = Σ_k ‖P_k − [U_k]_r [Σ_k]_r [V_k]_rᵀ‖²_F`` (eq. (5.3)).

    By Eckart-Young this equals ``Σ_k Σ_{i>r} σ_i(P_k)²`` (squared trailing singular values), which is
    how it is computed. For ablations (thesis Table 5.3). Arguments as :func:`trajectory_loss`.
    """
    _choice(reduction, "reduction", _REDUCTIONS)
    if int(rank) < 0:
        raise ConfigError(f"rank must be >= 0, got {rank}")
    with torch.autocast(masks.device.type, enabled=False):
        pk = _masked_track_matrices(masks, tracks, query, valid, normalize, size)
        sigma = _robust_svdvals(pk)
        per_item = sigma[..., int(rank) :].square().sum((-1, -2))  # thesis eq. (5.3)
        out = _reduce(per_item, reduction)
    return out.to(masks.dtype)


def temporal_loss(
    masks_t: torch.Tensor,
    masks_next: torch.Tensor,
    tracks: torch.Tensor,
    query: torch.Tensor | int,
    next_index: torch.Tensor | int,
    valid: torch.Tensor | None = None,
    visibility: torch.Tensor | None = None,
    size: tuple[int, int] | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """LRTL's temporal smoothing ``L_τ = ‖π(Φ(I_t), (P_t)_t) − π(Φ(I_{t+Δt}), (P_t)_{t+Δt})‖²`` (eq. (5.7)).

    The masks of frame t are sampled at the tracks' positions in the query row, those of frame
    ``t + Δt`` at the same tracks' positions in row ``next_index``. Per item the squared differences are
    summed over K and averaged over the (valid) points; the batch is averaged (``reduction``). The
    thesis uses every track (visible or not at ``t + Δt``); pass ``visibility`` to keep only the points
    visible at ``t + Δt``. An item with no point left contributes 0.

    Args:
        masks_t: ``(B, K, H, W)`` soft masks of the query frame t.
        masks_next: ``(B, K, H, W)`` soft masks of frame ``t + Δt`` (same K ordering).
        tracks: ``(B, T, N, 2)`` positions ``(x, y)`` in pixels of the grid ``size``.
        query: ``(B,)`` index into T of frame t.
        next_index: ``(B,)`` index into T of frame ``t + Δt``.
        valid: ``(B, N)`` bool, False for padded tracks; None: all valid.
        visibility: ``(B, T, N)`` bool; if given, only points visible at ``next_index`` count
            (default None: all points, as the thesis).
        size: ``(H, W)`` of the tracks' pixel grid; None for the masks' grid.
        reduction: over the batch, ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Returns:
        The loss in the dtype of ``masks_t``.
    """
    _choice(reduction, "reduction", _REDUCTIONS)
    check_shape(masks_t, ["B", "K", "H", "W"], "masks_t")
    if masks_next.shape != masks_t.shape:
        raise ShapeError(
            f"masks_next must have the shape of masks_t {tuple(masks_t.shape)}, got {tuple(masks_next.shape)}"
        )
    b, t, n = _check_tracks(masks_t, tracks)
    grid = _grid_size(masks_t, size)
    dev = masks_t.device
    q = _query_index(query, b, t, "query", dev)
    nx = _query_index(next_index, b, t, "next_index", dev)
    dtype = torch.float64 if masks_t.dtype == torch.float64 else torch.float32
    with torch.autocast(dev.type, enabled=False):
        tracks = tracks.to(device=dev, dtype=dtype)
        rows = torch.arange(b, device=dev)
        a = sample_masks(masks_t.to(dtype), tracks[rows, q], grid)  # π(Φ(I_t), (P_t)_t)
        c = sample_masks(masks_next.to(dtype), tracks[rows, nx], grid)  # π(Φ(I_t+Δt), (P_t)_t+Δt)
        sq = (a - c).square().sum(1)  # (B, N): thesis eq. (5.7), summed over K
        w = _valid_weights(valid, b, n, dtype, dev)
        if visibility is not None:
            if tuple(visibility.shape) != (b, t, n):
                raise ShapeError(
                    f"visibility must have shape (B, T, N) = {(b, t, n)} to match tracks, "
                    f"got {tuple(visibility.shape)}"
                )
            vis = visibility.to(dev)[rows, nx].to(dtype)
            w = vis if w is None else w * vis
        if w is None:
            per_item = sq.mean(1)
        else:
            per_item = (sq * w).sum(1) / w.sum(1).clamp_min(1.0)
        out = _reduce(per_item, reduction)
    return out.to(masks_t.dtype)


def lrtl_loss(
    masks: torch.Tensor,
    flow: torch.Tensor | None = None,
    tracks: torch.Tensor | None = None,
    query: torch.Tensor | int | None = None,
    *,
    masks_next: torch.Tensor | None = None,
    next_index: torch.Tensor | int | None = None,
    valid: torch.Tensor | None = None,
    visibility: torch.Tensor | None = None,
    track_size: tuple[int, int] | None = None,
    lambda_flow: float = 0.03,
    lambda_traj: float = 5e-5,
    lambda_temporal: float = 0.1,
    rank: int = 5,
    drop: Drop = "top-r",
    normalize: TrackNorm = None,
    flow_form: GWMForm = "code",
    flow_model: FlowModel = "quadratic",
    flow_coords: Coords = "unit",
    ridge: float = 1e-6,
) -> dict[str, torch.Tensor]:
    """LRTL's total loss ``λ_f L_f + λ_t L_t + λ_τ L_τ`` (thesis Sec. 5.3.3; weights App. E.5.3).

    A term is computed when its inputs are given and its weight is non-zero: the flow loss needs
    ``flow``; the trajectory loss ``tracks`` and ``query``; the temporal loss also ``masks_next`` and
    ``next_index``. The flow loss defaults to the released GWM code's form (``flow_form="code"``, a
    mean over pixels): λ_f = 0.03 is GWM's multiplier for that form and λ_t = 5e-5 was chosen to bring
    the (pixel-unit) trajectory loss into the same range; eq. (5.2)'s summed form is ``flow_form="ch5"``.

    Args:
        masks: ``(B, K, H, W)`` soft masks of the query frame (on the flow's grid if ``flow`` is given).
        flow: ``(B, 2, H, W)`` flow in pixels, or None.
        tracks: ``(B, T, N, 2)`` tracks in pixels of ``track_size`` (default: the masks' grid), or None.
        query: ``(B,)`` index into T of the masks' frame.
        masks_next: ``(B, K, H, W)`` soft masks of frame ``t + Δt`` (Δt = 5 in the thesis), or None.
        next_index: ``(B,)`` index into T of frame ``t + Δt``.
        valid: ``(B, N)`` bool, False for padded tracks.
        visibility: ``(B, T, N)`` bool; only used by the temporal loss (see :func:`temporal_loss`).
        track_size: ``(H, W)`` of the tracks' pixel grid.
        lambda_flow: λ_f (0.03).
        lambda_traj: λ_t (5e-5).
        lambda_temporal: λ_τ (0.1).
        rank: r of eq. (5.4) (5).
        drop: singular-value offset of eq. (5.4), see :func:`trajectory_loss`.
        normalize: track units for the trajectory loss (None: pixels).
        flow_form: ``"code"``, ``"ch5"`` or ``"exact"`` (see :func:`spelke.losses.gwm_loss`).
        flow_model: the flow model of the flow loss (quadratic).
        flow_coords: coordinate normalisation of the flow model.
        ridge: relative ridge of the flow fit.

    Returns:
        ``{"loss": total, "flow": L_f, "trajectory": L_t, "temporal": L_τ}`` with the unweighted terms
        (only those computed) and the weighted total.

    Raises:
        ConfigError: if no term can be computed, or ``tracks``/``query`` or ``masks_next``/``next_index``
            come without their partner.
    """
    if (tracks is None) != (query is None):
        raise ConfigError("lrtl_loss needs tracks and query together (query: the masks' row in tracks)")
    if (masks_next is None) != (next_index is None):
        raise ConfigError("lrtl_loss needs masks_next and next_index together for the temporal term")
    terms: dict[str, torch.Tensor] = {}
    total: torch.Tensor | None = None

    def add(name: str, weight: float, value: torch.Tensor) -> None:
        nonlocal total
        terms[name] = value
        total = weight * value if total is None else total + weight * value

    if flow is not None and lambda_flow != 0:
        add(
            "flow", lambda_flow, gwm_loss(masks, flow, flow_model, flow_form, flow_coords, ridge)
        )  # eq. (5.2)
    if tracks is not None and query is not None:
        if lambda_traj != 0:
            value = trajectory_loss(masks, tracks, query, valid, rank, drop, normalize, track_size)
            add("trajectory", lambda_traj, value)  # eq. (5.4)
        if masks_next is not None and next_index is not None and lambda_temporal != 0:
            value = temporal_loss(masks, masks_next, tracks, query, next_index, valid, visibility, track_size)
            add("temporal", lambda_temporal, value)  # eq. (5.7)
    if total is None:
        raise ConfigError(
            "lrtl_loss has no term to compute: pass flow, and/or tracks with query "
            "(plus masks_next and next_index for the temporal term), with non-zero weights"
        )
    return {"loss": total, **terms}
