"""The GWM flow loss: how well does a parametric flow model explain the flow inside each soft region?

Guess What Moves (thesis Ch. 3, App. C.2; spec gwm-ppmp.md A.2) trains a single-frame segmenter with the
residual of a per-region parametric flow fit. For soft masks ``p`` (softmax over K, thesis eq. (3.1))
and flow ``F`` the loss is

    L(F | I, Φ) = Σ_k min_θk Σ_u p_uk ‖F_u − A_k φ(u) − b_k‖²          thesis eqs. (3.3), (3.4)

with φ the coordinate embedding of :func:`flow_embedding` (thesis Table 3.2). The minimisation has the
closed form of App. C.2 in its centred version: with the weighted scatter matrices ``S = Z · Σ`` of
``[φ(u), F_u]`` over region k (``Z_k = Σ_u p_uk``),

    A*_k = S_FΩ S_ΩΩ⁻¹,   b*_k = μ_F − A*_k μ_Ω,   Z_k E*_k = tr(S_FF − S_FΩ S_ΩΩ⁻¹ S_ΩF),

so the loss is ``Σ_k Z_k E*_k`` (spec A.2.4, with the printed ``tr(Λ_FF − M*Λ_Ω̄Ω̄)`` corrected to
``tr(Λ_FF − M*Λ_Ω̄F)``). All B × K regions are solved at once in float64.

Three forms are selectable (docs/fidelity.md, "GWM and LRTL losses"):

* ``form="exact"`` (default): eq. (3.3) as above, linear weights ``p``, summed over pixels and the two
  flow components; the thesis's main statement.
* ``form="code"``: the released GWM code (spec A.2.5): least squares with squared weights ``p²`` (rows
  scaled by ``p_k``), reconstruction ``F̂ = Σ_k p_k ⊙ (φ̄ θ_k)`` and ``MSE(F, F̂)`` averaged over
  ``2·H·W``.
* ``form="ch5"``: thesis Ch. 5 eqs. (5.1)/(5.2): squared weights, ``Σ_k ‖M_k⊙F − E_k θ̂_k‖²_F``.

For hard (one-hot) masks ``exact == ch5`` and ``code == exact / (2·H·W)``.

Numerics. The features are standardised over the image before fitting (zero mean, unit variance per
feature); all three forms are invariant to such an affine change of features (the bias absorbs the
shift), so this only improves conditioning. A ridge ``λ_k = ridge · tr(S_ΩΩ,k) / D + 1e-12 · Z_k`` is
added to ``S_ΩΩ,k``: relative to the region's own spread, so it is unit-free and vanishes with the
region. The loss is then the minimum of the ridge-regularised objective (residual ``+ λ_k ‖A_k‖²`` in
standardised units), which is ≥ the unregularised minimum and keeps the envelope-theorem gradient
(spec A.2.3). Regions with mass ``Z_k ≤ 1e-12`` contribute 0.

Examples:
    >>> import torch
    >>> from spelke.losses import gwm_loss
    >>> masks = torch.zeros(1, 2, 8, 8); masks[:, 0, :, :4] = 1; masks[:, 1, :, 4:] = 1
    >>> flow = torch.zeros(1, 2, 8, 8); flow[:, 0, :, 4:] = 3.0      # the right half moves right
    >>> float(gwm_loss(masks, flow)) < 1e-6
    True
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from spelke._checks import check_shape
from spelke.errors import ConfigError, ShapeError

__all__ = [
    "EMBEDDING_DIMS",
    "GWM_COORDS",
    "GWM_FORMS",
    "GWM_MODELS",
    "fit_flow_models",
    "flow_embedding",
    "gwm_loss",
    "reconstruct_flow",
    "resize_flow",
]

FlowModel = Literal["constant", "affine", "quadratic"]
Coords = Literal["unit", "centered", "pixel"]
GWMForm = Literal["exact", "code", "ch5"]
Reduction = Literal["mean", "sum", "none"]

#: Number of non-bias features of each flow model (thesis Table 3.2).
EMBEDDING_DIMS: dict[str, int] = {"constant": 0, "affine": 2, "quadratic": 5}
GWM_MODELS = tuple(EMBEDDING_DIMS)
GWM_COORDS = ("unit", "centered", "pixel")
GWM_FORMS = ("exact", "code", "ch5")
_REDUCTIONS = ("mean", "sum", "none")

_EMPTY_MASS = 1e-12  # a region lighter than this (in pixels of mass) contributes nothing
_MASS_FLOOR = 1e-12  # ridge floor per unit of mass, in standardised feature units


def _choice(value: str, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def _coordinates(n: int, coords: str, device: torch.device | str | None, dtype: torch.dtype) -> torch.Tensor:
    """Coordinates of the ``n`` pixel centres along one axis."""
    i = torch.arange(n, device=device, dtype=dtype)
    if coords == "unit":  # the released GWM code: arange(n) / n, in [0, 1)
        return i / n
    if coords == "centered":  # [-1, 1], first and last pixel centres at the ends
        return 2.0 * i / (n - 1) - 1.0 if n > 1 else torch.zeros_like(i)
    return i  # "pixel": 0 .. n-1, pixel centres at integers


def flow_embedding(
    h: int,
    w: int,
    model: FlowModel = "quadratic",
    coords: Coords = "unit",
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """The coordinate embedding φ(u) of every pixel, without the bias column.

    Thesis Table 3.2 / spec A.2.2: ``"constant"`` has no features (only the bias ``b``), ``"affine"``
    is ``[x, y]``, ``"quadratic"`` (GWM's main model, 12 parameters with the bias) is
    ``[x, x², y, y², xy]``. The released code orders them ``[x, y, x², y², xy, 1]``; the order changes
    only the layout of θ, not any loss.

    Coordinates (``x`` along the width, ``y`` along the height, pixel ``(row i, column j)`` has
    ``(x, y)`` from ``(j, i)``):

    * ``"unit"`` (default, the released code): ``x = j / W``, ``y = i / H``, in [0, 1).
    * ``"centered"``: [-1, 1], ``x = 2 j / (W - 1) - 1`` (pixel centres at the ends).
    * ``"pixel"``: ``x = j``, ``y = i``.

    The losses of :func:`gwm_loss` do not depend on this choice (up to the ridge), because the span of
    ``[1, φ]`` is unchanged by a per-axis affine change of coordinates; θ does.

    Args:
        h: image height H.
        w: image width W.
        model: ``"constant"``, ``"affine"`` or ``"quadratic"``.
        coords: ``"unit"``, ``"centered"`` or ``"pixel"``.
        device: device of the result.
        dtype: dtype of the result (default: torch's default float dtype).

    Returns:
        ``(D, H, W)`` features with ``D`` = 0, 2 or 5.

    Examples:
        >>> flow_embedding(2, 4, "affine", "pixel")[0].tolist()
        [[0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0]]
    """
    _choice(model, "model", GWM_MODELS)
    _choice(coords, "coords", GWM_COORDS)
    dtype = dtype or torch.get_default_dtype()
    x = _coordinates(int(w), coords, device, dtype).view(1, -1).expand(int(h), int(w))
    y = _coordinates(int(h), coords, device, dtype).view(-1, 1).expand(int(h), int(w))
    if model == "constant":
        feats: list[torch.Tensor] = []
    elif model == "affine":
        feats = [x, y]
    else:
        feats = [x, x * x, y, y * y, x * y]
    if not feats:
        return torch.zeros(0, int(h), int(w), device=device, dtype=dtype)
    return torch.stack(feats)


def _standardised_embedding(
    h: int, w: int, model: str, coords: str, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """φ as ``(N, D)`` float64 standardised over the image, and the mean and scale that undo it."""
    phi = flow_embedding(h, w, model, coords, device=device, dtype=torch.float64).flatten(1).T
    mean = phi.mean(0)
    scale = (phi - mean).square().mean(0).sqrt()
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # a constant feature (H or W = 1)
    return (phi - mean) / scale, mean, scale


def _check_masks_flow(masks: torch.Tensor, flow: torch.Tensor) -> tuple[int, int, int, int]:
    b, k, h, w = check_shape(masks, ["B", "K", "H", "W"], "masks").values()
    if flow.ndim != 4 or tuple(flow.shape) != (b, 2, h, w):
        raise ShapeError(
            f"flow must have shape (B, 2, H, W) = {(b, 2, h, w)} to match masks {tuple(masks.shape)}, "
            f"got {tuple(flow.shape)}; resize the flow (spelke.losses.resize_flow) or upsample the mask "
            "logits to the flow's grid before the softmax"
        )
    return b, k, h, w


class _RegionFit:
    """Weighted least-squares fits of ``F ≈ A φ_std + b`` for all B × K regions at once (float64).

    Attributes:
        mass: ``(B, K)`` Z_k, the sum of the weights.
        empty: ``(B, K)`` bool, regions lighter than ``_EMPTY_MASS``.
        coef: ``(B, K, D, 2)`` Aᵀ in standardised feature units.
        bias: ``(B, K, 2)`` b in standardised feature units.
        energy: ``(B, K)`` Z_k E*_k = tr(S_FF − S_FΩ (S_ΩΩ + λ I)⁻¹ S_ΩF) ≥ 0.
    """

    def __init__(self, weights: torch.Tensor, phi: torch.Tensor, flow: torch.Tensor, ridge: float) -> None:
        # weights (B, K, N), phi (N, D), flow (B, 2, N); all float64.
        b, k, _ = weights.shape
        d = phi.shape[1]
        fl = flow.transpose(1, 2)  # (B, N, 2)
        mass = weights.sum(-1)
        self.empty = mass <= _EMPTY_MASS
        safe_mass = torch.where(self.empty, torch.ones_like(mass), mass)
        # First and second moments; the shared φφ products are computed once for the whole batch.
        m_phi = weights @ phi  # (B, K, D)
        m_f = weights @ fl  # (B, K, 2)
        if d:
            m_pp = (weights @ (phi[:, :, None] * phi[:, None, :]).flatten(1)).view(b, k, d, d)
            m_pf = (weights @ (fl[:, :, None, :] * phi[None, :, :, None]).flatten(2)).view(b, k, d, 2)
        else:
            m_pp = weights.new_zeros(b, k, 0, 0)
            m_pf = weights.new_zeros(b, k, 0, 2)
        m_ff = (weights @ (fl[:, :, :, None] * fl[:, :, None, :]).flatten(2)).view(b, k, 2, 2)
        inv = 1.0 / safe_mass[..., None, None]
        # Scatter matrices S = Z Σ (centred second moments), App. C.2 centred form.
        s_pp = m_pp - m_phi[..., :, None] * m_phi[..., None, :] * inv
        s_pf = m_pf - m_phi[..., :, None] * m_f[..., None, :] * inv
        s_ff = m_ff - m_f[..., :, None] * m_f[..., None, :] * inv
        mu_phi = m_phi / safe_mass[..., None]
        mu_f = m_f / safe_mass[..., None]
        e_ff = s_ff.diagonal(dim1=-2, dim2=-1).sum(-1)
        if d == 0:
            coef = s_pf  # (B, K, 0, 2)
            energy = e_ff
        else:
            eye = torch.eye(d, dtype=phi.dtype, device=phi.device)
            lam = ridge * s_pp.diagonal(dim1=-2, dim2=-1).sum(-1) / d + _MASS_FLOOR * mass
            lhs = s_pp + lam[..., None, None] * eye
            lhs = torch.where(self.empty[..., None, None], eye.expand_as(lhs), lhs)
            rhs = torch.where(self.empty[..., None, None], torch.zeros_like(s_pf), s_pf)
            coef = torch.linalg.solve(lhs, rhs)  # thesis App. C.2: A*ᵀ = S_ΩΩ⁻¹ S_ΩF
            energy = e_ff - (rhs * coef).sum((-2, -1))  # tr(S_FF − S_FΩ S_ΩΩ⁻¹ S_ΩF)
        self.mass = mass
        self.coef = coef
        self.bias = mu_f - (mu_phi[..., :, None] * coef).sum(-2)  # b* = μ_F − A* μ_Ω
        # Round-off can leave a degenerate region's energy a hair below zero.
        self.energy = torch.where(self.empty, torch.zeros_like(energy), energy.clamp_min(0.0))

    def reconstruct(self, masks: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        """``Σ_k p_k (A_k φ_std + b_k)`` as ``(B, 2, N)``."""
        per_pixel = torch.einsum("bkn,nd,bkdc->bcn", masks, phi, self.coef)
        return per_pixel + torch.einsum("bkn,bkc->bcn", masks, self.bias)


def _fit(
    masks: torch.Tensor, flow: torch.Tensor, model: str, coords: str, weighting: str, ridge: float
) -> tuple[_RegionFit, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    b, k, h, w = _check_masks_flow(masks, flow)
    if ridge < 0:
        raise ConfigError(f"ridge must be >= 0, got {ridge}")
    phi, mean, scale = _standardised_embedding(h, w, model, coords, masks.device)
    p = masks.to(torch.float64).reshape(b, k, h * w)
    f = flow.to(torch.float64).reshape(b, 2, h * w)
    weights = p if weighting == "linear" else p * p  # eq. (3.3) vs eqs. (5.1)/(5.2) and the code
    return _RegionFit(weights, phi, f, ridge), p, f, phi, mean, scale


def _reduce(per_item: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return per_item.mean()
    if reduction == "sum":
        return per_item.sum()
    return per_item


def gwm_loss(
    masks: torch.Tensor,
    flow: torch.Tensor,
    model: FlowModel = "quadratic",
    form: GWMForm = "exact",
    coords: Coords = "unit",
    ridge: float = 1e-6,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """The GWM flow-model loss of soft masks given the flow (thesis eqs. (3.3)-(3.4), App. C.2).

    The loss weight (0.03 in GWM and LRTL) belongs to the method's config, not here.

    Args:
        masks: ``(B, K, H, W)`` soft masks, probabilities over K (thesis eq. (3.1)).
        flow: ``(B, 2, H, W)`` flow in pixels, channel 0 = x, on the masks' grid.
        model: flow model, ``"constant"``, ``"affine"`` or ``"quadratic"`` (thesis Table 3.2).
        form: ``"exact"`` (eq. (3.3): ``Σ_k Z_k E*_k``, summed over pixels and both flow components),
            ``"code"`` (released code: squared-weight fit, ``MSE(F, Σ_k p_k F̂_k)`` averaged over
            ``2·H·W``) or ``"ch5"`` (eqs. (5.1)/(5.2): squared-weight fit, ``Σ_k ‖p_k⊙(F − F̂_k)‖²``).
        coords: coordinate normalisation of φ (see :func:`flow_embedding`); changes the loss only
            through the ridge.
        ridge: relative ridge on ``S_ΩΩ`` (times its mean diagonal in standardised units); 0 for none.
        reduction: over the batch, ``"mean"`` (default), ``"sum"`` or ``"none"`` (``(B,)``).

    Returns:
        The loss in the dtype of ``masks``; gradients reach ``masks`` and ``flow``.

    Raises:
        ShapeError: if the shapes disagree (both shapes are named).
        ConfigError: for an unknown model, form, coords or reduction, or a negative ridge.
    """
    _choice(model, "model", GWM_MODELS)
    _choice(form, "form", GWM_FORMS)
    _choice(coords, "coords", GWM_COORDS)
    _choice(reduction, "reduction", _REDUCTIONS)
    with torch.autocast(masks.device.type, enabled=False):
        fit, p, f, phi, _, _ = _fit(
            masks, flow, model, coords, "linear" if form == "exact" else "squared", ridge
        )
        if form == "code":
            # spec A.2.5: F̂ = Σ_k p_k ⊙ (emb θ_k), nn.MSELoss over B·2·H·W
            per_item = (f - fit.reconstruct(p, phi)).square().mean((1, 2))
        else:
            per_item = fit.energy.sum(1)  # thesis eq. (3.3) (or eq. (5.2) with squared weights)
        out = _reduce(per_item, reduction)
    return out.to(masks.dtype if masks.is_floating_point() else torch.get_default_dtype())


def fit_flow_models(
    masks: torch.Tensor,
    flow: torch.Tensor,
    model: FlowModel = "quadratic",
    form: GWMForm = "exact",
    coords: Coords = "unit",
    ridge: float = 1e-6,
) -> torch.Tensor:
    """The optimal per-region flow models θ*_k (thesis eq. (3.4), App. C.2).

    Args:
        masks: ``(B, K, H, W)`` soft masks.
        flow: ``(B, 2, H, W)`` flow in pixels.
        model: ``"constant"``, ``"affine"`` or ``"quadratic"``.
        form: ``"exact"`` fits with weights ``p`` (eq. (3.3)); ``"code"`` and ``"ch5"`` with ``p²``.
        coords: the coordinates θ refers to (see :func:`flow_embedding`).
        ridge: relative ridge, as in :func:`gwm_loss`.

    Returns:
        ``(B, K, 2, D + 1)`` float64: row ``c`` predicts flow channel ``c`` as
        ``θ[..., c, :D] · φ(u) + θ[..., c, D]`` with φ from :func:`flow_embedding` (same ``model`` and
        ``coords``); empty regions get θ = 0.
    """
    _choice(model, "model", GWM_MODELS)
    _choice(form, "form", GWM_FORMS)
    _choice(coords, "coords", GWM_COORDS)
    with torch.autocast(masks.device.type, enabled=False):
        fit, _, _, _, mean, scale = _fit(
            masks, flow, model, coords, "linear" if form == "exact" else "squared", ridge
        )
        a = fit.coef.transpose(-1, -2) / scale  # (B, K, 2, D) in the requested coordinates
        bias = fit.bias - (fit.coef * (mean / scale)[:, None]).sum(-2)  # undo φ_std = (φ − mean) / scale
        theta = torch.cat([a, bias[..., None]], -1)
        return torch.where(fit.empty[..., None, None], torch.zeros_like(theta), theta)


def reconstruct_flow(
    masks: torch.Tensor,
    theta: torch.Tensor,
    model: FlowModel = "quadratic",
    coords: Coords = "unit",
) -> torch.Tensor:
    """The flow the per-region models predict, blended by the masks: ``Σ_k p_k (θ_k φ̄(u))``.

    For visualisation (pass one-hot masks for a piecewise flow); with the masks and θ of
    ``fit_flow_models(..., form="code")`` this is the ``F̂`` of the released code's loss.

    Args:
        masks: ``(B, K, H, W)`` soft masks.
        theta: ``(B, K, 2, D + 1)`` from :func:`fit_flow_models` (same ``model`` and ``coords``).
        model: the flow model θ belongs to.
        coords: the coordinates θ refers to.

    Returns:
        ``(B, 2, H, W)`` flow in pixels, in the dtype of ``masks``.
    """
    b, k, h, w = check_shape(masks, ["B", "K", "H", "W"], "masks").values()
    d = EMBEDDING_DIMS[_choice(model, "model", GWM_MODELS)]
    if theta.ndim != 4 or tuple(theta.shape) != (b, k, 2, d + 1):
        raise ShapeError(
            f"theta must have shape (B, K, 2, D+1) = {(b, k, 2, d + 1)} for masks {tuple(masks.shape)} "
            f"and model {model!r}, got {tuple(theta.shape)}"
        )
    phi = flow_embedding(h, w, model, coords, device=masks.device, dtype=torch.float64).flatten(1)
    phi_bar = torch.cat([phi, torch.ones_like(phi[:1])], 0)  # (D + 1, N)
    out = torch.einsum(
        "bkn,bkcd,dn->bcn", masks.to(torch.float64).flatten(2), theta.to(torch.float64), phi_bar
    )
    return out.reshape(b, 2, h, w).to(masks.dtype)


def resize_flow(
    flow: torch.Tensor,
    size: tuple[int, int],
    mode: str = "nearest",
    clip: float | None = None,
) -> torch.Tensor:
    """Resize flow to ``size = (H, W)`` and rescale u, v to the new pixel size.

    GWM resizes RAFT flow to 480×854 by nearest neighbour, rescales the vectors and clips them to
    [-20, 20] (thesis App. C.1; spec A.2.5 item 5): ``resize_flow(f, (480, 854), clip=20)``.

    Args:
        flow: ``(2, H, W)`` or ``(B, 2, H, W)`` flow in pixels, channel 0 = x.
        size: the target ``(H, W)``.
        mode: ``torch.nn.functional.interpolate`` mode (``"nearest"``, ``"bilinear"``, ...).
        clip: clip the rescaled values to ``[-clip, clip]``; None (default) for no clipping.

    Returns:
        The resized flow, same number of axes and dtype as ``flow``.
    """
    squeeze = flow.ndim == 3
    x = flow[None] if squeeze else flow
    check_shape(x, ["B", "2", "H", "W"], "flow")
    h, w = x.shape[-2:]
    size = (int(size[0]), int(size[1]))
    if (h, w) != size:
        kw = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
        x = F.interpolate(x, size=size, mode=mode, **kw)
        scale = torch.tensor([size[1] / w, size[0] / h], dtype=x.dtype, device=x.device).view(1, 2, 1, 1)
        x = x * scale
    if clip is not None:
        x = x.clamp(-float(clip), float(clip))
    return x[0] if squeeze else x
