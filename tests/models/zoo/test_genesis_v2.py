"""GENESIS-v2: IC-SBP by hand, shapes, masks, gradients, GECO state, input checks, a short training run."""

from __future__ import annotations

import math

import pytest
import torch

from spelke.engine.types import ModelOutput
from spelke.errors import ConfigError, ShapeError
from spelke.models.zoo import OBJECT_CENTRIC
from spelke.models.zoo.genesis_v2 import GenesisV2, genesis_v2, ic_sbp
from tests.models.zoo.helpers import params_without_nonzero_grad, two_rectangles

TINY = dict(feat_dim=16)


pytestmark = pytest.mark.usefixtures("one_thread")


# -- IC-SBP ------------------------------------------------------------------------------------------


def test_ic_sbp_by_hand():
    """Three pixels with embeddings 0, 1, 3 (on one axis), scores u = (0.2, 0.9, 0.5), Gaussian σ = 1."""
    emb = torch.tensor([[0.0, 1.0, 3.0], [0.0, 0.0, 0.0]]).view(1, 2, 1, 3)
    u = torch.tensor([0.2, 0.9, 0.5]).view(1, 1, 3)
    log_m, log_s = ic_sbp(emb, 3, 1.0, "gaussian", seed_scores=u, alpha_clamp=(0.01, 0.99))
    m, s = log_m.exp().view(3, 3), log_s.exp().view(3, 3)
    # step 1: all in scope, seed = pixel 1 (u = 0.9); d² = 1, 0, 4; α clamped to 0.99 at the seed
    a1 = [math.exp(-1), 0.99, math.exp(-4)]
    s1 = [1 - a for a in a1]
    # step 2: scores u·s1 = 0.126, 0.009, 0.491 -> seed = pixel 2; d² = 9, 4, 0; α clamped to [0.01, 0.99]
    a2 = [0.01, math.exp(-4), 0.99]
    m2 = [s1[i] * a2[i] for i in range(3)]
    s2 = [s1[i] * (1 - a2[i]) for i in range(3)]
    torch.testing.assert_close(m, torch.tensor([a1, m2, s2]))
    torch.testing.assert_close(s, torch.tensor([[1.0, 1.0, 1.0], s1, s2]))


def test_ic_sbp_properties_and_determinism():
    torch.manual_seed(0)
    emb = torch.randn(2, 8, 6, 7)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for kernel in ("gaussian", "laplacian", "epanechnikov"):
        log_m, log_s = ic_sbp(emb, 5, 2.0, kernel, generator=g1)
        again, _ = ic_sbp(emb, 5, 2.0, kernel, generator=g2)
        torch.testing.assert_close(log_m, again)  # a fixed generator: the same seeds, the same masks
        assert log_m.shape == log_s.shape == (2, 5, 6, 7)
        torch.testing.assert_close(log_m.exp().sum(1), torch.ones(2, 6, 7))  # masks sum to one
        s = log_s.exp()
        assert (s > 0).all() and (s[:, 1:] <= s[:, :-1] + 1e-7).all()  # scopes positive, shrinking
        torch.testing.assert_close(log_m[:, -1], log_s[:, -1])  # the last mask is the last scope


# -- the model --------------------------------------------------------------------------------------


def test_registered_and_paper_config():
    assert "genesis-v2" in OBJECT_CENTRIC and OBJECT_CENTRIC.get("genesis-v2") is genesis_v2
    p = GenesisV2.paper_config
    assert (p.num_slots, p.image_size, p.feat_dim, p.embedding_dim, p.pixel_std) == (
        11,
        (128, 128),
        64,
        8,
        0.7,
    )
    assert (p.kernel, p.semiconv, p.learning_rate, p.batch_size, p.train_steps) == (
        "gaussian",
        True,
        1e-4,
        32,
        500_000,
    )
    assert p.geco is not None and p.geco.target == 0.5  # CLEVRTEX goal (thesis App. B.3.3)
    assert genesis_v2(4, (32, 32), dataset="clevr", **TINY).config.geco.target == 0.5655
    assert genesis_v2(4, (32, 32), geco_target=0.6, **TINY).config.geco.target == 0.6
    cli = genesis_v2("4", "32x32", feat_dim="16", grad_clip="none", semiconv="false", alpha_clamp="0.05,0.95")
    assert (cli.config.num_slots, cli.config.image_size, cli.config.feat_dim) == (4, (32, 32), 16)
    assert (cli.config.grad_clip, cli.config.semiconv, cli.config.alpha_clamp) == (None, False, (0.05, 0.95))
    with pytest.raises(ConfigError, match="unknown GenesisV2Config option"):
        genesis_v2(4, (32, 32), feat_dims=16)
    with pytest.raises(ConfigError, match="multiples of 16"):
        genesis_v2(4, (40, 40), **TINY)


