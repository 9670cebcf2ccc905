"""The PPMP loss: how probable is the flow inside each region once its motion is integrated out?

Probable Motion Patterns (thesis Ch. 4, App. D; spec gwm-ppmp.md Part B) trains a single-frame
segmenter Φ with the marginal likelihood of the optical flow under a rigid parametric motion per region.
With the K-way soft output ``π = softmax(logits)`` (thesis Sec. 4.3) the objective is

    L_β = E_{m ~ p_Φ(m | I)} [−log p(f | m)] + β KL(p_Φ(m | I) ‖ p_0(m))          thesis eq. (4.1)

where each region's flow is ``f_k = P_k θ_k − Ω_k + ε`` (eqs. (4.2)-(4.3)), ``θ_k ~ N(μ, Σ)``,
``ε ~ N(0, σ² I)``, regions independent (eq. (4.4)), so

    p(f_k | m_k) = N(f_k; Π_μ(Ω_k) − Ω_k, P_k Σ P_kᵀ + σ² I)                          thesis eq. (4.5)

evaluated without the ``2n_k × 2n_k`` covariance (determinant lemma + Woodbury, eqs. (4.6), (D.9)):

    −log p(f_k | m_k) = n_k log 2πσ² + ½ log(det S_k / det Λ) + d_k² / (2σ²)
    S_k = P_kᵀ W_k P_k / σ² + Λ,   d_k² = F_kᵀ W_k F_k − F_kᵀ W_k P_k S_k⁻¹ P_kᵀ W_k F_k / σ²   (D.10)

with ``Λ = Σ⁻¹``, ``F_k = f − (Π_μ(Ω_k) − Ω_k)`` the flow centred on the prior's mean motion and
``W_k = diag(m_k)`` the mask weights: every inner product is ``aᵀb = Σ_i a_i b_i m_ik`` (App. D.1.1).

Motion models (eq. (4.3)), pixel coordinates ``x`` right, ``y`` down (App. D.4 footnote), in pixels,
**centred at each region's (weighted) centroid** (App. D.1.1, Alg. 1 lines 9-10):

* ``"translation"``: θ = (t_x, t_y), ``P_k = blockdiag(1, 1)``; identity θ = 0.
* ``"affine"``: θ = (a_xx, a_xy, t_x, a_yx, a_yy, t_y), ``P_k = blockdiag(G_k, G_k)`` with
  ``G_k = [x̃ ỹ 1]``; identity θ = (1, 0, 0, 0, 1, 0), so the flow is ``(θ1 − 1) x̃ + θ2 ỹ + θ3``.

Equation map (docs/losses.md has the full table):

* eq. (D.10) / Alg. 1 (with the spec's three corrections: ``D_k`` is the *inverse* of the Schur
  complement, the quadratic form is ``h A hᵀ + h B rᵀ + r C hᵀ + r D rᵀ``, and ``q_k`` carries the
  inner ``1/σ²``): :func:`region_log_marginal` and ``ppmp_nll(translation_form="regions")``. The
  moments ``G_kᵀW_kG_k``, ``h_k``, ``r_k`` are Alg. 1 lines 8-32; the 6×6 (or 2×2) algebra is done
  with one Cholesky factorisation instead of the 3×3 block inverse of lines 17-20 (same S_k⁻¹ and
  det S_k, see "Numerics").
* eq. (D.12) (translation, the thesis's implementation form): ``ppmp_nll(translation_form="d12")``,
  ``Σ_i (u_i − Σ_k ū_k w_k m_ik)² + …`` with ``w_k = 1 − sqrt(ν / (n_k + ν))``, ``ν = σ²/τ²``. Equal
  to D.10/D.11 for one-hot masks; for soft masks the two differ (docs/fidelity.md).
* Gumbel-softmax relaxation (Sec. 4.3, N = 3 samples): :func:`gumbel_softmax_masks`.
* ``KL(Categorical(π) ‖ Uniform(K)) = Σ_i Σ_k π_ik log(K π_ik)``: :func:`ppmp_kl`.
* β annealed linearly 0.1 → −0.1 over 5k iterations, then held (App. D.3): :func:`ppmp_beta`.
* σ² = 0.5, μ and Σ of App. D.3 / D.4 and the τ² of App. D.3.1: :data:`PPMP_PRIORS`, :func:`ppmp_prior`.

What soft masks mean. With weights ``m_ik ∈ [0, 1]`` the closed form above is exactly
``log ∫ Π_i N(f_i; P_i θ − Ω_i, σ² I)^{m_ik} N(θ; μ, Σ) dθ``: every pixel's likelihood is tempered by its
mask weight. For one-hot masks this is eq. (4.5); the tests check the soft case against
``N(f; ·, P Σ Pᵀ + σ² diag(1/m))`` plus the tempering constant.

Numerics (docs/fidelity.md, "PPMP loss"):

* Coordinates are centred twice: on the image centre (so an empty region's fallback origin is the
  middle of the image) and then on each region's centroid with two passes (centroid first, then
  moments of the centred coordinates), as Alg. 1 does; the centroid divides by ``max(n_k, eps)``.
* The per-pixel passes run in the inputs' dtype (float32, or float64 if given); the small matrices run
  in float64. With ``Σ = C Cᵀ`` (Cholesky, once per call), ``S_k = C⁻ᵀ T_k C⁻¹`` with
  ``T_k = I + Cᵀ (P_kᵀW_kP_k / σ²) C``, whose eigenvalues are ≥ 1: ``log det S_k − log det Λ =
  log det T_k`` comes from the Cholesky factor of ``T_k`` (0 for an empty region, never a difference
  of two large log-determinants), and ``S_k⁻¹ = C T_k⁻¹ Cᵀ`` needs no inverse of Σ.
* ``d_k²`` is evaluated (default ``quadratic="residual"``) as the minimum of the ridge problem it is
  equal to, ``Σ_i m_ik ‖F_i − P_i θ*_k‖² + σ² θ*_kᵀ Λ θ*_k`` with the posterior mean
  ``θ*_k = S_k⁻¹ P_kᵀW_kF_k / σ²``: a sum of non-negative terms, free of the cancellation in
  ``F_kᵀW_kF_k − q_k/σ²`` that costs float32 several digits for large, well-explained regions.
  ``quadratic="direct"`` evaluates D.10 literally (clamped at 0).
* Empty regions contribute exactly 0; a one-pixel region is finite (its centred coordinates are 0).

Examples:
    >>> import torch
    >>> from spelke.losses import ppmp_loss, ppmp_beta
    >>> logits = torch.zeros(1, 3, 8, 8); logits[:, 0, :, :4] = 9.0; logits[:, 1, :, 4:] = 9.0
    >>> flow = torch.zeros(1, 2, 8, 8); flow[:, 0, :, 4:] = 3.0
    >>> terms = ppmp_loss(logits, flow, beta=ppmp_beta(0), generator=torch.Generator().manual_seed(0))
    >>> sorted(terms)
    ['kl', 'loss', 'nll']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import torch

from spelke._checks import check_shape
from spelke.errors import ConfigError, ShapeError

__all__ = [
    "PPMP_MOTION_MODELS",
    "PPMP_PRIORS",
    "PPMP_SIGMA2",
    "PPMPPrior",
    "gumbel_softmax_masks",
    "ppmp_beta",
    "ppmp_kl",
    "ppmp_loss",
    "ppmp_nll",
    "ppmp_prior",
    "region_log_marginal",
]

MotionModel = Literal["translation", "affine"]
TranslationForm = Literal["d12", "regions"]
Quadratic = Literal["residual", "direct"]
Reduction = Literal["sum", "mean"]

#: The motion models of thesis eq. (4.3).
PPMP_MOTION_MODELS = ("translation", "affine")
#: Noise variance σ² of eq. (4.2) (thesis App. D.3; the GNM ablation of App. D.3.1 uses 0.1).
PPMP_SIGMA2 = 0.5
_TRANSLATION_FORMS = ("d12", "regions")
_QUADRATICS = ("residual", "direct")
_REDUCTIONS = ("sum", "mean")
_N_PARAMS = {"translation": 2, "affine": 6}
#: θ of "no motion": Π_θ(Ω) = Ω (thesis Sec. 4.3, "centering the prior on the no-motion point").
_IDENTITY = {"translation": (0.0, 0.0), "affine": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)}
_DEFAULT_PRIOR = {"translation": "translation-generic", "affine": "affine-generic"}
_EPS = 1e-6  # centroid and mean denominators: max(n_k, eps) pixels of mass


def _choice(value: object, name: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {list(choices)}, got {value!r}")


# ------------------------------------------------------------------------------------------- priors


@dataclass(frozen=True)
class PPMPPrior:
    """A Gaussian prior ``N(θ; μ, Σ)`` on one region's motion parameters (thesis eq. (4.5)).

    ``mean`` and ``cov`` are in the thesis's parameterisation: translation θ = (t_x, t_y) with
    identity (0, 0); affine θ = (a_xx, a_xy, t_x, a_yx, a_yy, t_y) with identity (1, 0, 0, 0, 1, 0),
    in pixels of the flow's grid, coordinates centred at the region's centroid.

    Attributes:
        motion_model: ``"translation"`` or ``"affine"``.
        mean: μ, 2 or 6 numbers.
        cov: Σ, a symmetric positive definite 2×2 or 6×6 matrix (rows as tuples).
        source: where the values come from (``"thesis App. D.3"``).

    Raises:
        ConfigError: for an unknown model, wrong sizes, or a Σ that is not symmetric positive definite.
    """

    motion_model: str
    mean: tuple[float, ...]
    cov: tuple[tuple[float, ...], ...]
    source: str = ""

    def __post_init__(self) -> None:
        _choice(self.motion_model, "motion_model", PPMP_MOTION_MODELS)
        p = _N_PARAMS[self.motion_model]
        mean = tuple(float(v) for v in self.mean)
        cov = tuple(tuple(float(v) for v in row) for row in self.cov)
        if len(mean) != p:
            raise ConfigError(f"a {self.motion_model} prior needs a mean of {p} numbers, got {len(mean)}")
        if len(cov) != p or any(len(row) != p for row in cov):
            raise ConfigError(
                f"a {self.motion_model} prior needs a {p}x{p} covariance, got rows of lengths "
                f"{[len(row) for row in cov]}"
            )
        c = torch.tensor(cov, dtype=torch.float64)
        if not torch.allclose(c, c.T, rtol=0.0, atol=1e-12 * float(c.abs().max())):
            raise ConfigError(f"the prior covariance must be symmetric, got {cov}")
        if int(torch.linalg.cholesky_ex(c).info) != 0:
            raise ConfigError(
                f"the prior covariance must be positive definite, got eigenvalues "
                f"{torch.linalg.eigvalsh(c).tolist()}"
            )
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "cov", cov)

    @classmethod
    def translation(
        cls, tau2: float | tuple[float, float], mean: tuple[float, float] = (0.0, 0.0), source: str = ""
    ) -> PPMPPrior:
        """The translation prior ``N(0, τ² I)`` of thesis App. D.1.1 (``tau2`` per axis if a pair)."""
        tx, ty = (tau2, tau2) if isinstance(tau2, int | float) else tau2
        return cls("translation", mean, ((tx, 0.0), (0.0, ty)), source)

    @classmethod
    def affine(
        cls,
        cov: tuple[tuple[float, ...], ...] | list[list[float]],
        mean: tuple[float, ...] = _IDENTITY["affine"],
        source: str = "",
    ) -> PPMPPrior:
        """An affine prior; ``mean`` defaults to the no-motion point (1, 0, 0, 0, 1, 0)."""
        return cls("affine", tuple(mean), tuple(tuple(r) for r in cov), source)

    def _internal(self, device: torch.device) -> tuple[list[float], torch.Tensor]:
        """The mean's deviation from no motion, ``μ − θ_id``, and ``chol(Σ)`` (float64)."""
        dev = [a - b for a, b in zip(self.mean, _IDENTITY[self.motion_model], strict=True)]
        chol = torch.linalg.cholesky(torch.tensor(self.cov, dtype=torch.float64, device=device))
        return dev, chol


