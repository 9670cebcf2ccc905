"""From K segments to an answer: spectral K→2 merging (GWM), the oracle merge, and connected components.

GWM (thesis §3.3, spec A.4) predicts K soft masks; binary benchmarks need one foreground. The masks are
merged into two groups by a normalised cut on a K-node graph whose affinities are cosine similarities
of mask-averaged appearance descriptors (thesis eq. (3.6)). Which group is the foreground is not said
in the thesis; :func:`spectral_merge` offers two ground-truth-free rules and an unlabelled output for
GT-matched evaluation. :func:`oracle_merge` is the upper bound of GWM Table 3.2 (``J_oracle``): it looks
at the ground truth. PPMP's post-processing (thesis §4.4, spec B.4) is :func:`connected_components`;
:func:`clean_binary` is its binary counterpart.

Every function takes numpy arrays (CPU torch tensors are accepted and converted) and returns numpy.
Only numpy, SciPy and OpenCV are used: this module is import-light and needs no learned weights.
docs/fidelity.md ("K-to-2 merging, post-processing and baselines") lists the open choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from spelke._checks import check_shape
from spelke.errors import ConfigError, ShapeError, missing_dependency

__all__ = [
    "MergeResult",
    "OracleResult",
    "appearance_features",
    "clean_binary",
    "connected_components",
    "cosine_affinity",
    "merge_masks",
    "ncut_value",
    "normalised_cut",
    "oracle_merge",
    "rgb_to_lab",
    "segment_descriptors",
    "spectral_merge",
]

Foreground = Literal["border", "smaller"] | None
Solver = Literal["auto", "exact", "spectral", "sklearn"]

#: Largest K for which ``solver="auto"`` enumerates every bipartition (2^(K-1) - 1 of them).
EXACT_MAX_K = 16
#: Largest K :func:`oracle_merge` accepts (it enumerates 2^K assignments).
ORACLE_MAX_K = 20


def _numpy(x: Any, dtype: Any = None) -> np.ndarray:
    """A numpy view of ``x``; torch tensors are detached and moved to the CPU (torch is not imported)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


# --------------------------------------------------------------------------------------------------------
# Descriptors and the K-node graph
# --------------------------------------------------------------------------------------------------------


def segment_descriptors(masks: Any, features: Any, eps: float = 1e-12) -> np.ndarray:
    """Mask-weighted mean feature of every segment.

    ``V̄_k = Σ_u V_u p_uk / Σ_v p_vk`` (thesis §3.3, the descriptors entering eq. (3.6)).

    Args:
        masks: soft masks (B, K, H, W), non-negative (softmax over K).
        features: dense features (B, C, H, W) at the masks' resolution; upsample ViT features
            (bilinearly, as the GWM code does) before calling.
        eps: a segment whose mass ``Σ_v p_vk`` is below ``eps`` is empty; its descriptor is all zeros.

    Returns:
        (B, K, C) float64 descriptors.

    Examples:
        >>> m = np.zeros((1, 2, 2, 2)); m[0, 0, 0] = 1; m[0, 1, 1] = 1
        >>> f = np.arange(4.0).reshape(1, 1, 2, 2)
        >>> segment_descriptors(m, f)[0, :, 0].tolist()
        [0.5, 2.5]
    """
    m = _numpy(masks, np.float64)
    f = _numpy(features, np.float64)
    dm = check_shape(m, ["B", "K", "H", "W"], "masks")
    df = check_shape(f, ["B", "C", "H", "W"], "features")
    if (dm["B"], dm["H"], dm["W"]) != (df["B"], df["H"], df["W"]):
        raise ShapeError(
            f"masks {m.shape} and features {f.shape} must agree in batch size and spatial size (B, ., H, W); "
            "upsample the features to the masks' resolution first (bilinear, as GWM does)"
        )
    b, k = dm["B"], dm["K"]
    mf = m.reshape(b, k, -1)
    num = np.einsum("bkn,bcn->bkc", mf, f.reshape(b, df["C"], -1))
    mass = mf.sum(-1)
    out = np.zeros_like(num)
    ok = mass > eps
    out[ok] = num[ok] / mass[ok][:, None]
    return out


