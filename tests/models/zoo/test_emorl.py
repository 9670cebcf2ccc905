"""EfficientMORL: shapes, masks, gradients through refinement, the curriculum, likelihood and KL by hand,
GECO in the objective, input checks, a short training run."""

from __future__ import annotations

import math

import pytest
import torch

from spelke.engine.types import ModelOutput
from spelke.errors import ConfigError, ShapeError
from spelke.models.zoo import OBJECT_CENTRIC
from spelke.models.zoo.emorl import EMORL, EMORLConfig, emorl, normal_kl, softplus_to_std
from tests.models.zoo.helpers import params_without_nonzero_grad, two_rectangles

TINY = dict(z_dim=16, encoder_width=16, decoder_width=16, hidden_width=32)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_registered_and_paper_config():
    assert "emorl" in OBJECT_CENTRIC and OBJECT_CENTRIC.get("emorl") is emorl
    p = EMORL.paper_config
    assert (p.num_slots, p.image_size, p.z_dim, p.stochastic_layers, p.pixel_std) == (
        11,
        (128, 128),
        64,
        3,
        0.1,
    )
    assert (p.learning_rate, p.batch_size, p.grad_clip, p.train_steps) == (4e-4, 32, 5.0, 500_000)
    assert p.refinement_curriculum == ((0, 3), (100_000, 1), (200_000, 1))
    assert p.geco is not None and p.geco.target * 3 * 128**2 == pytest.approx(-73_000)  # CLEVRTEX
    assert emorl(3, (16, 16), dataset="clevr", **TINY).config.geco.target * 3 * 128**2 == pytest.approx(
        -108_000
    )
    assert emorl(3, (16, 16), geco_target=-1.5, **TINY).config.geco.target == -1.5
    yaml = emorl(3, [16, 16], refinement_curriculum=[[0, 2], [10, 1]], grad_clip="2.5", **TINY)
    assert yaml.config.refinement_curriculum == ((0, 2), (10, 1)) and yaml.config.grad_clip == 2.5
    with pytest.raises(ConfigError, match="unknown EMORLConfig option"):
        emorl(3, (16, 16), zdim=8)


def test_curriculum_and_step_weights():
    cfg = EMORLConfig(refinement_curriculum=[(100_000, 1), (0, 3)], eval_refinement_iters=0, **TINY)
    assert cfg.refinement_curriculum == ((0, 3), (100_000, 1))
    assert [cfg.refinement_iters_at(s) for s in (0, 99_999, 100_000, 300_000)] == [3, 3, 1, 1]
    assert cfg.loss_weights(3) == [1.5, 1.25, 1.0, 0.75]  # eMORL code: (I + 3 - i) / (I + 1)
    model = EMORL(cfg)
    assert model.refinement_iters() == 3
    model.train_step.fill_(150_000)
    assert model.refinement_iters() == 1
    assert model.eval().refinement_iters() == 0


def test_forward_shapes_masks_and_gradients_through_refinement():
    torch.manual_seed(0)
    model = emorl(num_slots=4, image_size=(32, 32), **TINY)
    x = torch.rand(2, 3, 32, 32)
    out = model(x, refinement_iters=2)  # two steps: the refinement GRU's recurrent weights get gradients
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (2, 4, 32, 32) and out.slot_recons.shape == (2, 4, 3, 32, 32)
    assert out.recon.shape == (2, 3, 32, 32) and out.slots.shape == (2, 4, 16)
    assert out.extras["nll_steps"].shape == out.extras["kl_steps"].shape == (3, 2)
    torch.testing.assert_close(out.masks.sum(1), torch.ones(2, 32, 32))
    torch.testing.assert_close(out.recon, (out.masks[:, :, None] * out.slot_recons).sum(1))
    terms = model.objective(x, out, step=0)
    assert all(torch.isfinite(v).all() for v in terms.values())
    terms["loss"].backward()
    missing = params_without_nonzero_grad(model)
    assert missing == []