def _diag6(*d: float) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(v if i == j else 0.0 for j, v in enumerate(d)) for i in range(6))


_MOVI_A = (  # thesis App. D.4, Σ_MOVi-A as printed (symmetric, positive definite)
    (0.006, -0.00004, 0.0, 0.00004, 0.001, 0.0),
    (-0.00004, 0.04, 0.0, -0.01, -0.00008, 0.0),
    (0.0, 0.0, 16.0, 0.0, 0.0, 0.0),
    (0.00004, -0.01, 0.0, 0.04, 0.00004, 0.0),
    (0.001, -0.00008, 0.0, 0.00004, 0.006, 0.0),
    (0.0, 0.0, 0.0, 0.0, 0.0, 14.0),
)
_MOVI_C = (  # thesis App. D.4, Σ_MOVi-C as printed
    (0.02, 0.00002, 0.0, 0.000009, 0.002, 0.0),
    (0.00002, 0.03, 0.0, -0.009, -0.000006, 0.0),
    (0.0, 0.0, 36.0, 0.0, 0.0, 0.0),
    (0.000009, -0.009, 0.0, 0.04, -0.00007, 0.0),
    (0.002, -0.000006, 0.0, -0.00007, 0.02, 0.0),
    (0.0, 0.0, 0.0, 0.0, 0.0, 34.0),
)

