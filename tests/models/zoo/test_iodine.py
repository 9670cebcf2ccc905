"""IODINE: contract shapes, the refinement inputs recomputed by hand, the step-weighted objective,
gradients, no-grad inference, and a short fit."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from spelke.engine.types import ModelOutput
from spelke.errors import ConfigError, ShapeError
from spelke.models.zoo import OBJECT_CENTRIC
from spelke.models.zoo.iodine import IODINE, IODINEConfig, iodine, mask_gradient, step_weights
from spelke.models.zoo.monet import gaussian_mixture_nll
from tests.models.zoo.helpers import params_without_finite_grad, rectangles

TINY = {
    "num_iterations": 3,
    "latent_dim": 8,
    "decoder_channels": 16,
    "refine_channels": 16,
    "refine_mlp": 32,
    "lstm_hidden": 32,
}


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(num_slots: int = 4, size: int = 32, **kw) -> IODINE:
    return iodine(num_slots=num_slots, image_size=(size, size), **{**TINY, **kw})


def test_registered_under_its_name():
    model = OBJECT_CENTRIC.create("iodine", num_slots=3, image_size=(32, 32), **TINY)
    assert isinstance(model, IODINE) and model.config.num_iterations == 3


def test_paper_config_is_the_papers_setting():
    cfg = IODINE.paper_config
    assert (cfg.num_slots, cfg.num_iterations, cfg.image_size) == (11, 5, (128, 128))
    assert (cfg.latent_dim, cfg.sigma) == (64, 0.1)
    assert (cfg.decoder_channels, cfg.decoder_layers, cfg.refine_channels, cfg.refine_layers) == (
        64,
        4,
        64,
        4,
    )
    assert (cfg.refine_mlp, cfg.lstm_hidden) == (256, 256)
    assert (cfg.learning_rate, cfg.batch_size, cfg.max_steps) == (3e-4, 32, 300_000)
    assert iodine().config == cfg


def test_forward_contract_shapes_masks_and_recon():
    torch.manual_seed(0)
    model = tiny(num_slots=4)
    image = torch.rand(2, 3, 32, 32)
    out = model(image)
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (2, 4, 32, 32)
    assert out.slot_recons.shape == (2, 4, 3, 32, 32)
    assert out.recon.shape == (2, 3, 32, 32)
    assert out.slots.shape == (2, 4, 8)
    assert out.extras["nll_steps"].shape == (2, 3) and out.extras["kl_steps"].shape == (2, 3)
    torch.testing.assert_close(out.logits.exp().sum(dim=1), torch.ones(2, 32, 32))
    torch.testing.assert_close(out.recon, (out.masks.unsqueeze(2) * out.slot_recons).sum(dim=1))
    # the refinement moved the posteriors away from the shared lambda^(1)
    mu0 = model.lambda0[:8].detach()
    assert float((out.slots.detach() - mu0).abs().max()) > 1e-4


def test_last_step_terms_are_the_mixture_nll_and_the_gaussian_kl():
    torch.manual_seed(0)
    model = tiny(num_slots=3)
    image = torch.rand(2, 3, 32, 32)
    out = model(image)
    nll = gaussian_mixture_nll(image, out.slot_recons, out.logits, 0.1)
    torch.testing.assert_close(out.extras["nll_steps"][:, -1], nll)
    q = Normal(out.extras["z_mu"], out.extras["z_log_sigma"].exp())
    kl = kl_divergence(q, Normal(0.0, 1.0)).sum(dim=(1, 2))
    torch.testing.assert_close(out.extras["kl_steps"][:, -1], kl)


def test_objective_weights_the_steps_by_t_over_T():
    torch.testing.assert_close(step_weights(5), torch.tensor([0.2, 0.4, 0.6, 0.8, 1.0]))
    torch.manual_seed(0)
    model = tiny(num_slots=3)
    image = torch.rand(2, 3, 32, 32)
    out = model(image)
    terms = model.objective(image, out)
    assert set(terms) == {"loss", "recon_nll", "kl", "elbo", "mse"}
    assert all(torch.isfinite(v) for v in terms.values())
    nll, kl = out.extras["nll_steps"], out.extras["kl_steps"]
    want = sum((t + 1) / 3 * (nll[:, t] + kl[:, t]) for t in range(3)).mean()
    torch.testing.assert_close(terms["loss"], want)
    torch.testing.assert_close(terms["elbo"], -(nll[:, -1] + kl[:, -1]).mean().detach())


def test_mask_gradient_matches_autograd():
    torch.manual_seed(0)
    log_n = torch.randn(2, 3, 4, 5) * 4
    m = torch.softmax(torch.randn(2, 3, 4, 5), dim=1).requires_grad_()
    nll = -torch.log((m * log_n.exp()).sum(dim=1)).sum()
    (auto,) = torch.autograd.grad(nll, m)
    log_px = torch.logsumexp(m.detach().log() + log_n, dim=1)
    torch.testing.assert_close(mask_gradient(log_n, log_px), auto)


def test_refinement_inputs_recomputed_by_hand():
    """The 17 input channels: raw ones equal their sources; LN'd ones equal LN of a direct computation."""
    torch.manual_seed(0)
    k, size = 3, 16
    model = tiny(num_slots=k, size=size, num_iterations=2)
    seen: list[torch.Tensor] = []
    model.refine.convs.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach()))
    image = torch.rand(2, 3, size, size)
    model(image)
    assert len(seen) == 1  # T = 2: one refinement
    aux = seen[0].view(2, k, 17, size, size)
    x, mu, m, m_hat, resp = aux[:, :, 0:3], aux[:, :, 3:6], aux[:, :, 6], aux[:, :, 7], aux[:, :, 8]
    torch.testing.assert_close(x, image.unsqueeze(1).expand(2, k, 3, size, size))
    torch.testing.assert_close(m, torch.softmax(m_hat, dim=1))
    # direct per-pixel densities
    n = (
        torch.exp(-((image.unsqueeze(1) - mu) ** 2) / (2 * 0.01)).prod(dim=2)
        / (0.1 * math.sqrt(2 * math.pi)) ** 3
    )
    px = (m * n).sum(dim=1, keepdim=True)
    torch.testing.assert_close(resp, m * n / px, rtol=1e-4, atol=1e-5)
    loo = torch.log((px - m * n) / (1 - m))  # log p(x | z_{j != k})

    def ln(t):
        return F.layer_norm(t, t.shape[-3:])

    torch.testing.assert_close(aux[:, :, 12:13], ln((-n / px).unsqueeze(2)), rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(
        aux[:, :, 13:14], ln(px.log().expand(2, k, size, size).unsqueeze(2)), rtol=1e-3, atol=1e-3
    )
    torch.testing.assert_close(aux[:, :, 14:15], ln(loo.unsqueeze(2)), rtol=1e-3, atol=1e-3)
    g = aux[:, :, 9:12]  # LN'd mean gradients: zero mean, unit variance per component
    torch.testing.assert_close(g.mean(dim=(2, 3, 4)), torch.zeros(2, k), atol=1e-4, rtol=0)
    torch.testing.assert_close(g.var(dim=(2, 3, 4), unbiased=False), torch.ones(2, k), atol=1e-3, rtol=0)
    ys = torch.linspace(-1, 1, size)
    torch.testing.assert_close(aux[0, 0, 15, :, 0], ys)
    torch.testing.assert_close(aux[0, 0, 16, 0, :], ys)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = tiny(num_slots=3)
    image = torch.rand(2, 3, 32, 32)
    model.objective(image, model(image))["loss"].backward()
    missing = params_without_finite_grad(model)
    assert missing == []


def test_inference_under_no_grad_and_with_frozen_parameters():
    torch.manual_seed(0)
    model = tiny(num_slots=3).eval()
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        out = model(image)
    assert not out.logits.requires_grad and not out.extras["nll_steps"].requires_grad
    torch.testing.assert_close(out.masks.sum(dim=1), torch.ones(1, 32, 32))
    for p in model.parameters():
        p.requires_grad_(False)
    assert torch.isfinite(model(image).extras["nll_steps"]).all()


def test_bad_inputs_fail_with_clear_errors():
    model = tiny()
    with pytest.raises(ShapeError, match=r"\(B, 3, 32, 32\)"):
        model(torch.rand(1, 1, 32, 32))
    with pytest.raises(ShapeError, match=r"\[0, 1\]"):
        model(torch.rand(1, 3, 32, 32) * 2)
    with pytest.raises(ShapeError, match=r"\(1, 3\)"):
        model.objective(torch.rand(1, 3, 32, 32), ModelOutput(logits=torch.zeros(1, 4, 32, 32),
                        extras={"nll_steps": torch.zeros(1, 2), "kl_steps": torch.zeros(1, 2)}))  # fmt: skip
    with pytest.raises(ConfigError):
        IODINEConfig(sigma=0.0)
    with pytest.raises(ConfigError, match="valid options"):
        iodine(num_slots=3, image_size=(32, 32), iterations=2)


def test_short_training_run_lowers_the_reconstruction_loss():
    torch.manual_seed(0)
    images = rectangles(8, 32)
    model = tiny(num_slots=4, num_iterations=2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    nll = []
    for step in range(40):
        terms = model.objective(images, model(images), step)
        opt.zero_grad()
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), model.config.grad_clip)
        opt.step()
        nll.append(float(terms["recon_nll"]))
    first, last = sum(nll[:10]) / 10, sum(nll[-10:]) / 10
    assert last < first - 0.1 * abs(first), (first, last)
