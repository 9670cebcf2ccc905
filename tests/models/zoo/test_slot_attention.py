"""Slot Attention auto-encoder: contract shapes, mask normalisation, Alg. 1 by hand, gradients, a short fit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from spelke.engine.types import ModelOutput
from spelke.errors import ConfigError, ShapeError
from spelke.models.zoo import OBJECT_CENTRIC
from spelke.models.zoo.slot_attention import (
    SlotAttention,
    SlotAttentionAE,
    SlotAttentionConfig,
    slot_attention,
)
from tests.models.zoo.helpers import params_without_finite_grad, rectangles

TINY = {"hidden": 16, "slot_dim": 16, "mlp_hidden": 32, "decoder_upsamples": 2}


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(num_slots: int = 4, **kw) -> SlotAttentionAE:
    return slot_attention(num_slots=num_slots, image_size=(32, 32), **{**TINY, **kw})


def test_registered_under_its_name():
    model = OBJECT_CENTRIC.create("slot-attention", num_slots=3, image_size=(32, 32), **TINY)
    assert isinstance(model, SlotAttentionAE)
    assert model.config.num_slots == 3


def test_paper_config_is_the_thesis_setting():
    cfg = SlotAttentionAE.paper_config
    assert (cfg.num_slots, cfg.num_iterations, cfg.image_size) == (11, 3, (128, 128))
    assert (cfg.hidden, cfg.slot_dim, cfg.mlp_hidden, cfg.encoder_kernel) == (64, 64, 128, 5)
    assert (cfg.learning_rate, cfg.batch_size, cfg.max_steps) == (4e-4, 64, 500_000)
    model = slot_attention()
    assert model.config == cfg
    assert model.broadcast == (8, 8)  # the paper's 8x8 broadcast grid at 128x128
    assert sum(isinstance(m, torch.nn.ConvTranspose2d) for m in model.decoder) == 6


def test_forward_contract_shapes_masks_and_recon():
    torch.manual_seed(0)
    model = tiny(num_slots=4)
    image = torch.rand(2, 3, 32, 32)
    out = model(image)
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (2, 4, 32, 32)
    assert out.slot_recons.shape == (2, 4, 3, 32, 32)
    assert out.recon.shape == (2, 3, 32, 32)
    assert out.slots.shape == (2, 4, 16)
    assert out.extras["attn"].shape == (2, 4, 32 * 32)
    torch.testing.assert_close(out.masks.sum(dim=1), torch.ones(2, 32, 32))
    # logits are log mask probabilities: their exp already sums to one
    torch.testing.assert_close(out.logits.exp().sum(dim=1), torch.ones(2, 32, 32))
    torch.testing.assert_close(out.recon, (out.masks.unsqueeze(2) * out.slot_recons).sum(dim=1))
    # the attention is a softmax over slots
    torch.testing.assert_close(out.extras["attn"].sum(dim=1), torch.ones(2, 32 * 32))


def test_alg1_by_hand_with_one_slot_and_one_iteration():
    """With K = 1 the softmax over slots is 1, so the update is the plain mean of the values."""
    torch.manual_seed(1)
    sa = SlotAttention(num_slots=1, dim=8, input_dim=6, iterations=1, mlp_hidden=16, epsilon=1e-8)
    inputs, init = torch.randn(2, 10, 6), torch.randn(2, 1, 8)
    slots, attn = sa(inputs, init)
    v = sa.to_v(sa.norm_inputs(inputs))
    upd = v.mean(dim=1)
    want = sa.gru(upd, init[:, 0])
    want = want + sa.mlp(sa.norm_mlp(want))
    torch.testing.assert_close(slots[:, 0], want)
    torch.testing.assert_close(attn, torch.ones(2, 1, 10))


def test_alg1_by_hand_weighted_mean_with_two_slots():
    torch.manual_seed(2)
    sa = SlotAttention(num_slots=2, dim=4, input_dim=4, iterations=1, mlp_hidden=8, epsilon=0.0)
    inputs, init = torch.randn(1, 5, 4), torch.randn(1, 2, 4)
    slots, attn = sa(inputs, init)
    x = sa.norm_inputs(inputs)[0]
    k, v = sa.to_k(x), sa.to_v(x)
    q = sa.to_q(sa.norm_slots(init[0]))
    a = torch.zeros(2, 5)
    for n in range(5):  # softmax over the two slots, input by input
        s = torch.stack([k[n] @ q[j] / 2.0 for j in range(2)])
        a[:, n] = torch.exp(s) / torch.exp(s).sum()
    torch.testing.assert_close(attn[0], a)
    upd = torch.stack([(a[j, :, None] * v).sum(0) / a[j].sum() for j in range(2)])
    want = sa.gru(upd, init[0])
    torch.testing.assert_close(slots[0], want + sa.mlp(sa.norm_mlp(want)))


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = tiny(num_slots=3)
    image = torch.rand(2, 3, 32, 32)
    terms = model.objective(image, model(image))
    terms["loss"].backward()
    missing = params_without_finite_grad(model)
    assert missing == []
    assert all(float(p.grad.abs().sum()) > 0 for p in model.parameters())


def test_objective_is_the_papers_mse():
    torch.manual_seed(0)
    model = tiny(num_slots=3)
    image = torch.rand(2, 3, 32, 32)
    out = model(image)
    terms = model.objective(image, out)
    assert set(terms) == {"loss", "mse", "mse_01"}
    assert all(torch.isfinite(v) for v in terms.values())
    torch.testing.assert_close(terms["mse_01"], ((out.recon - image) ** 2).mean().detach())
    # the paper's images live in [-1, 1]: the same error is 4x larger there
    torch.testing.assert_close(terms["loss"].detach(), F.mse_loss(2 * out.recon - 1, 2 * image - 1).detach())
    plain = tiny(num_slots=3, centre_input=False)
    terms = plain.objective(image, plain(image))
    torch.testing.assert_close(terms["loss"].detach(), terms["mse_01"])


def test_cli_strings_are_coerced():
    model = slot_attention(num_slots="3", image_size="32,32", hidden="16", slot_dim=16, mlp_hidden=32,
                           decoder_upsamples="2", centre_input="false")  # fmt: skip
    assert model.config.num_slots == 3 and model.config.image_size == (32, 32)
    assert model.config.centre_input is False


def test_bad_inputs_fail_with_clear_errors():
    model = tiny()
    with pytest.raises(ShapeError, match=r"\(B, 3, 32, 32\)"):
        model(torch.rand(2, 3, 48, 48))
    with pytest.raises(ShapeError, match="3 axes instead of 4"):
        model(torch.rand(3, 32, 32))
    with pytest.raises(ShapeError, match=r"\[0, 1\]"):
        model(torch.rand(1, 3, 32, 32) * 255)
    with pytest.raises(ShapeError, match="float"):
        model(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ConfigError, match="valid options"):
        slot_attention(num_slots=3, image_size=(32, 32), widht=3)
    with pytest.raises(ConfigError, match="divisible"):
        slot_attention(num_slots=3, image_size=(36, 36), decoder_upsamples=4)
    with pytest.raises(ConfigError):
        SlotAttentionConfig(num_slots=0)


def test_short_training_run_lowers_the_reconstruction_error():
    torch.manual_seed(0)
    images = rectangles(8, 32)
    model = tiny(num_slots=4)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for step in range(50):
        terms = model.objective(images, model(images), step)
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        losses.append(float(terms["mse_01"]))
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.85 * first, (first, last)