#: Named priors. ``affine-*``: μ and Σ of thesis App. D.3 (generic) and App. D.4 (tuned, MOVi-A/C,
#: with mean downward motion μ6 = 1.5 / 1.8). ``translation-*``: τ² of App. D.3.1 (CLEVR/ClevrTex 0.5,
#: MOVi-A 16, MOVi-C 34); ``translation-generic`` (τ² = 15, the generic Σ's translation variance) is
#: ours (docs/fidelity.md).
PPMP_PRIORS: Mapping[str, PPMPPrior] = MappingProxyType(
    {
        "affine-generic": PPMPPrior.affine(
            _diag6(0.005, 0.05, 15.0, 0.05, 0.005, 15.0), source="thesis App. D.3"
        ),
        "affine-movi-a": PPMPPrior.affine(_MOVI_A, (1.0, 0.0, 0.0, 0.0, 1.0, 1.5), "thesis App. D.4"),
        "affine-movi-c": PPMPPrior.affine(_MOVI_C, (1.0, 0.0, 0.0, 0.0, 1.0, 1.8), "thesis App. D.4"),
        "translation-generic": PPMPPrior.translation(
            15.0, source="spelke: the translation variance of the App. D.3 Σ"
        ),
        "translation-clevr": PPMPPrior.translation(0.5, source="thesis App. D.3.1 (CLEVR/ClevrTex)"),
        "translation-movi-a": PPMPPrior.translation(16.0, source="thesis App. D.3.1 (MOVi-A)"),
        "translation-movi-c": PPMPPrior.translation(34.0, source="thesis App. D.3.1 (MOVi-C)"),
    }
)