def test_refinement_runs_under_no_grad_and_outputs_are_detached():
    torch.manual_seed(0)
    model = emorl(num_slots=3, image_size=(16, 16), **TINY).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 16, 16))  # eval: 1 refinement step (the curriculum's last value)
    assert out.extras["nll_steps"].shape == (2, 2)
    assert not out.logits.requires_grad and not out.recon.requires_grad


def test_likelihood_and_kl_by_hand():
    model = emorl(num_slots=2, image_size=(16, 16), **TINY)
    x = torch.full((1, 3, 16, 16), 0.5)
    rgb = torch.stack([torch.full((3, 16, 16), 0.3), torch.full((3, 16, 16), 0.9)])[None]
    log_m = torch.log(torch.full((1, 2, 16, 16), 0.5))
    n = 3 * 16 * 16
    # Gaussian on the mixed mean 0.6: per value log σ + 0.5 (0.1 / σ)², no ½ log 2π (eMORL's code)
    want = n * (math.log(0.1) + 0.5 * (0.1 / 0.1) ** 2)
    assert float(model._nll(x, rgb, log_m)) == pytest.approx(want, rel=1e-5)
    mix = emorl(num_slots=2, image_size=(16, 16), likelihood="mixture", **TINY)
    per = -math.log(0.5 * math.exp(-0.5 * 4) / 0.1 + 0.5 * math.exp(-0.5 * 16) / 0.1)
    assert float(mix._nll(x, rgb, log_m)) == pytest.approx(n * per, rel=1e-5)
    mu_q, s_q, mu_p, s_p = torch.randn(4, 5).unbind()
    std_q, std_p = softplus_to_std(s_q), softplus_to_std(s_p)
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu_q, std_q), torch.distributions.Normal(mu_p, std_p)
    )
    torch.testing.assert_close(normal_kl(mu_q, std_q, mu_p, std_p), ref)


def test_objective_warmup_then_geco():
    torch.manual_seed(0)
    model = emorl(num_slots=3, image_size=(16, 16), **TINY)  # GECO warm-up: 1000 ELBO steps
    x = torch.rand(2, 3, 16, 16)
    out = model(x, refinement_iters=1)
    terms = model.objective(x, out, step=0)
    nll, kl = out.extras["nll_steps"], out.extras["kl_steps"]
    elbo = 2.0 * (nll[0] + kl[0]).mean() + 1.5 * (nll[1] + kl[1]).mean()
    assert float(terms["loss"].detach()) == pytest.approx(float(elbo.detach()), rel=1e-5)
    assert int(model.geco.num_updates) == 0 and int(model.train_step) == 1
    lam0 = float(model.geco.multiplier)
    model.objective(x, model(x, refinement_iters=1), step=1000)
    assert int(model.geco.num_updates) == 1
    assert float(model.geco.multiplier) > lam0  # random images are far from the CLEVRTEX target
    model.eval()
    model.objective(x, model(x), step=1001)
    assert int(model.geco.num_updates) == 1


def test_input_checks():
    model = emorl(num_slots=3, image_size=(16, 16), **TINY)
    with pytest.raises(ShapeError, match="image_size"):
        model(torch.rand(1, 3, 32, 32))
    with pytest.raises(ShapeError, match=r"\[0, 1\]"):
        model(-torch.rand(1, 3, 16, 16) - 0.5)
    with pytest.raises(ShapeError):
        model(torch.rand(3, 16, 16))


def test_short_training_run_lowers_reconstruction_error():
    torch.manual_seed(0)
    x = two_rectangles(8)
    model = emorl(num_slots=3, image_size=(32, 32), refinement_curriculum=[(0, 1)], **TINY)

    def mse() -> float:
        torch.manual_seed(1)
        model.eval()
        with torch.no_grad():
            out = float((model(x).recon - x).pow(2).mean())
        model.train()
        return out

    before = mse()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for step in range(25):
        loss = model.objective(x, model(x), step)["loss"]
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
    after = mse()
    assert after < 0.7 * before, (before, after)