def cosine_affinity(descriptors: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """``Π_ij = max(ε, <V̄_i/|V̄_i|, V̄_j/|V̄_j|>)`` for (..., K, C) descriptors -> (..., K, K).

    Thesis eq. (3.6). Only segments whose descriptors point the same way are linked; ``ε`` keeps the
    graph connected. A zero descriptor (empty segment) has cosine 0 with everything, hence affinity ε.
    """
    d = np.asarray(descriptors, np.float64)
    n = np.linalg.norm(d, axis=-1, keepdims=True)
    u = np.divide(d, n, out=np.zeros_like(d), where=n > 0)
    return np.maximum(eps, u @ np.swapaxes(u, -1, -2))  # thesis eq. (3.6)


def ncut_value(affinity: Any, assignment: Any) -> np.ndarray:
    """Normalised cut ``cut(A,B)/vol(A) + cut(A,B)/vol(B)`` (Shi & Malik 2000) of 2-way assignments.

    The diagonal (self-affinity) is ignored, as in scikit-learn's spectral clustering (SciPy's graph
    Laplacian drops it). ``assignment`` is (K,) or (M, K) in {0, 1}; returns a float or (M,) values;
    an assignment with an empty side has Ncut = inf.
    """
    w = np.array(affinity, np.float64)
    np.fill_diagonal(w, 0.0)
    a = np.atleast_2d(np.asarray(assignment, np.float64))
    deg = w.sum(1)
    vol1 = a @ deg
    vol0 = (1.0 - a) @ deg  # not deg.sum() - vol1: that cancels catastrophically when a side has degree ~ε
    cut = np.einsum("mi,ij,mj->m", a, w, 1.0 - a)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = np.where((vol1 > 0) & (vol0 > 0), cut / vol1 + cut / vol0, np.inf)
    return val if np.ndim(assignment) == 2 else val[0]


def _all_bipartitions(k: int) -> np.ndarray:
    """Every 2-way split of k nodes once (node 0 on side 0, side 1 non-empty): (2^(k-1) - 1, k)."""
    codes = np.arange(1, 2 ** (k - 1), dtype=np.int64)
    bits = (codes[:, None] >> np.arange(k - 1)) & 1
    return np.concatenate([np.zeros((len(codes), 1), np.int64), bits], axis=1)


def normalised_cut(affinity: Any, solver: Solver = "auto", random_state: int = 0) -> tuple[np.ndarray, float]:
    """Two-way normalised cut of a small graph (K nodes), the merge step of GWM (thesis §3.3).

    Solvers:

    * ``"exact"``: enumerate all ``2^(K-1) - 1`` bipartitions and take the minimum Ncut (exact; the
      default for K ≤ 16, i.e. every K GWM uses).
    * ``"spectral"``: Shi & Malik's relaxation: the Fiedler vector of the generalised eigenproblem
      ``(D - W) y = λ D y`` (via the symmetric normalised Laplacian), then the best of the K-1 splits
      of its sorted entries (the "splitting point" search). Used for K > 16 under ``"auto"``.
    * ``"sklearn"``: what GWM's released code runs, ``SpectralClustering(n_clusters=2,
      affinity="precomputed", random_state=random_state)`` (spectral embedding + k-means); needs
      scikit-learn.

    Returns:
        ``(assignment, ncut)``: (K,) int64 in {0, 1} with node 0 on side 0, and its Ncut value.
    """
    w = _numpy(affinity, np.float64)
    check_shape(w, ["K", "K"], "affinity")
    k = w.shape[0]
    if k < 2:
        return np.zeros(k, np.int64), float("inf")
    if solver == "auto":
        solver = "exact" if k <= EXACT_MAX_K else "spectral"
    if solver == "exact":
        if k > 24:
            raise ConfigError(
                f"solver='exact' enumerates 2^(K-1) bipartitions; K={k} is too many: use solver='spectral'"
            )
        parts = _all_bipartitions(k)
        vals = ncut_value(w, parts)
        i = int(np.argmin(vals))
        return parts[i], float(vals[i])
    if solver == "spectral":
        a = _spectral_split(w)
    elif solver == "sklearn":
        try:
            from sklearn.cluster import SpectralClustering
        except ImportError:  # pragma: no cover - sklearn is a dev dependency
            raise missing_dependency(
                "sklearn", "dev", "normalised_cut(solver='sklearn'), GWM's released merger,"
            ) from None
        a = SpectralClustering(n_clusters=2, affinity="precomputed", random_state=random_state).fit_predict(w)
        a = np.asarray(a, np.int64)
    else:
        raise ConfigError(f"solver must be one of auto, exact, spectral, sklearn; got {solver!r}")
    if a[0] == 1:
        a = 1 - a
    return a, float(ncut_value(w, a))


def _spectral_split(w: np.ndarray) -> np.ndarray:
    """Fiedler vector of (D - W) y = λ D y and the best split of its sorted entries (Shi & Malik §3.1)."""
    w = w.copy()
    np.fill_diagonal(w, 0.0)
    k = w.shape[0]
    deg = np.maximum(w.sum(1), 1e-300)
    dm = 1.0 / np.sqrt(deg)
    lap = np.eye(k) - dm[:, None] * w * dm[None, :]  # I - D^-1/2 W D^-1/2
    _, vecs = np.linalg.eigh(lap)
    y = dm * vecs[:, 1]  # back to the generalised problem: y = D^-1/2 z
    order = np.argsort(y, kind="stable")
    splits = np.zeros((k - 1, k), np.int64)
    for s in range(1, k):
        splits[s - 1, order[s:]] = 1
    return splits[int(np.argmin(ncut_value(w, splits)))]


# --------------------------------------------------------------------------------------------------------
# Spectral merging (GWM, thesis §3.3)
# --------------------------------------------------------------------------------------------------------


@dataclass
class MergeResult:
    """What :func:`spectral_merge` returns.

    Attributes:
        assignment: (B, K) int64. With a foreground rule: 1 = the segment joins the foreground.
            With ``foreground=None``: the cluster id (0 holds the first non-empty segment).
        masks: (B, 2, H, W) float32, the sums of the member segments' soft masks. With a foreground
            rule channel 0 is the background and channel 1 the foreground; otherwise the two clusters,
            unlabelled.
        ncut: (B,) the normalised cut value of each image's split.
        affinity: (B, K, K) the affinity matrices Π (thesis eq. (3.6)).
        labelled: whether channel 1 means foreground.
    """

    assignment: np.ndarray
    masks: np.ndarray
    ncut: np.ndarray
    affinity: np.ndarray
    labelled: bool

    @property
    def foreground(self) -> np.ndarray:
        """(B, H, W) soft foreground (channel 1); only meaningful when ``labelled``."""
        return self.masks[:, 1]


def merge_masks(masks: Any, assignment: Any) -> np.ndarray:
    """Sum soft masks (B, K, H, W) into (B, 2, H, W) by a (B, K) or (K,) 0/1 assignment."""
    m = _numpy(masks, np.float32)
    d = check_shape(m, ["B", "K", "H", "W"], "masks")
    a = np.broadcast_to(_numpy(assignment).astype(np.int64), (d["B"], d["K"]))
    fg = np.einsum("bk,bkhw->bhw", a.astype(np.float32), m)
    bg = np.einsum("bk,bkhw->bhw", (1 - a).astype(np.float32), m)
    return np.stack([bg, fg], axis=1)


def _border_mass(x: np.ndarray, width: int) -> np.ndarray:
    """Mass of (..., H, W) maps on the image border ring of ``width`` pixels."""
    ring = np.zeros(x.shape[-2:], bool)
    ring[:width], ring[-width:], ring[:, :width], ring[:, -width:] = True, True, True, True
    return x[..., ring].sum(-1)


def spectral_merge(
    masks: Any,
    features: Any,
    eps: float = 1e-12,
    foreground: Foreground = "border",
    *,
    solver: Solver = "auto",
    border_width: int = 1,
    random_state: int = 0,
) -> MergeResult:
    """Merge K soft masks into background and foreground by a normalised cut (GWM, thesis §3.3).

    Steps (spec A.4): segment descriptors V̄_k (:func:`segment_descriptors`), affinities
    ``Π_ij = max(ε, cos(V̄_i, V̄_j))`` (thesis eq. (3.6)), a 2-way normalised cut of the K-node graph
    (:func:`normalised_cut`; exact enumeration by default, ``solver=`` selects the Fiedler relaxation or
    scikit-learn's ``SpectralClustering`` as GWM's released code uses), and merged masks that are the sums
    of the member segments' masks (GWM code). Empty segments (mass ≤ 0) stay out of the cut and join
    cluster 0 (the background when a foreground rule is used).

    Which cluster is the foreground is not in the thesis. ``foreground``:

    * ``"border"`` (default): the cluster with more soft mass on the image border (a ring of
      ``border_width`` pixels) is the background — objects are rarely cut by the frame on all sides.
      This rule is our suggestion (spec A.4), not GWM's; ties fall back to ``"smaller"``.
    * ``"smaller"``: the cluster with the smaller total area is the foreground.
    * ``None``: the clusters are returned unlabelled (``labelled=False``), for GT-matched evaluation as
      in GWM's code (write ``masks`` as ``soft`` predictions and score them with a ``*-oracle-gwm``
      protocol, which takes the better of the two).

    Args:
        masks: soft masks (B, K, H, W).
        features: dense features (B, C, H, W) at the masks' resolution (DINO ViT keys in GWM; without
            weights, :func:`appearance_features`).
        eps: the affinity floor ε of eq. (3.6): thesis 1e-12; GWM's code clamps at 1e-6.
        foreground: ``"border"``, ``"smaller"`` or None (above).
        solver: ``"auto"``, ``"exact"``, ``"spectral"`` or ``"sklearn"`` (:func:`normalised_cut`).
        border_width: the border ring width in pixels for ``foreground="border"``.
        random_state: seed for ``solver="sklearn"`` (GWM: 0).

    Returns:
        A :class:`MergeResult`.

    Examples:
        >>> m = np.zeros((1, 3, 4, 4)); m[0, 0, :, :2] = 1; m[0, 1, :, 2:] = 1; m[0, 2, 1:3, 1:3] = 1
        >>> m[0, :2, 1:3, 1:3] = 0
        >>> f = np.stack([m[0, 0] + m[0, 1] - m[0, 2], m[0, 2]])[None]
        >>> spectral_merge(m, f).assignment.tolist()
        [[0, 0, 1]]
    """
    if foreground not in ("border", "smaller", None):
        raise ConfigError(f"foreground must be 'border', 'smaller' or None; got {foreground!r}")
    m = _numpy(masks, np.float64)
    desc = segment_descriptors(m, features, eps=0.0)
    b, k = desc.shape[:2]
    mass = m.reshape(b, k, -1).sum(-1)
    aff = cosine_affinity(desc, eps)
    assign = np.zeros((b, k), np.int64)
    ncut = np.full(b, np.inf)
    for i in range(b):
        active = np.flatnonzero(mass[i] > 0)
        if active.size >= 2:
            a, v = normalised_cut(aff[i][np.ix_(active, active)], solver, random_state)
            assign[i, active] = a
            ncut[i] = v
    merged = merge_masks(m, assign)
    if foreground is not None:
        area = merged.reshape(b, 2, -1).sum(-1)
        border = _border_mass(merged, max(1, int(border_width)))
        if foreground == "border":
            swap = (border[:, 1] > border[:, 0]) | (
                (border[:, 1] == border[:, 0]) & (area[:, 1] > area[:, 0])
            )
        else:
            swap = area[:, 1] > area[:, 0]
        assign[swap] = np.where(mass[swap] > 0, 1 - assign[swap], 0)  # empty segments stay background
        merged[swap] = merged[swap][:, ::-1]
    return MergeResult(assign, np.ascontiguousarray(merged), ncut, aff, foreground is not None)


# --------------------------------------------------------------------------------------------------------
# Appearance features without learned weights
# --------------------------------------------------------------------------------------------------------


def rgb_to_lab(image_hwc: np.ndarray) -> np.ndarray:
    """CIELAB of an (H, W, 3) RGB image in [0, 1] (sRGB, D65), scaled to about [0, 1] / [-1, 1]:
    ``L/100, a/100, b/100``."""
    import cv2

    lab = cv2.cvtColor(np.clip(image_hwc, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)
    return lab / np.float32(100.0)


def appearance_features(
    images: Any, kind: Literal["colour", "lab"] = "colour", window: int | None = None
) -> np.ndarray:
    """Dense per-pixel appearance features from colour alone: the fallback when no ViT weights exist.

    GWM merges with DINO ViT features (spelke.features); without weights this gives features for which
    segments of different colour or texture have different descriptors. ``kind``:

    * ``"lab"``: CIELAB (3 channels).
    * ``"colour"`` (default, 10 channels): CIELAB; its local mean and local standard deviation over a
      box of ``window`` pixels (default: 6% of the shorter side, odd, at least 3) — regional colour and
      texture contrast; and the box-averaged gradient magnitude of L (texture energy, weight 0.5).

    Every channel is centred on its image mean: the cosine affinity of eq. (3.6) then compares how
    segments deviate from the image average. Without centring, all-positive colour features have cosine
    near 1 for every pair and the cut would be arbitrary.

    Args:
        images: (B, 3, H, W) RGB in [0, 1] (or (3, H, W)).
        kind: ``"colour"`` or ``"lab"``.
        window: box size of the local statistics in pixels.

    Returns:
        (B, C, H, W) float32 features.
    """
    import cv2

    x = _numpy(images, np.float32)
    if x.ndim == 3:
        x = x[None]
    d = check_shape(x, ["B", "3", "H", "W"], "images")
    if kind not in ("colour", "lab"):
        raise ConfigError(f"appearance feature kind must be 'colour' or 'lab'; got {kind!r}")
    h, w = d["H"], d["W"]
    win = window or max(3, round(0.06 * min(h, w)))
    win = int(win) | 1
    out = []
    for img in x:
        lab = rgb_to_lab(img.transpose(1, 2, 0))
        chans = [lab]
        if kind == "colour":
            box = (win, win)
            mean = cv2.boxFilter(lab, -1, box, borderType=cv2.BORDER_REFLECT)
            sq = cv2.boxFilter(lab * lab, -1, box, borderType=cv2.BORDER_REFLECT)
            std = np.sqrt(np.maximum(sq - mean * mean, 0.0))
            gx = cv2.Sobel(lab[..., 0], cv2.CV_32F, 1, 0, ksize=3)
            gy = cv2.Sobel(lab[..., 0], cv2.CV_32F, 0, 1, ksize=3)
            grad = cv2.boxFilter(np.sqrt(gx * gx + gy * gy) / 8.0, -1, box, borderType=cv2.BORDER_REFLECT)
            chans += [mean, std, 0.5 * grad[..., None]]
        f = np.concatenate(chans, axis=-1)
        f = f - f.reshape(-1, f.shape[-1]).mean(0)
        out.append(f.transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(out), dtype=np.float32)


# --------------------------------------------------------------------------------------------------------
# Oracle merge (GWM Table 3.2, J_oracle) — looks at the ground truth
# --------------------------------------------------------------------------------------------------------


@dataclass
class OracleResult:
    """What :func:`oracle_merge` returns (an ORACLE: chosen with the ground truth).

    Attributes:
        assignment: (K,) int64, 1 = the segment joins the foreground. For label-map input K is
            ``labels.max() + 1`` (index = label id; absent ids are 0).
        iou: the IoU of the merged foreground with the ground-truth foreground.
        foreground: (H, W) bool merged foreground.
    """

    assignment: np.ndarray
    iou: float
    foreground: np.ndarray


def oracle_merge(masks_or_labels: Any, gt_foreground: Any, threshold: float = 0.5) -> OracleResult:
    """ORACLE: the fg/bg assignment of the K segments with the best IoU against the ground truth.

    GWM Table 3.2's ``J_oracle`` ("optimal oracle assignment of the components to foreground and
    background", thesis §3.4): all ``2^K`` assignments are enumerated (spec A.4 [R]). This looks at the
    ground truth; it is an upper bound for any merge, never a method.

    * A label map (H, W) of integer ids: the foreground of an assignment is the union of its segments;
      IoUs of all assignments follow from per-segment areas and intersections (exact, fast).
    * Soft masks (K, H, W): the foreground is ``Σ_{k∈A} p_k > threshold`` (GWM thresholds merged masks
      at 0.5), evaluated for every assignment.

    The IoU of two empty masks is 1.0 (davis2017-evaluation's convention, as :func:`spelke.eval.jaccard`).
    Ties go to the assignment with the smaller binary code (segment 0 = least significant bit).

    Args:
        masks_or_labels: label map (H, W) int or soft masks (K, H, W) float; at most 20 segments.
        gt_foreground: (H, W) ground truth, nonzero = foreground.
        threshold: binarisation of merged soft masks.

    Returns:
        An :class:`OracleResult`.
    """
    x = _numpy(masks_or_labels)
    g = _numpy(gt_foreground) != 0
    check_shape(g, ["H", "W"], "gt_foreground")
    if x.ndim == 2 and x.dtype.kind in "iub":
        x = x.astype(np.int64)
        if x.shape != g.shape:
            raise ShapeError(f"labels {x.shape} and gt_foreground {g.shape} must have the same (H, W)")
        if x.size and x.min() < 0:
            raise ShapeError("labels must be non-negative integer ids")
        ids = np.unique(x)
        k = ids.size
        if k > ORACLE_MAX_K:
            raise ConfigError(
                f"oracle_merge enumerates 2^K assignments; {k} segments is more than {ORACLE_MAX_K}"
            )
        idx = np.searchsorted(ids, x)
        area = np.bincount(idx.ravel(), minlength=k).astype(np.float64)
        inter = np.bincount(idx.ravel(), weights=g.ravel().astype(np.float64), minlength=k)
        codes = _codes(k)
        i_sum, a_sum = codes @ inter, codes @ area
        union = a_sum + g.sum() - i_sum
        iou = np.where(union > 0, i_sum / np.maximum(union, 1), 1.0)
        best = int(np.argmax(iou))
        assignment = np.zeros(int(ids.max()) + 1 if ids.size else 0, np.int64)
        assignment[ids] = codes[best].astype(np.int64)
        return OracleResult(assignment, float(iou[best]), np.isin(x, ids[codes[best] > 0]))
    if x.ndim != 3 or x.dtype.kind != "f":
        raise ShapeError(
            f"masks_or_labels must be an integer label map (H, W) or soft masks (K, H, W); got shape "
            f"{x.shape} dtype {x.dtype}"
        )
    d = check_shape(x, ["K", "H", "W"], "masks")
    if (d["H"], d["W"]) != g.shape:
        raise ShapeError(f"masks {x.shape} and gt_foreground {g.shape} must have the same (H, W)")
    k = d["K"]
    if k > ORACLE_MAX_K:
        raise ConfigError(f"oracle_merge enumerates 2^K assignments; K={k} is more than {ORACLE_MAX_K}")
    p = x.reshape(k, -1).astype(np.float32)
    gv = g.ravel()
    codes = _codes(k).astype(np.float32)
    ious = np.empty(len(codes))
    step = max(1, (1 << 24) // max(p.shape[1], 1))
    for s in range(0, len(codes), step):
        fg = codes[s : s + step] @ p > threshold
        inter = (fg & gv).sum(1)
        union = (fg | gv).sum(1)
        ious[s : s + step] = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    best = int(np.argmax(ious))
    a = codes[best].astype(np.int64)
    return OracleResult(a, float(ious[best]), (a.astype(np.float32) @ p > threshold).reshape(g.shape))


def _codes(k: int) -> np.ndarray:
    """All 2^k assignments as (2^k, k) float64 rows, row i = the bits of i (segment 0 = lowest bit)."""
    c = np.arange(2**k, dtype=np.int64)
    return ((c[:, None] >> np.arange(k)) & 1).astype(np.float64)


# --------------------------------------------------------------------------------------------------------
# Connected components (PPMP post-processing, thesis §4.4)
# --------------------------------------------------------------------------------------------------------


def _structure(connectivity: int) -> np.ndarray:
    from scipy import ndimage

    if connectivity not in (4, 8):
        raise ConfigError(f"connectivity must be 4 or 8; got {connectivity!r}")
    return ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)


def connected_components(
    labels: Any, max_segments: int, min_fraction: float = 0.001, connectivity: int = 8
) -> np.ndarray:
    """PPMP's post-processing (†): connected components, the K largest kept, the rest merged.

    Thesis §4.4 (spec B.4): "We isolate connected components in the model output, selecting the K
    largest masks, discarding any that are smaller than 0.1% of the image area, and combining the
    left-over and discarded ones with the largest mask overall." As PPMP's code: components of the argmax
    map (every label id split into its ``connectivity``-connected pieces; skimage's default is 8), sorted
    by area (ties: by label id, then raster order), and every component of rank ≥ ``max_segments`` or
    with area < ``min_fraction``·H·W relabelled into the largest one.

    Args:
        labels: label map (H, W) or (N, H, W) of ids (take the argmax of soft masks first).
        max_segments: K, the number of components kept.
        min_fraction: components smaller than this fraction of the image are discarded (PPMP: 0.001).
        connectivity: 8 (PPMP's code) or 4.

    Returns:
        int64 label maps of the input's shape with ids ``0 .. n-1``, ``n ≤ max_segments``, in decreasing
        order of component area; id 0 is the largest component together with everything merged into it.
        Every other id is one connected component of at least ``min_fraction`` of the image.
    """
    from scipy import ndimage

    x = _numpy(labels)
    if max_segments < 1:
        raise ConfigError(f"max_segments must be at least 1; got {max_segments}")
    single = x.ndim == 2
    x = x[None] if single else x
    if x.ndim != 3 or x.dtype.kind not in "iub":
        raise ShapeError(
            f"labels must be integer label maps (H, W) or (N, H, W); got shape {x.shape} dtype {x.dtype}"
        )
    st = _structure(connectivity)
    out = np.zeros(x.shape, np.int64)
    for n, lab in enumerate(x):
        comp = np.zeros(lab.shape, np.int64)
        areas: list[int] = []
        for v in np.unique(lab):
            cl, num = ndimage.label(lab == v, structure=st)
            if num:
                comp[cl > 0] = cl[cl > 0] + len(areas) - 1
                areas += np.bincount(cl.ravel(), minlength=num + 1)[1:].tolist()
        a = np.asarray(areas)
        order = np.argsort(-a, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        keep = (rank < max_segments) & (a >= min_fraction * lab.size)
        keep[order[0]] = True
        new = np.where(keep, rank, 0)  # kept components are a prefix of the size order: ids stay compact
        out[n] = new[comp]
    return out[0] if single else out


def clean_binary(
    mask: Any,
    min_fraction: float = 0.001,
    connectivity: int = 8,
    *,
    fill_holes: bool = True,
    keep_largest: bool = True,
) -> np.ndarray:
    """Connected-component clean-up of a binary foreground (GWM output after merging).

    Foreground components smaller than ``min_fraction`` of the image are removed (the largest one is
    kept when ``keep_largest``, so a prediction is never emptied), and, with ``fill_holes``, background
    components smaller than ``min_fraction`` that do not touch the image border (holes) are filled.
    Background uses the complementary connectivity (4 when the foreground uses 8), so that a hole's
    boundary is a closed foreground curve. Neither GWM nor PPMP defines this step; it mirrors PPMP's
    0.1% rule for the binary case (docs/fidelity.md).

    Args:
        mask: (H, W) or (N, H, W), nonzero = foreground.
        min_fraction: size threshold as a fraction of the image area.
        connectivity: foreground connectivity, 8 or 4.
        fill_holes: fill small enclosed background components.
        keep_largest: never remove the largest foreground component.

    Returns:
        bool masks of the input's shape.
    """
    from scipy import ndimage

    m = _numpy(mask) != 0
    single = m.ndim == 2
    m = m[None] if single else m
    if m.ndim != 3:
        raise ShapeError(f"mask must have shape (H, W) or (N, H, W); got {m.shape}")
    fg_st = _structure(connectivity)
    bg_st = _structure(12 - connectivity)
    out = m.copy()
    for n, x in enumerate(m):
        limit = min_fraction * x.size
        cl, num = ndimage.label(x, structure=fg_st)
        if num:
            a = np.bincount(cl.ravel(), minlength=num + 1)
            drop = a < limit
            drop[0] = False
            if keep_largest:
                drop[1 + int(np.argmax(a[1:]))] = False
            out[n][drop[cl]] = False
        if fill_holes:
            cl, num = ndimage.label(~out[n], structure=bg_st)
            if num:
                a = np.bincount(cl.ravel(), minlength=num + 1)
                edge = np.unique(np.concatenate([cl[0], cl[-1], cl[:, 0], cl[:, -1]]))
                fill = a < limit
                fill[0] = False
                fill[edge] = False
                out[n][fill[cl]] = True
    return out[0] if single else out