def test_forward_shapes_masks_and_gradients():
    torch.manual_seed(0)
    model = genesis_v2(num_slots=4, image_size=(32, 32), **TINY)
    model.embed.gate.data.fill_(0.5)  # the gate starts at 0, which zeroes the embedding conv's gradient
    x = torch.rand(2, 3, 32, 32)
    out = model(x)
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (2, 4, 32, 32) and out.slot_recons.shape == (2, 4, 3, 32, 32)
    assert out.recon.shape == (2, 3, 32, 32) and out.slots.shape == (2, 4, 16)
    torch.testing.assert_close(out.masks.sum(1), torch.ones(2, 32, 32))
    torch.testing.assert_close(out.extras["attention_logits"].exp().sum(1), torch.ones(2, 32, 32))
    torch.testing.assert_close(out.recon, (out.masks[:, :, None] * out.slot_recons).sum(1))
    assert 0 <= float(out.slot_recons.detach().min()) and float(out.slot_recons.detach().max()) <= 1
    terms = model.objective(x, out, step=0)
    assert {"loss", "recon_nll", "kl", "mse", "constraint", "geco_lambda"} <= set(terms)
    assert all(torch.isfinite(v).all() for v in terms.values())
    terms["loss"].backward()
    missing = params_without_nonzero_grad(model)
    assert missing == []


def test_nll_is_the_mixture_likelihood_with_constant():
    """NLL per value at a perfect reconstruction is log(σ√(2π)) = 0.5623 at σ = 0.7."""
    from spelke.models.zoo.monet import gaussian_mixture_nll

    x = torch.rand(1, 3, 4, 4)
    means = x[:, None].expand(1, 2, 3, 4, 4)
    log_m = torch.log(torch.full((1, 2, 4, 4), 0.5))
    nll = gaussian_mixture_nll(x, means, log_m, 0.7, per_channel=True)
    assert float(nll) / 48 == pytest.approx(math.log(0.7 * math.sqrt(2 * math.pi)), rel=1e-5)


def test_geco_updates_in_training_only_and_input_checks():
    torch.manual_seed(0)
    model = genesis_v2(num_slots=3, image_size=(16, 16), feat_dim=8)
    x = torch.rand(2, 3, 16, 16)
    model.eval()
    with torch.no_grad():
        model.objective(x, model(x), step=0)
    assert int(model.geco.num_updates) == 0
    model.train()
    model.objective(x, model(x), step=0)
    assert int(model.geco.num_updates) == 1 and "geco.raw" in model.state_dict()
    with pytest.raises(ShapeError, match="image_size"):
        model(torch.rand(2, 3, 32, 32))
    with pytest.raises(ShapeError, match=r"\(B, 3, 16, 16\), got \(2, 1, 16, 16\)"):
        model(torch.rand(2, 1, 16, 16))
    with pytest.raises(ShapeError, match=r"\[0, 1\]"):
        model(torch.rand(2, 3, 16, 16) * 255)


def test_short_training_run_lowers_reconstruction_error():
    torch.manual_seed(0)
    x = two_rectangles(8)
    model = genesis_v2(num_slots=3, image_size=(32, 32), dataset="clevr", **TINY)

    def mse() -> float:
        torch.manual_seed(1)  # the same IC-SBP seeds and latent samples before and after
        with torch.no_grad():
            return float((model(x).recon - x).pow(2).mean())

    before = mse()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for step in range(30):
        loss = model.objective(x, model(x), step)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = mse()
    assert after < 0.7 * before, (before, after)
    assert float(model.geco.multiplier) > 1.0  # the goal (MSE ~ 0.003) is far: λ grows
