"""MONet: scope recursion by hand, the mixture NLL against a direct computation, KLs against
torch.distributions, contract shapes, gradients, and a short fit."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Categorical, Normal, kl_divergence

from spelke.engine.types import ModelOutput
from spelke.errors import ConfigError, ShapeError
from spelke.models.zoo import OBJECT_CENTRIC
from spelke.models.zoo.monet import (
    MONet,
    MONetConfig,
    gaussian_mixture_nll,
    monet,
    scope_step,
    stick_breaking,
)
from tests.models.zoo.helpers import params_without_finite_grad, rectangles

TINY = {
    "attention_blocks": 3,
    "attention_base_width": 8,
    "attention_max_width": 16,
    "attention_mlp_hidden": 16,
    "encoder_channels": (8, 8, 16, 16),
    "encoder_mlp": 32,
    "decoder_channels": 16,
    "latent_dim": 8,
}


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(num_slots: int = 4, **kw) -> MONet:
    return monet(num_slots=num_slots, image_size=(32, 32), **{**TINY, **kw})


def test_registered_under_its_name():
    model = OBJECT_CENTRIC.create("monet", num_slots=3, image_size=(32, 32), **TINY)
    assert isinstance(model, MONet) and model.config.num_slots == 3


def test_paper_config_is_the_papers_setting():
    cfg = MONet.paper_config
    assert (cfg.num_slots, cfg.image_size, cfg.latent_dim) == (11, (128, 128), 16)
    assert (cfg.sigma_bg, cfg.sigma_fg, cfg.beta, cfg.gamma) == (0.09, 0.11, 0.5, 0.5)
    assert cfg.encoder_channels == (32, 32, 64, 64) and cfg.encoder_mlp == 256
    assert (cfg.decoder_channels, cfg.decoder_layers) == (32, 4)
    assert (cfg.learning_rate, cfg.max_steps) == (1e-4, 300_000)
    assert monet().config == cfg


def test_scope_recursion_by_hand():
    # alpha = 0.5 everywhere, K = 4: masks 1/2, 1/4, 1/8 and the rest 1/8; scopes 1, 1/2, 1/4, 1/8.
    log_m, log_s = stick_breaking(torch.zeros(1, 3, 2, 2))
    torch.testing.assert_close(log_m.exp()[0, :, 0, 0], torch.tensor([0.5, 0.25, 0.125, 0.125]))
    torch.testing.assert_close(log_s.exp()[0, :, 0, 0], torch.tensor([1.0, 0.5, 0.25, 0.125]))
    # arbitrary alphas: m_k = s_{k-1} alpha_k, s_k = s_{k-1} (1 - alpha_k), and the masks sum to one
    torch.manual_seed(0)
    a = torch.randn(2, 5, 3, 4) * 3
    log_m, log_s = stick_breaking(a)
    alpha, m, s = torch.sigmoid(a), log_m.exp(), log_s.exp()
    for k in range(5):
        torch.testing.assert_close(m[:, k], s[:, k] * alpha[:, k])
        torch.testing.assert_close(s[:, k + 1], s[:, k] * (1 - alpha[:, k]))
        torch.testing.assert_close(s[:, k + 1], 1 - m[:, : k + 1].sum(1))  # scope = what is unexplained
    torch.testing.assert_close(m.sum(dim=1), torch.ones(2, 3, 4))
    # one step agrees
    lm, ls = scope_step(torch.log(torch.tensor([0.6])), torch.tensor([math.log(3.0)]))  # alpha = 3/4
    torch.testing.assert_close(lm.exp(), torch.tensor([0.45]))
    torch.testing.assert_close(ls.exp(), torch.tensor([0.15]))


def test_mixture_nll_against_a_direct_computation():
    torch.manual_seed(0)
    b, k, h, w = 2, 3, 2, 3
    image = torch.rand(b, 3, h, w)
    means = torch.rand(b, k, 3, h, w)
    masks = torch.softmax(torch.randn(b, k, h, w), dim=1)
    sig = [0.09, 0.11, 0.11]

    def normal(x, mu, s):
        return math.exp(-((x - mu) ** 2) / (2 * s * s)) / (s * math.sqrt(2 * math.pi))

    want_pix = torch.zeros(b, dtype=torch.float64)
    want_chan = torch.zeros(b, dtype=torch.float64)
    for i in range(b):
        for y in range(h):
            for x in range(w):
                p = sum(
                    float(masks[i, j, y, x])
                    * math.prod(
                        normal(float(image[i, c, y, x]), float(means[i, j, c, y, x]), sig[j])
                        for c in range(3)
                    )
                    for j in range(k)
                )
                want_pix[i] -= math.log(p)
                for c in range(3):
                    pc = sum(
                        float(masks[i, j, y, x])
                        * normal(float(image[i, c, y, x]), float(means[i, j, c, y, x]), sig[j])
                        for j in range(k)
                    )
                    want_chan[i] -= math.log(pc)
    got = gaussian_mixture_nll(image, means, masks.log(), torch.tensor(sig))
    torch.testing.assert_close(got.double(), want_pix, rtol=1e-4, atol=1e-3)
    got_c = gaussian_mixture_nll(image, means, masks.log(), torch.tensor(sig), per_channel=True)
    torch.testing.assert_close(got_c.double(), want_chan, rtol=1e-4, atol=1e-3)


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
    assert out.extras["decoded_mask_logits"].shape == (2, 4, 32, 32)
    torch.testing.assert_close(out.logits.exp().sum(dim=1), torch.ones(2, 32, 32))
    torch.testing.assert_close(out.masks, out.logits.exp())
    torch.testing.assert_close(out.recon, (out.logits.exp().unsqueeze(2) * out.slot_recons).sum(dim=1))
    assert 0 <= float(out.slot_recons.detach().min()) and float(out.slot_recons.detach().max()) <= 1


def test_objective_terms_against_torch_distributions():
    torch.manual_seed(0)
    model = tiny(num_slots=3)
    image = torch.rand(2, 3, 32, 32)
    out = model(image)
    terms = model.objective(image, out)
    assert set(terms) == {"loss", "recon_nll", "kl", "kl_mask", "mse"}
    assert all(torch.isfinite(v) for v in terms.values())
    mu, log_sigma = out.extras["z_mu"], out.extras["z_log_sigma"]
    kl = kl_divergence(Normal(mu, log_sigma.exp()), Normal(0.0, 1.0)).sum(dim=(1, 2)).mean()
    torch.testing.assert_close(terms["kl"], kl.detach())
    q = Categorical(probs=out.logits.exp().permute(0, 2, 3, 1))
    p = Categorical(logits=out.extras["decoded_mask_logits"].permute(0, 2, 3, 1))
    kl_mask = kl_divergence(q, p).sum(dim=(1, 2)).mean()
    torch.testing.assert_close(terms["kl_mask"], kl_mask.detach(), rtol=1e-4, atol=1e-3)
    nll = gaussian_mixture_nll(image, out.slot_recons, out.logits, torch.tensor([0.09, 0.11, 0.11])).mean()
    torch.testing.assert_close(terms["recon_nll"], nll.detach())
    torch.testing.assert_close(
        terms["loss"].detach(), (nll + 0.5 * kl + 0.5 * kl_mask).detach(), rtol=1e-5, atol=1e-2
    )


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = tiny(num_slots=3)
    image = torch.rand(2, 3, 32, 32)
    model.objective(image, model(image))["loss"].backward()
    missing = params_without_finite_grad(model)
    assert missing == []


def test_eval_mode_decodes_the_posterior_mean():
    torch.manual_seed(0)
    model = tiny(num_slots=3).eval()
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        a, b = model(image), model(image)
    torch.testing.assert_close(a.recon, b.recon)
    # in training mode the latents are sampled, so the same image decodes differently: eval's determinism
    # is the posterior mean's, not a model that ignores its noise
    model.train()
    with torch.no_grad():
        c, d = model(image), model(image)
    assert not torch.allclose(c.recon, d.recon)
    torch.testing.assert_close(c.extras["z_mu"], a.extras["z_mu"])  # the mean does not depend on the mode


def test_bad_inputs_fail_with_clear_errors():
    model = tiny()
    with pytest.raises(ShapeError, match=r"\(B, 3, 32, 32\)"):
        model(torch.rand(1, 3, 64, 64))
    with pytest.raises(ShapeError, match=r"\[0, 1\]"):
        model(torch.rand(1, 3, 32, 32) - 0.5)
    with pytest.raises(ShapeError, match="extras"):
        model.objective(torch.rand(1, 3, 32, 32), ModelOutput(logits=torch.zeros(1, 4, 32, 32),
                        slot_recons=torch.zeros(1, 4, 3, 32, 32), recon=torch.zeros(1, 3, 32, 32)))  # fmt: skip
    with pytest.raises(ConfigError, match="divisible"):
        monet(num_slots=3, image_size=(30, 30), attention_blocks=3)
    with pytest.raises(ConfigError, match=">= 2"):
        MONetConfig(num_slots=1)
    with pytest.raises(ConfigError, match="valid options"):
        monet(num_slots=3, image_size=(32, 32), sigma=0.1)


def test_short_training_run_lowers_the_reconstruction_loss():
    torch.manual_seed(0)
    images = rectangles(8, 32)
    model = tiny(num_slots=4)
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    nll = []
    for step in range(40):
        terms = model.objective(images, model(images), step)
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        nll.append(float(terms["recon_nll"]))
    first, last = sum(nll[:10]) / 10, sum(nll[-10:]) / 10
    assert last < first - 0.1 * abs(first), (first, last)