def ppmp_prior(name: str) -> PPMPPrior:
    """The named prior preset (see :data:`PPMP_PRIORS`).

    Raises:
        ConfigError: for an unknown name; the message lists the valid ones.

    Examples:
        >>> ppmp_prior("affine-generic").cov[2][2]
        15.0
    """
    if name not in PPMP_PRIORS:
        raise ConfigError(f"unknown PPMP prior {name!r}; valid presets: {sorted(PPMP_PRIORS)}")
    return PPMP_PRIORS[name]


def _resolve_prior(prior: str | PPMPPrior | None, motion_model: str) -> PPMPPrior:
    _choice(motion_model, "motion_model", PPMP_MOTION_MODELS)
    if prior is None:
        prior = _DEFAULT_PRIOR[motion_model]
    p = ppmp_prior(prior) if isinstance(prior, str) else prior
    if not isinstance(p, PPMPPrior):
        raise ConfigError(f"prior must be a preset name or a PPMPPrior, got {type(prior).__name__}")
    if p.motion_model != motion_model:
        valid = sorted(k for k, v in PPMP_PRIORS.items() if v.motion_model == motion_model)
        raise ConfigError(
            f"prior is for the {p.motion_model} model but motion_model={motion_model!r}; "
            f"presets for {motion_model}: {valid}"
        )
    return p


# ------------------------------------------------------------------------------------- schedule, KL


def ppmp_beta(step: int, *, start: float = 0.1, end: float = -0.1, steps: int = 5000) -> float:
    """The KL weight β at a training step: linear from 0.1 to −0.1 over 5k iterations, then held.

    Thesis App. D.3: "linearly anneal β from 0.1 to −0.1 over 5k iterations". Negative β rewards
    low-entropy (confident) masks. The same schedule as a config object is
    ``spelke.engine.schedules.Linear(start=0.1, end=-0.1, steps=5000)``.

    Examples:
        >>> ppmp_beta(0), ppmp_beta(2500), ppmp_beta(5000), ppmp_beta(10**6)
        (0.1, 0.0, -0.1, -0.1)
    """
    if steps <= 0:
        return float(end)
    a = min(max(step / steps, 0.0), 1.0)
    return float(start + a * (end - start))


def ppmp_kl(logits: torch.Tensor) -> torch.Tensor:
    """``KL(p_Φ(m | I) ‖ p_0(m))`` per image for independent pixels and a uniform prior over K.

    Thesis eq. (4.1) with ``p_Φ = Categorical[softmax(logits)]`` per pixel (spec B.2.1):
    ``Σ_i Σ_k π_ik (log π_ik + log K)``, summed over pixels, ≥ 0, 0 for uniform logits.

    Args:
        logits: ``(B, K, H, W)`` mask logits (softmax over K).

    Returns:
        ``(B,)`` in the logits' dtype (float32 at least).
    """
    check_shape(logits, ["B", "K", "H", "W"], "logits")
    k = logits.shape[1]
    z = logits if logits.dtype == torch.float64 else logits.float()
    logp = torch.log_softmax(z, dim=1)
    return (logp.exp() * (logp + math.log(k))).sum((1, 2, 3))


# ------------------------------------------------------------------------------------------ sampling


def gumbel_softmax_masks(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    num_samples: int = 1,
    generator: torch.Generator | None = None,
    min_prob: float | None = None,
) -> torch.Tensor:
    """Relaxed categorical (Gumbel-softmax / Concrete) mask samples (thesis Sec. 4.3).

    ``m̂ = softmax((logits + g) / temperature)`` over K with ``g = −log(−log U)``, ``U ~ U(0, 1)``
    i.i.d. per sample, image, slot and pixel (Maddison et al. 2017, Jang et al. 2017). Soft samples,
    not straight-through; gradients reach the logits. The argmax of a sample is a draw from
    ``Categorical(softmax(logits))`` at any temperature.

    Args:
        logits: ``(B, K, H, W)``.
        temperature: λ > 0 (not stated in the thesis; the released code uses 1.0).
        num_samples: N samples per image (the thesis uses N = 3).
        generator: the source of the noise, for reproducible samples; the noise is drawn on the
            generator's device (a CPU generator also serves CUDA logits, with the same samples) and
            moved to the logits' device. None: torch's global generator on the logits' device.
        min_prob: if given, clamp the samples to ``[min_prob, 1 − min_prob]`` and renormalise (the
            released code uses 1e-5); None (default) leaves them as they are.

    Returns:
        ``(N, B, K, H, W)`` samples, each pixel's K values summing to one; float32 (float64 for float64
        logits).

    Raises:
        ConfigError: for temperature ≤ 0, num_samples < 1 or min_prob outside [0, 1/K).
    """
    b, k, h, w = check_shape(logits, ["B", "K", "H", "W"], "logits").values()
    if not temperature > 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    if int(num_samples) < 1:
        raise ConfigError(f"num_samples must be >= 1, got {num_samples}")
    if min_prob is not None and not 0.0 <= min_prob < 1.0 / k:
        raise ConfigError(f"min_prob must be in [0, 1/K) = [0, {1.0 / k:g}), got {min_prob}")
    dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32
    device = generator.device if generator is not None else logits.device
    u = torch.rand((int(num_samples), b, k, h, w), generator=generator, device=device, dtype=dtype)
    u = u.to(logits.device).clamp_min(torch.finfo(dtype).tiny)  # rand is in [0, 1): keep log(U) finite
    g = -torch.log(-torch.log(u))
    out = torch.softmax((logits.to(dtype)[None] + g) / float(temperature), dim=2)
    if min_prob:
        out = out.clamp(min_prob, 1.0 - min_prob)
        out = out / out.sum(2, keepdim=True)
    return out


