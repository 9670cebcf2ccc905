"""GWM flow loss against brute-force weighted least squares (thesis eqs. (3.3)-(3.4), App. C.2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spelke.errors import ConfigError, ShapeError
from spelke.losses import (
    fit_flow_models,
    flow_embedding,
    gwm_loss,
    reconstruct_flow,
    resize_flow,
)

# ----------------------------------------------------------------------------- independent references


def embedding_np(h: int, w: int, model: str, coords: str) -> np.ndarray:
    """φ as (N, D), written independently of the library (row-major pixels, x = column)."""
    jj, ii = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    if coords == "unit":
        x, y = jj / w, ii / h
    elif coords == "centered":
        x, y = 2 * jj / (w - 1) - 1, 2 * ii / (h - 1) - 1
    else:
        x, y = jj, ii
    x, y = x.ravel(), y.ravel()
    feats = {"constant": [], "affine": [x, y], "quadratic": [x, x * x, y, y * y, x * y]}[model]
    return np.stack(feats, 1) if feats else np.zeros((h * w, 0))


def design(h: int, w: int, model: str, coords: str = "unit") -> np.ndarray:
    phi = embedding_np(h, w, model, coords)
    return np.concatenate([phi, np.ones((h * w, 1))], 1)  # [φ, 1]


def brute_exact(masks: np.ndarray, flow: np.ndarray, model: str, coords: str = "unit"):
    """Per region: torch.linalg.lstsq on sqrt(p)-weighted rows; eq. (3.3) residual Σ p‖F − θᵀφ̄‖²."""
    b, k, h, w = masks.shape
    x = torch.from_numpy(design(h, w, model, coords))
    losses, thetas = np.zeros(b), np.zeros((b, k, 2, x.shape[1]))
    for bi in range(b):
        f = torch.from_numpy(flow[bi].reshape(2, -1).T)  # (N, 2)
        for ki in range(k):
            p = torch.from_numpy(masks[bi, ki].ravel())
            s = p.sqrt()[:, None]
            theta = torch.linalg.lstsq(s * x, s * f, driver="gelsd").solution  # (D+1, 2)
            res = ((f - x @ theta) ** 2).sum(1)
            losses[bi] += float((p * res).sum())
            thetas[bi, ki] = theta.T.numpy()
    return losses, thetas


def lambda_form(masks: np.ndarray, flow: np.ndarray, model: str) -> np.ndarray:
    """App. C.2 uncentred form: M* = Λ_FΩ̄ Λ_Ω̄Ω̄⁻¹, E(M*) = tr(Λ_FF − M* Λ_Ω̄F), loss = Σ_k Z_k E_k."""
    b, k, h, w = masks.shape
    u = design(h, w, model)  # ū = [φ; 1]
    out = np.zeros(b)
    for bi in range(b):
        f = flow[bi].reshape(2, -1).T
        for ki in range(k):
            p = masks[bi, ki].ravel()
            z = p.sum()
            wts = p / z
            l_ff = (wts[:, None] * f).T @ f
            l_fu = (wts[:, None] * f).T @ u
            l_uu = (wts[:, None] * u).T @ u
            m = l_fu @ np.linalg.inv(l_uu)
            out[bi] += z * np.trace(l_ff - m @ l_fu.T)
    return out


def qr_fit(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    q, r = np.linalg.qr(a)
    return np.linalg.solve(r, q.T @ y)


def brute_code(masks: np.ndarray, flow: np.ndarray, model: str) -> np.ndarray:
    """Released code (spec A.2.5): θ_k by QR on rows scaled by p_k; F̂ = Σ_k p_k (φ̄ θ_k); MSE over 2HW."""
    b, k, h, w = masks.shape
    x = design(h, w, model)
    out = np.zeros(b)
    for bi in range(b):
        f = flow[bi].reshape(2, -1).T
        rec = np.zeros_like(f)
        for ki in range(k):
            p = masks[bi, ki].ravel()[:, None]
            theta = qr_fit(p * x, p * f)
            rec += p * (x @ theta)
        out[bi] = ((f - rec) ** 2).mean()
    return out


def brute_ch5(masks: np.ndarray, flow: np.ndarray, model: str) -> np.ndarray:
    """Thesis eqs. (5.1)/(5.2): E_k = M_k ⊙ emb, θ̂ = (E_kᵀE_k)⁻¹E_kᵀF_k, Σ_k ‖F_k − E_k θ̂_k‖²."""
    b, k, h, w = masks.shape
    x = design(h, w, model)
    out = np.zeros(b)
    for bi in range(b):
        f = flow[bi].reshape(2, -1).T
        for ki in range(k):
            p = masks[bi, ki].ravel()[:, None]
            e, fk = p * x, p * f
            theta = np.linalg.solve(e.T @ e, e.T @ fk)
            out[bi] += ((fk - e @ theta) ** 2).sum()
    return out


def soft_masks(rng, b, k, h, w, sharp=2.0) -> np.ndarray:
    logits = rng.normal(size=(b, k, h, w)) * sharp
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def random_flow(rng, b, h, w) -> np.ndarray:
    return rng.normal(size=(b, 2, h, w)) * 2.0


def t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x))


# ------------------------------------------------------------------------------------------- the tests


def test_flow_embedding_values():
    phi = flow_embedding(3, 4, "quadratic", "unit", dtype=torch.float64)
    assert phi.shape == (5, 3, 4)
    np.testing.assert_allclose(phi.flatten(1).T.numpy(), embedding_np(3, 4, "quadratic", "unit"))
    c = flow_embedding(3, 5, "affine", "centered")
    assert c[0, 0, 0] == -1 and c[0, 0, -1] == 1 and c[1, 0, 0] == -1 and c[1, -1, 0] == 1
    assert flow_embedding(3, 4, "constant").shape == (0, 3, 4)
    with pytest.raises(ConfigError, match="model"):
        flow_embedding(3, 4, "cubic")


@pytest.mark.parametrize("model", ["constant", "affine", "quadratic"])
@pytest.mark.parametrize("coords", ["unit", "pixel"])
def test_exact_matches_weighted_lstsq(rng, model, coords):
    m, f = soft_masks(rng, 2, 3, 7, 9), random_flow(rng, 2, 7, 9)
    want, _ = brute_exact(m, f, model, coords)
    got = gwm_loss(t(m), t(f), model=model, form="exact", coords=coords, ridge=0.0, reduction="none")
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9)
    assert float(gwm_loss(t(m), t(f), model=model, ridge=0.0)) == pytest.approx(want.mean(), rel=1e-9)
    assert float(gwm_loss(t(m), t(f), model=model, ridge=0.0, reduction="sum")) == pytest.approx(
        want.sum(), rel=1e-9
    )


@pytest.mark.parametrize("coords", ["unit", "centered", "pixel"])
def test_theta_matches_lstsq(rng, coords):
    m, f = soft_masks(rng, 2, 3, 6, 8), random_flow(rng, 2, 6, 8)
    _, want = brute_exact(m, f, "quadratic", coords)
    got = fit_flow_models(t(m), t(f), "quadratic", "exact", coords, ridge=0.0)
    assert got.shape == (2, 3, 2, 6)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-8)


def test_centred_and_uncentred_forms_agree(rng):
    m, f = soft_masks(rng, 2, 3, 8, 10), random_flow(rng, 2, 8, 10)
    want = lambda_form(m, f, "quadratic")
    got = gwm_loss(t(m), t(f), ridge=0.0, reduction="none").numpy()
    np.testing.assert_allclose(got, want, rtol=1e-8)


@pytest.mark.parametrize("model", ["affine", "quadratic"])
def test_code_form_matches_qr_reference(rng, model):
    m, f = soft_masks(rng, 2, 3, 7, 9), random_flow(rng, 2, 7, 9)
    want = brute_code(m, f, model)
    got = gwm_loss(t(m), t(f), model=model, form="code", ridge=0.0, reduction="none")
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-8)
    # the mean over the batch is nn.MSELoss over B·2·H·W
    assert float(gwm_loss(t(m), t(f), model=model, form="code", ridge=0.0)) == pytest.approx(want.mean())
    # reconstruct_flow with the squared-weight θ is the code's F̂
    theta = fit_flow_models(t(m), t(f), model, "code", ridge=0.0)
    rec = reconstruct_flow(t(m), theta, model)
    np.testing.assert_allclose(((t(f) - rec) ** 2).mean((1, 2, 3)).numpy(), want, rtol=1e-8)


def test_ch5_form_matches_reference(rng):
    m, f = soft_masks(rng, 2, 3, 7, 9), random_flow(rng, 2, 7, 9)
    want = brute_ch5(m, f, "quadratic")
    got = gwm_loss(t(m), t(f), form="ch5", ridge=0.0, reduction="none")
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-8)


def test_forms_differ_for_soft_masks(rng):
    m, f = soft_masks(rng, 1, 3, 7, 9), random_flow(rng, 1, 7, 9)
    exact = float(gwm_loss(t(m), t(f)))
    ch5 = float(gwm_loss(t(m), t(f), form="ch5"))
    code = float(gwm_loss(t(m), t(f), form="code")) * 2 * 7 * 9
    assert abs(exact - ch5) > 1e-3 * exact and abs(exact - code) > 1e-3 * exact


def test_hard_masks_all_forms_agree(rng):
    b, k, h, w = 2, 3, 9, 11
    labels = rng.integers(0, k, size=(b, h, w))
    m = np.eye(k)[labels].transpose(0, 3, 1, 2).astype(np.float64)
    f = random_flow(rng, b, h, w)
    exact = gwm_loss(t(m), t(f), ridge=0.0, reduction="none")
    ch5 = gwm_loss(t(m), t(f), form="ch5", ridge=0.0, reduction="none")
    code = gwm_loss(t(m), t(f), form="code", ridge=0.0, reduction="none")
    np.testing.assert_allclose(ch5.numpy(), exact.numpy(), rtol=1e-9)
    # code averages over the 2·H·W flow values: code = exact / (2 H W)
    np.testing.assert_allclose(code.numpy() * 2 * h * w, exact.numpy(), rtol=1e-8)


def synthetic_scene(h=24, w=32):
    """Background with a quadratic flow, a rectangle with an affine flow (pixel coordinates)."""
    ii, jj = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    obj = (ii >= 6) & (ii < 16) & (jj >= 8) & (jj < 20)
    u = np.where(obj, 1.5 + 0.05 * jj - 0.02 * ii, -0.5 + 0.002 * jj**2)
    v = np.where(obj, -0.8 + 0.03 * jj + 0.01 * ii, 0.3 - 0.001 * ii**2 + 0.0005 * ii * jj)
    return obj, np.stack([u, v])[None]


def hard(*regions: np.ndarray) -> torch.Tensor:
    return t(np.stack(regions)[None].astype(np.float64))


@pytest.mark.parametrize("form", ["exact", "code", "ch5"])
def test_loss_is_lowest_at_true_segmentation(form):
    obj, f = synthetic_scene()
    flow = t(f)
    w = obj.shape[1]

    def loss(masks: torch.Tensor) -> float:
        return float(gwm_loss(masks, flow, form=form))

    true = loss(hard(obj, ~obj))
    assert float(gwm_loss(hard(obj, ~obj), flow, form=form, ridge=0.0)) < 1e-10 * float((flow**2).sum())
    # The default relative ridge costs about 1e-6 of the flow energy the models explain.
    assert true < 1e-5 * float((flow**2).sum()) / (1.0 if form != "code" else flow.numel())
    merged = loss(hard(np.ones_like(obj), np.zeros_like(obj)))
    shifted = loss(hard(np.roll(obj, 3, axis=1), ~np.roll(obj, 3, axis=1)))
    halves = np.zeros_like(obj)
    halves[:, : w // 2] = True
    wrong_split = loss(hard(halves, ~halves))
    soft_true = loss(t(np.stack([0.9 * obj + 0.1 * ~obj, 0.1 * obj + 0.9 * ~obj])[None].astype(np.float64)))
    for other in (merged, shifted, wrong_split, soft_true):
        assert other > 1e3 * max(true, 1e-12)
    # Over-segmenting one rigid region is not penalised: each part still fits exactly.
    top = obj.copy()
    top[11:] = False
    over = float(gwm_loss(hard(top, obj & ~top, ~obj), flow, form=form, ridge=0.0))
    assert over < 1e-10 * float((flow**2).sum())


def test_quadratic_model_fits_quadratic_flow_exactly(rng):
    h, w = 12, 16
    x = design(h, w, "quadratic", "pixel")
    theta = rng.normal(size=(6, 2)) * np.array([0.1, 0.005, 0.1, 0.005, 0.005, 1.0])[:, None]
    f = (x @ theta).T.reshape(1, 2, h, w)
    m = np.ones((1, 1, h, w))
    quad = float(gwm_loss(t(m), t(f), "quadratic", ridge=0.0))
    aff = float(gwm_loss(t(m), t(f), "affine"))
    const = float(gwm_loss(t(m), t(f), "constant"))
    assert quad < 1e-10 * const
    assert float(gwm_loss(t(m), t(f), "quadratic")) < 1e-5 * const  # the default ridge's bias
    assert aff > 1e-3 and const > aff
    # the constant model's loss is the flow's total variance
    assert const == pytest.approx(float(((f - f.mean((2, 3), keepdims=True)) ** 2).sum()), rel=1e-10)
    got = fit_flow_models(t(m), t(f), coords="pixel", ridge=0.0)[0, 0]
    order = [0, 1, 2, 3, 4, 5]  # [x, x², y, y², xy, 1]: the reference's order too
    np.testing.assert_allclose(got.numpy(), theta[order].T, rtol=1e-6, atol=1e-9)


def test_reconstruct_flow_with_hard_masks_recovers_piecewise_flow():
    obj, f = synthetic_scene()
    masks = hard(obj, ~obj)
    theta = fit_flow_models(masks, t(f), "quadratic", coords="centered", ridge=0.0)
    rec = reconstruct_flow(masks, theta, "quadratic", coords="centered")
    np.testing.assert_allclose(rec.numpy(), f, atol=1e-9)
    theta = fit_flow_models(masks, t(f), "quadratic", coords="centered")  # default ridge: close
    np.testing.assert_allclose(reconstruct_flow(masks, theta, coords="centered").numpy(), f, atol=1e-5)


def test_loss_does_not_depend_on_coordinate_normalisation(rng):
    m, f = soft_masks(rng, 2, 3, 9, 13), random_flow(rng, 2, 9, 13)
    for form in ("exact", "code", "ch5"):
        ref = gwm_loss(t(m), t(f), form=form, coords="unit", ridge=0.0, reduction="none").numpy()
        for coords in ("centered", "pixel"):
            got = gwm_loss(t(m), t(f), form=form, coords=coords, ridge=0.0, reduction="none").numpy()
            np.testing.assert_allclose(got, ref, rtol=1e-8)
        # the default ridge is small against the data
        with_ridge = gwm_loss(t(m), t(f), form=form, reduction="none").numpy()
        np.testing.assert_allclose(with_ridge, ref, rtol=1e-4)
        assert np.all(with_ridge >= ref * (1 - 1e-12)) or form == "code"


def test_empty_and_degenerate_regions_are_finite():
    h, w = 8, 10
    m = np.zeros((1, 5, h, w))
    m[0, 0] = 1.0
    m[0, 0, 3, :] = 0.0
    m[0, 0, 5, 4] = 0.0
    m[0, 1, 3, :] = 1.0  # one row: y, y² constant, xy ∝ x
    m[0, 2, 5, 4] = 1.0  # one pixel
    # channel 3 empty; channel 4 all zeros too
    f = np.random.default_rng(1).normal(size=(1, 2, h, w))
    for form in ("exact", "code", "ch5"):
        masks = t(m.copy()).requires_grad_(True)
        flow = t(f.copy()).requires_grad_(True)
        loss = gwm_loss(masks, flow, form=form)
        loss.backward()
        assert torch.isfinite(loss)
        assert torch.isfinite(masks.grad).all() and torch.isfinite(flow.grad).all()
    # single-pixel and empty regions fit exactly; the one-row region fits its own row with a quadratic in x
    one = gwm_loss(t(m[:, 2:]), t(f))
    assert float(one) == pytest.approx(0.0, abs=1e-12)
    theta = fit_flow_models(t(m), t(f))
    assert torch.isfinite(theta).all() and (theta[0, 3:] == 0).all()


def test_float32_input_and_extreme_softmax():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 16, 20, generator=g) * 60  # many probabilities underflow to exactly 0
    logits[:, 3] = -1e4  # an empty component
    logits.requires_grad_(True)
    flow = torch.randn(2, 2, 16, 20, generator=g) * 5
    for form in ("exact", "code", "ch5"):
        loss = gwm_loss(logits.softmax(1), flow, form=form)
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        (grad,) = torch.autograd.grad(loss, logits)
        assert torch.isfinite(grad).all()


@pytest.mark.parametrize("form", ["exact", "code", "ch5"])
def test_gradcheck(form):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 2, 4, 5, generator=g, dtype=torch.float64)
    masks = logits.softmax(1).requires_grad_(True)
    flow = torch.randn(1, 2, 4, 5, generator=g, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda m, f: gwm_loss(m, f, "affine", form), (masks, flow))
    assert torch.autograd.gradcheck(lambda m, f: gwm_loss(m, f, "quadratic", form), (masks, flow))


def test_envelope_theorem_gradient(rng):
    """∂L/∂p_uk = ‖F_u − A*_k φ(u) − b*_k‖² for the exact form (spec A.2.3)."""
    m, f = soft_masks(rng, 1, 3, 7, 9), random_flow(rng, 1, 7, 9)
    masks = t(m).requires_grad_(True)
    gwm_loss(masks, t(f), ridge=0.0, reduction="sum").backward()
    theta = fit_flow_models(t(m), t(f), ridge=0.0)[0].numpy()  # (K, 2, 6)
    x = design(7, 9, "quadratic")
    fr = f[0].reshape(2, -1).T
    want = np.stack([((fr - x @ theta[k].T) ** 2).sum(1) for k in range(3)]).reshape(1, 3, 7, 9)
    np.testing.assert_allclose(masks.grad.numpy(), want, rtol=1e-7, atol=1e-10)


def test_shape_and_option_errors():
    m = torch.ones(2, 3, 8, 8) / 3
    with pytest.raises(ShapeError, match=r"\(2, 2, 8, 8\).*\(2, 3, 8, 8\).*\(2, 2, 4, 4\)"):
        gwm_loss(m, torch.zeros(2, 2, 4, 4))
    with pytest.raises(ShapeError, match="masks"):
        gwm_loss(torch.ones(3, 8, 8), torch.zeros(2, 8, 8))
    with pytest.raises(ConfigError, match="form"):
        gwm_loss(m, torch.zeros(2, 2, 8, 8), form="paper")
    with pytest.raises(ConfigError, match="ridge"):
        gwm_loss(m, torch.zeros(2, 2, 8, 8), ridge=-1)
    with pytest.raises(ShapeError, match="theta"):
        reconstruct_flow(m, torch.zeros(2, 3, 2, 3), "quadratic")


def test_resize_flow_rescales_vectors():
    f = torch.zeros(2, 4, 6)
    f[0], f[1] = 1.0, -2.0
    f[0, 0, 0] = 50.0
    r = resize_flow(f, (8, 18))
    assert r.shape == (2, 8, 18)
    assert float(r[0, -1, -1]) == pytest.approx(3.0) and float(r[1, -1, -1]) == pytest.approx(-4.0)
    assert float(r[0, 0, 0]) == pytest.approx(150.0)  # nearest: the corner pixel is repeated
    assert float(resize_flow(f, (8, 18), clip=20)[0, 0, 0]) == 20.0
    b = resize_flow(f[None].repeat(3, 1, 1, 1), (2, 3), mode="bilinear")
    assert b.shape == (3, 2, 2, 3) and float(b[0, 1, -1, -1]) == pytest.approx(-1.0)
    assert resize_flow(f, (4, 6)) is f or torch.equal(resize_flow(f, (4, 6)), f)
