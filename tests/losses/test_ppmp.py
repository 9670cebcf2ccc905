"""PPMP loss against the explicit Gaussian marginal likelihood (thesis eqs. (4.5), (D.9)-(D.12), Alg. 1)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Categorical, MultivariateNormal, kl_divergence

from spelke.engine.schedules import Linear
from spelke.errors import ConfigError, ShapeError
from spelke.losses import (
    PPMP_PRIORS,
    PPMPPrior,
    gumbel_softmax_masks,
    ppmp_beta,
    ppmp_kl,
    ppmp_loss,
    ppmp_nll,
    ppmp_prior,
    region_log_marginal,
)
from spelke.losses.ppmp import _cholesky_at_least_one

SIGMA2 = 0.5

# ----------------------------------------------------------------------------- independent references


def direct_log_marginal(
    masks: torch.Tensor, flow: torch.Tensor, prior: PPMPPrior, sigma2: float
) -> np.ndarray:
    """log p(f_k | m_k) per region from the full 2n_k x 2n_k Gaussian of eq. (4.5), float64.

    Builds Ω_k (pixel coordinates x = column, y = row, origin at the region's mask-weighted centroid),
    the design P_k of eq. (4.3), the mean Π_μ(Ω_k) − Ω_k and the covariance P_k Σ P_kᵀ + σ² diag(1/m)
    over the stacked [u; v], and evaluates torch.distributions.MultivariateNormal. For soft weights m
    the tempered likelihood Π_i N(f_i)^{m_i} differs from that Gaussian by the constant
    Σ_i [(1 − m_i) log 2πσ² − log m_i], added here (zero for hard masks).
    """
    masks, flow = masks.double(), flow.double()
    b, k, h, w = masks.shape
    ii, jj = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    mean = torch.tensor(prior.mean, dtype=torch.float64)
    cov = torch.tensor(prior.cov, dtype=torch.float64)
    out = np.zeros((b, k))
    for bi in range(b):
        for ki in range(k):
            m = masks[bi, ki].ravel()
            sel = m > 0
            if not bool(sel.any()):
                continue
            mw = m[sel]
            x, y = jj.ravel()[sel], ii.ravel()[sel]
            x = x - (mw * x).sum() / mw.sum()
            y = y - (mw * y).sum() / mw.sum()
            n = int(sel.sum())
            one, zero = torch.ones(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
            if prior.motion_model == "affine":
                pu = torch.stack([x, y, one, zero, zero, zero], 1)
                pv = torch.stack([zero, zero, zero, x, y, one], 1)
                omega = torch.cat([x, y])
            else:
                pu = torch.stack([one, zero], 1)
                pv = torch.stack([zero, one], 1)
                omega = torch.zeros(2 * n, dtype=torch.float64)
            p = torch.cat([pu, pv], 0)  # (2n, D)
            loc = p @ mean - omega  # Π_μ(Ω_k) − Ω_k
            noise = sigma2 / torch.cat([mw, mw])
            dist = MultivariateNormal(loc, covariance_matrix=p @ cov @ p.T + torch.diag(noise))
            f = torch.cat([flow[bi, 0].ravel()[sel], flow[bi, 1].ravel()[sel]])
            temper = ((1 - mw) * math.log(2 * math.pi * sigma2) - mw.log()).sum()
            out[bi, ki] = float(dist.log_prob(f) + temper)
    return out


def algorithm1_corrected(masks: np.ndarray, flow: np.ndarray, prior: PPMPPrior, sigma2: float) -> np.ndarray:
    """Thesis Alg. 1 step by step in numpy with the spec's corrections (B.2.6): D_k is the inverse of
    the Schur complement, q = hAhᵀ + hBrᵀ + rChᵀ + rDrᵀ, and the return line divides q by σ² once more."""
    b, k, h, w = masks.shape
    ii, jj = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    xs, ys = jj.ravel(), ii.ravel()
    mu = np.asarray(prior.mean)
    lam = np.linalg.inv(np.asarray(prior.cov))
    alpha, beta, gamma, delta = lam[:3, :3], lam[:3, 3:], lam[3:, :3], lam[3:, 3:]
    out = np.zeros(b)
    for bi in range(b):
        u, v = flow[bi, 0].ravel(), flow[bi, 1].ravel()
        total = h * w * np.log(2 * np.pi * sigma2)
        for ki in range(k):
            m = masks[bi, ki].ravel()
            n = m.sum()
            if n == 0:
                continue
            xh = xs - (xs @ m) / n
            yh = ys - (ys @ m) / n
            gtg = np.array(
                [
                    [(xh * xh) @ m, (xh * yh) @ m, xh @ m],
                    [(xh * yh) @ m, (yh * yh) @ m, yh @ m],
                    [xh @ m, yh @ m, n],
                ]
            )
            a_t = gtg / sigma2 + alpha
            d_t = gtg / sigma2 + delta
            a_inv = np.linalg.inv(a_t)
            dd = np.linalg.inv(d_t - gamma @ a_inv @ beta)  # corrected: the outer inverse
            cc = -dd @ gamma @ a_inv
            bb = -a_inv @ beta @ dd
            aa = a_inv - bb @ gamma @ a_inv
            uh = u - ((mu[0] - 1) * xh + mu[1] * yh + mu[2])
            vh = v - ((mu[4] - 1) * yh + mu[3] * xh + mu[5])
            ff = (uh**2) @ m + (vh**2) @ m
            hv = np.array([(uh * xh) @ m, (uh * yh) @ m, uh @ m])
            rv = np.array([(vh * xh) @ m, (vh * yh) @ m, vh @ m])
            q = hv @ aa @ hv + hv @ bb @ rv + rv @ cc @ hv + rv @ dd @ rv  # corrected ordering
            det_s = np.linalg.det(a_t - beta @ np.linalg.inv(d_t) @ gamma) * np.linalg.det(d_t)
            total += 0.5 * np.log(det_s / np.linalg.det(lam)) + (ff - q / sigma2) / (2 * sigma2)
        out[bi] = total
    return out


def d11_translation(masks: np.ndarray, flow: np.ndarray, tau2: float, sigma2: float) -> np.ndarray:
    """Eq. (D.11), last line, for one-hot masks and a zero-mean isotropic prior."""
    nu = sigma2 / tau2
    b, k, h, w = masks.shape
    out = np.zeros(b)
    for bi in range(b):
        u, v = flow[bi, 0].ravel(), flow[bi, 1].ravel()
        s = h * w * np.log(2 * np.pi * sigma2)
        inner = u**2 + v**2
        for ki in range(k):
            m = masks[bi, ki].ravel()
            n = m.sum()
            if n == 0:
                continue
            s += np.log((n + nu) / nu)
            inner = inner - n * ((u @ m / n) ** 2 + (v @ m / n) ** 2) / (n + nu) * m
        out[bi] = s + inner.sum() / (2 * sigma2)
    return out


# ----------------------------------------------------------------------------------------- fixtures


def random_case(b: int, k: int, h: int, w: int, seed: int, hard: bool):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, k, h, w, generator=g, dtype=torch.float64) * 1.5
    if hard:
        lab = logits.argmax(1)
        lab[:, 0, 0] = 0  # every region non-empty in practice; region 0 keeps a corner pixel
        masks = torch.nn.functional.one_hot(lab, k).permute(0, 3, 1, 2).double()
    else:
        masks = logits.softmax(1)
    flow = torch.randn(b, 2, h, w, generator=g, dtype=torch.float64) * 2.0
    return masks, flow


CUSTOM_AFFINE = PPMPPrior.affine(
    PPMP_PRIORS["affine-movi-c"].cov, mean=(1.02, -0.03, 0.7, 0.05, 0.97, -1.2), source="test"
)
CUSTOM_TRANSLATION = PPMPPrior("translation", (0.4, -0.8), ((3.0, 1.2), (1.2, 2.0)), "test")
PRIORS = [
    ("affine", "affine-generic"),
    ("affine", "affine-movi-a"),
    ("affine", CUSTOM_AFFINE),
    ("translation", "translation-movi-a"),
    ("translation", "translation-clevr"),
    ("translation", CUSTOM_TRANSLATION),
]


def _prior(spec) -> PPMPPrior:
    return ppmp_prior(spec) if isinstance(spec, str) else spec


# --------------------------------------------------------------------------- (1) closed form = direct


@pytest.mark.parametrize("hard", [True, False], ids=["hard", "soft"])
@pytest.mark.parametrize(("model", "prior"), PRIORS, ids=lambda p: p if isinstance(p, str) else "custom")
@pytest.mark.parametrize("quadratic", ["residual", "direct"])
def test_region_log_marginal_equals_full_gaussian(hard, model, prior, quadratic):
    masks, flow = random_case(2, 3, 5, 6, seed=1, hard=hard)
    got = region_log_marginal(
        masks, flow, motion_model=model, prior=prior, sigma2=SIGMA2, quadratic=quadratic
    )
    want = direct_log_marginal(masks, flow, _prior(prior), SIGMA2)
    assert got.dtype == torch.float64 and got.shape == (2, 3)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-9)


def test_nll_is_minus_sum_of_regions_and_other_sigma():
    masks, flow = random_case(2, 4, 5, 6, seed=2, hard=False)
    for model in ("affine", "translation"):
        nll = ppmp_nll(masks, flow, motion_model=model, sigma2=0.1, translation_form="regions")
        reg = region_log_marginal(masks, flow, motion_model=model, sigma2=0.1)
        torch.testing.assert_close(nll, -reg.sum(1))
        want = direct_log_marginal(masks, flow, _prior(f"{model}-generic"), 0.1)
        np.testing.assert_allclose(nll.numpy(), -want.sum(1), rtol=1e-10)


@pytest.mark.parametrize("prior", ["affine-generic", "affine-movi-a", CUSTOM_AFFINE], ids=str)
def test_affine_matches_corrected_algorithm_1(prior):
    masks, flow = random_case(2, 3, 6, 6, seed=3, hard=True)
    p = _prior(prior)
    got = ppmp_nll(masks, flow, motion_model="affine", prior=p, sigma2=SIGMA2)
    np.testing.assert_allclose(
        got.numpy(), algorithm1_corrected(masks.numpy(), flow.numpy(), p, SIGMA2), rtol=1e-10
    )


def test_d12_equals_d11_and_regions_form_for_hard_masks():
    masks, flow = random_case(2, 4, 6, 5, seed=4, hard=True)
    for tau2 in (0.5, 16.0):
        prior = PPMPPrior.translation(tau2)
        d12 = ppmp_nll(masks, flow, motion_model="translation", prior=prior, translation_form="d12")
        reg = ppmp_nll(masks, flow, motion_model="translation", prior=prior, translation_form="regions")
        d11 = d11_translation(masks.numpy(), flow.numpy(), tau2, SIGMA2)
        np.testing.assert_allclose(d12.numpy(), d11, rtol=1e-12)
        np.testing.assert_allclose(reg.numpy(), d11, rtol=1e-12)
    # per-axis τ² and a mean: D.12 generalises axis by axis
    prior = PPMPPrior.translation((2.0, 9.0), mean=(0.5, -1.0))
    d12 = ppmp_nll(masks, flow, motion_model="translation", prior=prior, translation_form="d12")
    want = -direct_log_marginal(masks, flow, prior, SIGMA2).sum(1)
    np.testing.assert_allclose(d12.numpy(), want, rtol=1e-12)


def test_d12_and_regions_differ_for_soft_masks():
    # D.12's one-hot identity (Σ_k w_k ū_k m_ik)² = Σ_k w_k² ū_k² m_ik fails for soft masks (fidelity.md)
    masks, flow = random_case(1, 3, 5, 6, seed=5, hard=False)
    d12 = ppmp_nll(masks, flow, motion_model="translation", translation_form="d12")
    reg = ppmp_nll(masks, flow, motion_model="translation", translation_form="regions")
    assert torch.isfinite(d12).all() and float((d12 - reg).abs()) > 1e-3


def test_region_order_and_empty_regions_do_not_matter():
    masks, flow = random_case(2, 3, 5, 6, seed=6, hard=False)
    perm = torch.tensor([2, 0, 1])
    padded = torch.cat([masks, torch.zeros_like(masks[:, :1])], 1)
    for model in ("affine", "translation"):
        base = ppmp_nll(masks, flow, motion_model=model)
        torch.testing.assert_close(ppmp_nll(masks[:, perm], flow, motion_model=model), base)
        torch.testing.assert_close(ppmp_nll(padded, flow, motion_model=model), base)
        reg = region_log_marginal(padded, flow, motion_model=model)
        assert (reg[:, -1] == 0).all()


def test_translation_is_the_affine_limit_without_deformation():
    # affine prior with (near) zero variance on the linear part = translation prior at the centroid
    masks, flow = random_case(1, 3, 5, 6, seed=7, hard=False)
    tiny = 1e-12
    aff = PPMPPrior.affine(
        tuple(
            tuple((v if i == j else 0.0) for j, v in enumerate((tiny, tiny, 4.0, tiny, tiny, 9.0)))
            for i in range(6)
        )
    )
    a = region_log_marginal(masks, flow, motion_model="affine", prior=aff)
    t = region_log_marginal(masks, flow, motion_model="translation", prior=PPMPPrior.translation((4.0, 9.0)))
    torch.testing.assert_close(a, t, rtol=1e-8, atol=1e-6)


@pytest.mark.parametrize(
    ("model", "form"), [("affine", "regions"), ("translation", "regions"), ("translation", "d12")]
)
def test_gradcheck_through_soft_masks_and_flow(model, form):
    g = torch.Generator().manual_seed(8)
    logits = torch.randn(1, 2, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    flow = torch.randn(1, 2, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    prior = "affine-movi-a" if model == "affine" else "translation-movi-a"

    def f(lg, fl):
        return ppmp_nll(lg.softmax(1), fl, motion_model=model, prior=prior, translation_form=form)

    assert torch.autograd.gradcheck(f, (logits, flow))


# --------------------------------------------------------------------- (2) the true segmentation wins


def synthetic_scene(model: str, h: int = 24, w: int = 24, seed: int = 0):
    """Static background, object A (rotating + translating, or translating) and object B (translating)."""
    g = torch.Generator().manual_seed(seed)
    ii, jj = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    lab = torch.zeros(h, w, dtype=torch.long)
    lab[3:12, 2:11] = 1
    lab[14:22, 12:22] = 2
    flow = torch.zeros(2, h, w, dtype=torch.float64)
    a = lab == 1
    if model == "affine":
        ang, s = 0.08, 0.03  # rotation about A's centre and a slight scaling
        cx, cy = float(jj[a].mean()), float(ii[a].mean())
        dx, dy = jj - cx, ii - cy
        fu = (math.cos(ang) * (1 + s) - 1) * dx - math.sin(ang) * dy + 2.0
        fv = math.sin(ang) * dx + (math.cos(ang) * (1 + s) - 1) * dy - 1.0
    else:
        fu, fv = torch.full_like(jj, 2.0), torch.full_like(jj, -1.0)
    flow[0][a], flow[1][a] = fu[a], fv[a]
    flow[0][lab == 2], flow[1][lab == 2] = -1.5, 1.0
    flow = flow + 0.2 * torch.randn(flow.shape, generator=g, dtype=torch.float64)
    return lab, flow[None]


def onehot(lab: torch.Tensor, k: int = 4) -> torch.Tensor:
    return torch.nn.functional.one_hot(lab, k).permute(2, 0, 1)[None].double()


@pytest.mark.parametrize("model", ["affine", "translation"])
def test_true_segmentation_beats_merged_and_split(model):
    lab, flow = synthetic_scene(model)
    split = lab.clone()
    split[(lab == 1) & (torch.arange(24)[:, None] >= 8)] = 3  # cut object A in two
    merged = torch.where(lab == 2, 1, lab)  # A and B in one region
    bg_merged = torch.where(lab == 1, 0, lab)  # A in the background
    cands = {"true": lab, "split": split, "merged": merged, "bg_merged": bg_merged}
    nll = {name: float(ppmp_nll(onehot(c), flow, motion_model=model)) for name, c in cands.items()}
    assert nll["true"] < min(nll["split"], nll["merged"], nll["bg_merged"]), nll
    assert nll["merged"] - nll["true"] > 50 and nll["split"] - nll["true"] > 1, nll
    # through the full loss with near-hard logits, sampled and not
    gen = torch.Generator().manual_seed(0)
    loss = {
        name: float(ppmp_loss(12 * onehot(c), flow, motion_model=model, beta=0.0, generator=gen)["loss"])
        for name, c in cands.items()
    }
    assert loss["true"] < min(loss["split"], loss["merged"], loss["bg_merged"]), loss


# ------------------------------------------------------------------------- (3) float32 stability


@pytest.mark.parametrize("model", ["affine", "translation"])
def test_float32_one_pixel_and_full_image_regions_at_256(model):
    h = w = 256
    ii, jj = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    g = torch.Generator().manual_seed(9)
    dx, dy = jj - 100.0, ii - 140.0
    flow = torch.stack([0.02 * dx - 0.015 * dy + 3.0, 0.015 * dx + 0.02 * dy - 2.0])[None]
    flow = flow + 0.1 * torch.randn(flow.shape, generator=g, dtype=torch.float64)
    lab = torch.ones(h, w, dtype=torch.long)
    lab[0, 0] = 0  # a one-pixel region in a corner, K = 3 with one empty region
    cases = {"pixel+rest": 30.0 * onehot(lab, 3), "full": 30.0 * onehot(torch.ones_like(lab), 2)}
    for name, logits64 in cases.items():
        ref = ppmp_loss(logits64, flow, motion_model=model, sample=False, beta=0.1)["loss"]
        logits = logits64.float().requires_grad_(True)
        out = ppmp_loss(logits, flow.float(), motion_model=model, sample=False, beta=0.1)
        assert out["loss"].dtype == torch.float32 and torch.isfinite(out["loss"])
        assert abs(float(out["loss"].detach()) - float(ref)) <= 2e-6 * abs(float(ref)), name
        out["loss"].backward()
        assert torch.isfinite(logits.grad).all(), name
        # per-region values in float32 against float64
        reg32 = region_log_marginal(logits.detach().softmax(1), flow.float(), motion_model=model)
        reg64 = region_log_marginal(logits64.softmax(1), flow, motion_model=model)
        torch.testing.assert_close(reg32.double(), reg64, rtol=2e-6, atol=1e-3)
        # sampled path too
        logits.grad = None
        s = ppmp_loss(logits, flow.float(), motion_model=model, generator=torch.Generator().manual_seed(1))
        s["loss"].backward()
        assert torch.isfinite(s["loss"]) and torch.isfinite(logits.grad).all(), name


def test_residual_form_keeps_float32_accurate_for_large_explained_regions():
    # two 256x128 regions with large, almost exactly affine flow: D.10's F'WF - q/σ² cancels ~5 digits
    h = w = 256
    ii, jj = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    flow = torch.stack(
        [0.05 * (jj - 128) - 0.04 * (ii - 128) + 15, 0.04 * (jj - 128) + 0.05 * (ii - 128) - 12]
    )[None]
    flow = flow + 0.01 * torch.randn(
        flow.shape, generator=torch.Generator().manual_seed(15), dtype=torch.float64
    )
    lab = torch.zeros(h, w, dtype=torch.long)
    lab[:, 128:] = 1
    masks = onehot(lab, 2)
    ref = region_log_marginal(masks, flow)
    err = {
        q: float((region_log_marginal(masks.float(), flow.float(), quadratic=q).double() - ref).abs().max())
        for q in ("residual", "direct")
    }
    assert err["residual"] < 0.05 and err["residual"] < err["direct"], err


def test_float32_near_empty_soft_region_and_direct_form():
    g = torch.Generator().manual_seed(10)
    logits = torch.randn(1, 3, 32, 32, generator=g)
    logits[:, 2] = -80.0  # mass ~1e-35 per pixel: below eps, near float32's smallest normal
    logits.requires_grad_(True)
    flow = 3 * torch.randn(1, 2, 32, 32, generator=g)
    for model in ("affine", "translation"):
        for quadratic in ("residual", "direct"):
            nll = ppmp_nll(
                logits.softmax(1), flow, motion_model=model, quadratic=quadratic, translation_form="regions"
            )
            (grad,) = torch.autograd.grad(nll.sum(), logits)
            assert torch.isfinite(nll).all() and torch.isfinite(grad).all()
            reg = region_log_marginal(logits.softmax(1), flow, motion_model=model, quadratic=quadratic)
            assert abs(float(reg[0, 2].detach())) < 1e-20


def test_cholesky_fallback_projects_to_eigenvalues_at_least_one():
    t = torch.eye(3, dtype=torch.float64).repeat(2, 1, 1)
    t[1] = torch.diag(torch.tensor([4.0, 1.0, -1e-9], dtype=torch.float64))  # round-off casualty
    chol = _cholesky_at_least_one(t)
    torch.testing.assert_close(chol[0], torch.eye(3, dtype=torch.float64))
    torch.testing.assert_close(
        chol[1] @ chol[1].T, torch.diag(torch.tensor([4.0, 1.0, 1.0], dtype=torch.float64))
    )


# --------------------------------------------------------------------------------- (4) Gumbel-softmax


def test_gumbel_samples_sum_to_one_and_are_reproducible():
    logits = torch.randn(2, 4, 5, 6, generator=torch.Generator().manual_seed(11))
    a = gumbel_softmax_masks(logits, num_samples=3, generator=torch.Generator().manual_seed(0))
    b = gumbel_softmax_masks(logits, num_samples=3, generator=torch.Generator().manual_seed(0))
    c = gumbel_softmax_masks(logits, num_samples=3, generator=torch.Generator().manual_seed(1))
    assert a.shape == (3, 2, 4, 5, 6) and a.dtype == torch.float32
    torch.testing.assert_close(a.sum(2), torch.ones(3, 2, 5, 6))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert (a >= 0).all() and not torch.allclose(a[0], a[1])  # samples differ from each other
    clamped = gumbel_softmax_masks(logits, generator=torch.Generator().manual_seed(0), min_prob=1e-2)
    assert clamped.min() >= 1e-2 / (1 + 4e-2) - 1e-7
    torch.testing.assert_close(clamped.sum(2), torch.ones(1, 2, 5, 6))
    # the same seed gives the same loss
    flow = torch.randn(2, 2, 5, 6)
    l1 = ppmp_loss(logits, flow, generator=torch.Generator().manual_seed(3))["loss"]
    l2 = ppmp_loss(logits, flow, generator=torch.Generator().manual_seed(3))["loss"]
    assert torch.equal(l1, l2)


def test_gumbel_argmax_is_categorical_and_low_temperature_is_hard():
    probs = torch.tensor([0.6, 0.3, 0.1])
    logits = probs.log().view(1, 3, 1, 1).expand(1, 3, 100, 100).contiguous()
    s = gumbel_softmax_masks(logits, temperature=0.05, generator=torch.Generator().manual_seed(12))[0]
    freq = torch.bincount(s.argmax(1).ravel(), minlength=3).double() / 10000
    sd = (probs.double() * (1 - probs.double()) / 10000).sqrt()
    assert ((freq - probs.double()).abs() < 4 * sd).all(), freq
    assert float(s.max(1).values.mean()) > 0.95  # nearly one-hot at a low temperature


def test_loss_terms_and_reductions():
    g = torch.Generator().manual_seed(13)
    logits = torch.randn(2, 3, 6, 7, generator=g, dtype=torch.float64)
    flow = torch.randn(2, 2, 6, 7, generator=g, dtype=torch.float64)
    out = ppmp_loss(logits, flow, beta=-0.1, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out["loss"], out["nll"] - 0.1 * out["kl"])
    # the NLL is the mean over the N = 3 samples drawn from the same generator
    samples = gumbel_softmax_masks(logits, num_samples=3, generator=torch.Generator().manual_seed(0))
    want = torch.stack([ppmp_nll(s, flow) for s in samples]).mean()
    torch.testing.assert_close(out["nll"], want)
    # no sampling: the softmax itself
    det = ppmp_loss(logits, flow, sample=False, beta=0.0)
    torch.testing.assert_close(det["nll"], ppmp_nll(logits.softmax(1), flow).mean())
    mean = ppmp_loss(logits, flow, sample=False, beta=0.0, reduction="mean")
    torch.testing.assert_close(mean["nll"] * 42, det["nll"])
    clamped = ppmp_loss(logits * 100, flow, sample=False, logit_soft_clamp=10.0)
    torch.testing.assert_close(clamped["kl"], ppmp_kl(10 * torch.tanh(logits * 10)).mean())


def test_kl_to_uniform():
    logits = torch.randn(2, 4, 3, 5, generator=torch.Generator().manual_seed(14), dtype=torch.float64)
    kl = ppmp_kl(logits)
    probs = logits.softmax(1).permute(0, 2, 3, 1)
    want = kl_divergence(Categorical(probs=probs), Categorical(probs=torch.full_like(probs, 0.25))).sum(
        (1, 2)
    )
    torch.testing.assert_close(kl, want)
    assert float(ppmp_kl(torch.zeros(1, 4, 3, 5)).abs().max()) < 1e-6
    assert float(ppmp_kl(torch.tensor([1e4, 0.0, 0.0, 0.0]).view(1, 4, 1, 1))) == pytest.approx(math.log(4))


# ------------------------------------------------------------------------------------- (5) schedule


def test_beta_schedule_endpoints():
    assert ppmp_beta(0) == pytest.approx(0.1)
    assert ppmp_beta(2500) == pytest.approx(0.0, abs=1e-12)
    assert ppmp_beta(5000) == pytest.approx(-0.1)
    assert ppmp_beta(250_000) == pytest.approx(-0.1)
    assert ppmp_beta(-10) == pytest.approx(0.1)
    lin = Linear(start=0.1, end=-0.1, steps=5000)
    for step in (0, 1, 1234, 4999, 5000, 7000):
        assert ppmp_beta(step) == pytest.approx(lin(step))


# ---------------------------------------------------------------------------------------- (6) errors


def test_presets_and_errors():
    assert set(PPMP_PRIORS) >= {"affine-generic", "affine-movi-a", "affine-movi-c", "translation-movi-a"}
    gen = ppmp_prior("affine-generic")
    assert gen.mean == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert [gen.cov[i][i] for i in range(6)] == [0.005, 0.05, 15.0, 0.05, 0.005, 15.0]
    assert ppmp_prior("affine-movi-a").mean[5] == 1.5 and ppmp_prior("affine-movi-c").cov[2][2] == 36.0
    assert ppmp_prior("translation-movi-c").cov == ((34.0, 0.0), (0.0, 34.0))
    with pytest.raises(ConfigError, match="affine-generic"):
        ppmp_prior("movi-z")
    logits, flow = torch.zeros(1, 1, 4, 4), torch.zeros(1, 2, 4, 4)
    with pytest.raises(ConfigError, match="K >= 2"):
        ppmp_loss(logits, flow)
    with pytest.raises(ConfigError, match="K >= 1"):
        ppmp_nll(torch.zeros(1, 0, 4, 4), flow)
    masks = torch.ones(1, 2, 4, 4) / 2
    with pytest.raises(ConfigError, match="translation-movi-a"):
        ppmp_nll(masks, flow, motion_model="translation", prior="affine-generic")
    with pytest.raises(ConfigError, match="motion_model"):
        ppmp_nll(masks, flow, motion_model="homography")
    with pytest.raises(ConfigError, match="positive definite"):
        PPMPPrior.translation((1.0, -1.0))
    with pytest.raises(ConfigError, match="symmetric"):
        PPMPPrior("translation", (0, 0), ((1.0, 0.5), (0.0, 1.0)))
    with pytest.raises(ConfigError, match="6x6"):
        PPMPPrior.affine(((1.0, 0.0), (0.0, 1.0)))
    with pytest.raises(ConfigError, match="diagonal"):
        ppmp_nll(masks, flow, motion_model="translation", prior=CUSTOM_TRANSLATION)
    with pytest.raises(ConfigError, match="sigma2"):
        ppmp_nll(masks, flow, sigma2=0.0)
    with pytest.raises(ConfigError, match="temperature"):
        gumbel_softmax_masks(masks, temperature=0.0)
    with pytest.raises(ConfigError, match="reduction"):
        ppmp_loss(masks, flow, reduction="none")
    with pytest.raises(ShapeError, match=r"\(1, 2, 4, 4\)"):
        ppmp_nll(masks, torch.zeros(1, 2, 4, 5))