# ------------------------------------------------------------------------------------ the likelihood


def _check_masks_flow(
    masks: torch.Tensor, flow: torch.Tensor, name: str = "masks", min_k: int = 1
) -> tuple[int, ...]:
    b, k, h, w = check_shape(masks, ["B", "K", "H", "W"], name).values()
    if k < min_k:
        why = "; PPMP segments an image into regions, the thesis uses K = 11, 22 or 24" if min_k > 1 else ""
        raise ConfigError(
            f"{name} must have K >= {min_k} regions (valid: any integer K >= {min_k}{why}), got K = {k}"
        )
    if flow.ndim != 4 or tuple(flow.shape) != (b, 2, h, w):
        raise ShapeError(
            f"flow must have shape (B, 2, H, W) = {(b, 2, h, w)} to match {name} {tuple(masks.shape)}, "
            f"got {tuple(flow.shape)}; resize the flow (spelke.losses.resize_flow) or the {name} to "
            "one grid first"
        )
    return b, k, h, w


def _compute_dtype(*xs: torch.Tensor) -> torch.dtype:
    return torch.float64 if any(x.dtype == torch.float64 for x in xs) else torch.float32


def _grid(h: int, w: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates (x right, y down) relative to the image centre, flattened row-major."""
    x = torch.arange(w, device=device, dtype=dtype) - (w - 1) / 2
    y = torch.arange(h, device=device, dtype=dtype) - (h - 1) / 2
    return x.repeat(h), y.repeat_interleave(w)


def _cholesky_at_least_one(t: torch.Tensor) -> torch.Tensor:
    """Cholesky factor of ``T = I + Cᵀ M C``, whose exact eigenvalues are all ≥ 1.

    Round-off in the float32 moments could in principle leave a T slightly indefinite; those matrices
    are replaced by their projection with eigenvalues clamped to ≥ 1 (the exact matrix's spectrum).
    """
    chol, info = torch.linalg.cholesky_ex(t)
    bad = info != 0
    if bool(bad.any()):
        evals, evecs = torch.linalg.eigh(t)
        fixed = (evecs * evals.clamp_min(1.0)[..., None, :]) @ evecs.transpose(-1, -2)
        chol = torch.linalg.cholesky(torch.where(bad[..., None, None], fixed, t))
    return chol


def _regions_nll(
    m: torch.Tensor,
    u: torch.Tensor,
    v: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    model: str,
    dev: list[float],
    chol_sigma: torch.Tensor,
    sigma2: float,
    quadratic: str,
    eps: float,
) -> torch.Tensor:
    """−log p(f_k | m_k) of thesis eq. (D.10), per region, for masks ``m`` of shape ``(*L, K, P)``.

    ``u, v`` broadcast against ``(*L, 1, P)``; ``x, y`` are ``(P,)``; ``dev = μ − θ_id``;
    ``chol_sigma = chol(Σ)`` is float64. Returns ``(*L, K)`` in the dtype of ``m``.
    """
    dtype = m.dtype
    n = m.sum(-1)  # n_k = Σ_i m_ik (Alg. 1 line 8)
    if model == "affine":
        nc = n.clamp_min(eps)[..., None]
        xt = x - (m * x).sum(-1, keepdim=True) / nc  # centroid origin (Alg. 1 lines 9-10)
        yt = y - (m * y).sum(-1, keepdim=True) / nc
        mx, my = m * xt, m * yt
        sxx, sxy, syy = (mx * xt).sum(-1), (mx * yt).sum(-1), (my * yt).sum(-1)
        sx, sy = mx.sum(-1), my.sum(-1)  # ≈ 0 by the centring; kept for exactness
        gram = torch.stack(  # G_kᵀ W_k G_k (Alg. 1 line 16)
            [torch.stack([sxx, sxy, sx], -1), torch.stack([sxy, syy, sy], -1), torch.stack([sx, sy, n], -1)],
            -2,
        )
        # Flow centred on the prior's mean motion (Alg. 1 lines 22-23): F = f − ((μ1−1)x̃ + μ2ỹ + μ3, …)
        uh = u - (dev[0] * xt + dev[1] * yt + dev[2]) if any(dev[:3]) else u
        vh = v - (dev[3] * xt + dev[4] * yt + dev[5]) if any(dev[3:]) else v
        h_k = torch.stack([(mx * uh).sum(-1), (my * uh).sum(-1), (m * uh).sum(-1)], -1)  # lines 25-28
        r_k = torch.stack([(mx * vh).sum(-1), (my * vh).sum(-1), (m * vh).sum(-1)], -1)  # lines 29-32
    else:
        gram = n[..., None, None]  # 1ᵀ W_k 1 = n_k (App. D.1.1, translation)
        uh, vh = u - dev[0], v - dev[1]  # F = f − μ
        h_k, r_k = (m * uh).sum(-1)[..., None], (m * vh).sum(-1)[..., None]
    # Small-matrix algebra in float64. P_kᵀW_kP_k = blockdiag(G, G); P_kᵀW_kF_k = [h_k; r_k].
    p = gram.shape[-1]
    g64 = gram.to(torch.float64) / sigma2
    zero = torch.zeros_like(g64)
    big_m = torch.cat([torch.cat([g64, zero], -1), torch.cat([zero, g64], -1)], -2)
    c = chol_sigma
    eye = torch.eye(2 * p, dtype=torch.float64, device=m.device)
    t = eye + c.T @ big_m @ c  # S_k = C⁻ᵀ T_k C⁻¹ with Σ = C Cᵀ
    chol_t = _cholesky_at_least_one(t)
    logdet_ratio = 2.0 * chol_t.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # log det S_k − log det Λ
    a = (torch.cat([h_k, r_k], -1).to(torch.float64) @ c) / sigma2  # Cᵀ P_kᵀW_kF_k / σ²
    z = torch.cholesky_solve(a[..., None], chol_t)[..., 0]  # T_k⁻¹ a; θ*_k = C z = S_k⁻¹ P_kᵀW_kF_k / σ²
    if quadratic == "residual":
        theta = (z @ c.T).to(dtype)  # posterior mean of θ_k − μ
        if model == "affine":
            pred_u = theta[..., 0, None] * xt + theta[..., 1, None] * yt + theta[..., 2, None]
            pred_v = theta[..., 3, None] * xt + theta[..., 4, None] * yt + theta[..., 5, None]
        else:
            pred_u, pred_v = theta[..., 0, None], theta[..., 1, None]
        fit = (m * ((uh - pred_u).square() + (vh - pred_v).square())).sum(-1)
        d2 = fit + (sigma2 * z.square().sum(-1)).to(dtype)  # + σ² θ*ᵀΛθ* = σ² ‖z‖²
    else:
        ff = (m * (uh.square() + vh.square())).sum(-1)  # F_kᵀ W_k F_k (Alg. 1 line 24)
        q = (sigma2 * (a * z).sum(-1)).to(dtype)  # q_k / σ² = F_kᵀW_kP_k S_k⁻¹ P_kᵀW_kF_k / σ²
        d2 = (ff - q).clamp_min(0.0)
    # thesis eq. (D.10) per region: n_k log 2πσ² + ½ log(det S_k / det Λ) + d_k² / (2σ²)
    return n * math.log(2 * math.pi * sigma2) + 0.5 * logdet_ratio.to(dtype) + d2 / (2 * sigma2)


def _d12_nll(
    m: torch.Tensor,
    u: torch.Tensor,
    v: torch.Tensor,
    prior: PPMPPrior,
    sigma2: float,
    hw: int,
    eps: float,
) -> torch.Tensor:
    """−log p(f | m) of thesis eq. (D.12) (translation, diagonal Σ) for ``m`` of shape ``(*L, K, P)``."""
    (tx, cxy), (_, ty) = prior.cov
    if cxy != 0.0:
        raise ConfigError(
            "translation_form='d12' (thesis eq. (D.12)) needs a diagonal translation covariance, got "
            f"{prior.cov}; use translation_form='regions' for a full 2x2 covariance"
        )
    nu_x, nu_y = sigma2 / tx, sigma2 / ty  # ν = σ²/τ² (per axis; the thesis has τ_x = τ_y)
    n = m.sum(-1)
    nc = n.clamp_min(eps)
    uh, vh = u - prior.mean[0], v - prior.mean[1]
    ubar = (m * uh).sum(-1) / nc  # ū_k = n_k⁻¹ uᵀ m_k
    vbar = (m * vh).sum(-1) / nc
    wx = 1.0 - torch.sqrt(nu_x / (n + nu_x))  # w_k = 1 − sqrt(ν / (n_k + ν))
    wy = 1.0 - torch.sqrt(nu_y / (n + nu_y))
    rec_u = (m * (ubar * wx)[..., None]).sum(-2)  # Σ_k ū_k w_k (m_k)_i
    rec_v = (m * (vbar * wy)[..., None]).sum(-2)
    res = (uh[..., 0, :] - rec_u).square() + (vh[..., 0, :] - rec_v).square()
    logdet = 0.5 * (torch.log1p(n / nu_x) + torch.log1p(n / nu_y)).sum(-1)  # Σ_k log((n_k + ν)/ν)
    return hw * math.log(2 * math.pi * sigma2) + logdet + res.sum(-1) / (2 * sigma2)


def _prepare(
    masks: torch.Tensor, flow: torch.Tensor, name: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]:
    b, k, h, w = _check_masks_flow(masks, flow, name)
    dtype = _compute_dtype(masks, flow)
    m = masks.to(dtype).reshape(b, k, h * w)
    f = flow.to(dtype).reshape(b, 2, 1, h * w)
    x, y = _grid(h, w, masks.device, dtype)
    return m, f[:, 0], f[:, 1], x, y, h * w


def _check_common(sigma2: float, eps: float, quadratic: str) -> None:
    if not sigma2 > 0:
        raise ConfigError(f"sigma2 must be > 0, got {sigma2}")
    if not eps > 0:
        raise ConfigError(f"eps must be > 0, got {eps}")
    _choice(quadratic, "quadratic", _QUADRATICS)


def region_log_marginal(
    masks: torch.Tensor,
    flow: torch.Tensor,
    *,
    motion_model: MotionModel = "affine",
    prior: str | PPMPPrior | None = None,
    sigma2: float = PPMP_SIGMA2,
    quadratic: Quadratic = "residual",
    eps: float = _EPS,
) -> torch.Tensor:
    """``log p(f_k | m_k)`` of every region, motion parameters integrated out (thesis eqs. (4.5), (D.10)).

    For one-hot masks this is the Gaussian log-density of eq. (4.5) with coordinates centred at the
    region's centroid; for soft masks it is the tempered form ``log ∫ Π_i N(f_i; ·)^{m_ik} p(θ) dθ``
    (inner products weighted by the masks, App. D.1.1). All B × K regions are evaluated at once.

    Args:
        masks: ``(B, K, H, W)`` hard or soft masks (weights in [0, 1]).
        flow: ``(B, 2, H, W)`` flow in pixels of the same grid, channel 0 = x (right), 1 = y (down).
        motion_model: ``"translation"`` or ``"affine"`` (thesis eq. (4.3)).
        prior: a preset name of :data:`PPMP_PRIORS`, a :class:`PPMPPrior`, or None for the model's
            default (``"affine-generic"`` / ``"translation-generic"``).
        sigma2: noise variance σ² (thesis App. D.3: 0.5).
        quadratic: ``"residual"`` (default, stable) or ``"direct"`` (D.10 literally), see module notes.
        eps: floor of ``n_k`` in the centroid's denominator, in pixels of mass.

    Returns:
        ``(B, K)`` log-likelihoods (summed over the region's pixels and both flow channels) in float32
        (float64 if an input is float64); empty regions give 0. Differentiable in masks and flow.

    Raises:
        ShapeError: if the shapes disagree (both are named).
        ConfigError: for an unknown model or preset, a prior of the other model, or σ² ≤ 0.
    """
    p = _resolve_prior(prior, motion_model)
    _check_common(sigma2, eps, quadratic)
    with torch.autocast(masks.device.type, enabled=False):
        m, u, v, x, y, _ = _prepare(masks, flow, "masks")
        dev, chol = p._internal(masks.device)
        return -_regions_nll(m, u, v, x, y, motion_model, dev, chol, float(sigma2), quadratic, eps)


def _nll(
    m: torch.Tensor,
    u: torch.Tensor,
    v: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    hw: int,
    motion_model: str,
    p: PPMPPrior,
    sigma2: float,
    translation_form: str,
    quadratic: str,
    eps: float,
) -> torch.Tensor:
    if motion_model == "translation" and translation_form == "d12":
        return _d12_nll(m, u, v, p, sigma2, hw, eps)
    dev, chol = p._internal(m.device)
    return _regions_nll(m, u, v, x, y, motion_model, dev, chol, sigma2, quadratic, eps).sum(-1)


def ppmp_nll(
    masks: torch.Tensor,
    flow: torch.Tensor,
    *,
    motion_model: MotionModel = "affine",
    prior: str | PPMPPrior | None = None,
    sigma2: float = PPMP_SIGMA2,
    translation_form: TranslationForm = "d12",
    quadratic: Quadratic = "residual",
    eps: float = _EPS,
) -> torch.Tensor:
    """``−log p(f | m)`` per image for given (hard or relaxed) masks (thesis eqs. (4.4), (D.10)-(D.12)).

    Affine: ``−Σ_k log p(f_k | m_k)`` of :func:`region_log_marginal` (eq. (D.10), Alg. 1 corrected).
    Translation: ``translation_form="d12"`` (default) evaluates eq. (D.12), the thesis's implementation
    form for Gumbel-softmax samples, which needs a diagonal Σ; ``"regions"`` evaluates eq. (D.10)/(D.11)
    with mask-weighted inner products as for the affine model. The two agree for one-hot masks.

    Args:
        masks: ``(B, K, H, W)`` masks.
        flow: ``(B, 2, H, W)`` flow in pixels, channel 0 = x.
        motion_model: ``"translation"`` or ``"affine"``.
        prior: preset name, :class:`PPMPPrior` or None (the model's default).
        sigma2: noise variance σ².
        translation_form: ``"d12"`` or ``"regions"`` (ignored for the affine model).
        quadratic: ``"residual"`` or ``"direct"`` for the D.10 path.
        eps: floor of ``n_k`` in the centroid and mean denominators.

    Returns:
        ``(B,)`` negative log-likelihoods (float32, or float64 for float64 inputs).
    """
    p = _resolve_prior(prior, motion_model)
    _check_common(sigma2, eps, quadratic)
    _choice(translation_form, "translation_form", _TRANSLATION_FORMS)
    with torch.autocast(masks.device.type, enabled=False):
        m, u, v, x, y, hw = _prepare(masks, flow, "masks")
        return _nll(m, u, v, x, y, hw, motion_model, p, float(sigma2), translation_form, quadratic, eps)


def ppmp_loss(
    logits: torch.Tensor,
    flow: torch.Tensor,
    *,
    motion_model: MotionModel = "affine",
    prior: str | PPMPPrior | None = None,
    sigma2: float = PPMP_SIGMA2,
    beta: float = 0.1,
    temperature: float = 1.0,
    num_samples: int = 3,
    sample: bool = True,
    generator: torch.Generator | None = None,
    translation_form: TranslationForm = "d12",
    quadratic: Quadratic = "residual",
    logit_soft_clamp: float | None = None,
    min_prob: float | None = None,
    reduction: Reduction = "sum",
    eps: float = _EPS,
) -> dict[str, torch.Tensor]:
    """The PPMP objective ``L_β`` of thesis eq. (4.1) from mask logits and flow.

    ``nll`` is the Monte-Carlo estimate of ``E_m[−log p(f | m)]`` with ``num_samples`` Gumbel-softmax
    samples (Sec. 4.3, N = 3), ``kl`` is ``KL(softmax(logits) ‖ uniform)`` (:func:`ppmp_kl`), and
    ``loss = nll + β kl``. Pass ``beta=ppmp_beta(step)`` during training (0.1 → −0.1 over 5k steps).

    Args:
        logits: ``(B, K, H, W)`` mask logits, K ≥ 2, on the flow's grid.
        flow: ``(B, 2, H, W)`` flow in pixels, channel 0 = x.
        motion_model: ``"affine"`` (the thesis's model) or ``"translation"`` (its ablation).
        prior: preset name, :class:`PPMPPrior` or None (``"affine-generic"`` / ``"translation-generic"``).
        sigma2: noise variance σ² (0.5).
        beta: KL weight β of eq. (4.1).
        temperature: Gumbel-softmax temperature (1.0, the released code's constant).
        num_samples: Gumbel-softmax samples N (3).
        sample: False evaluates the NLL at ``softmax(logits)`` itself (deterministic; for evaluation).
        generator: seeds the Gumbel noise (see :func:`gumbel_softmax_masks`).
        translation_form: ``"d12"`` or ``"regions"`` (see :func:`ppmp_nll`).
        quadratic: ``"residual"`` or ``"direct"`` (see module notes).
        logit_soft_clamp: if given, logits become ``c · tanh(logits / c)`` first (the released code's
            c = 10); None (default) leaves them.
        min_prob: clamp-and-renormalise of the samples (see :func:`gumbel_softmax_masks`).
        reduction: ``"sum"`` (default): per image, NLL and KL summed over pixels as in eqs. (4.1),
            (D.10); ``"mean"``: both divided by H·W. Either way averaged over samples and the batch.
        eps: floor of ``n_k`` in the centroid and mean denominators.

    Returns:
        ``{"loss", "nll", "kl"}`` scalars (float32, or float64 for float64 inputs); ``loss`` carries the
        gradient.

    Raises:
        ShapeError: if the shapes disagree.
        ConfigError: for K < 2, an unknown model/preset/form/reduction, or a bad hyperparameter.
    """
    b, k, h, w = _check_masks_flow(logits, flow, "logits", min_k=2)
    p = _resolve_prior(prior, motion_model)
    _check_common(sigma2, eps, quadratic)
    _choice(translation_form, "translation_form", _TRANSLATION_FORMS)
    _choice(reduction, "reduction", _REDUCTIONS)
    if logit_soft_clamp is not None and not logit_soft_clamp > 0:
        raise ConfigError(f"logit_soft_clamp must be > 0 or None, got {logit_soft_clamp}")
    with torch.autocast(logits.device.type, enabled=False):
        dtype = _compute_dtype(logits, flow)
        z = logits.to(dtype)
        if logit_soft_clamp is not None:
            z = logit_soft_clamp * torch.tanh(z / logit_soft_clamp)
        if sample:
            masks = gumbel_softmax_masks(
                z, temperature=temperature, num_samples=num_samples, generator=generator, min_prob=min_prob
            )
        else:
            masks = torch.softmax(z, dim=1)[None]
        hw = h * w
        m = masks.reshape(masks.shape[0], b, k, hw)  # (N, B, K, P)
        f = flow.to(dtype).reshape(1, b, 2, 1, hw)
        x, y = _grid(h, w, logits.device, dtype)
        nll = _nll(
            m,
            f[:, :, 0],
            f[:, :, 1],
            x,
            y,
            hw,
            motion_model,
            p,
            float(sigma2),
            translation_form,
            quadratic,
            eps,
        ).mean(0)  # E over the N samples -> (B,)
        kl = ppmp_kl(z)
        if reduction == "mean":
            nll, kl = nll / hw, kl / hw
        nll, kl = nll.mean(), kl.mean()
        return {"loss": nll + float(beta) * kl, "nll": nll, "kl": kl}
