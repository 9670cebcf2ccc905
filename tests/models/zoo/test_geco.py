"""GECO: the multiplier update and the loss against hand computations, the models' forms, presets."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from spelke.errors import ConfigError
from spelke.models.zoo.geco import (
    EMORL_GECO_TOTALS,
    GECO,
    GECO_PRESETS,
    GENESIS_V2_GECO_GOALS,
    GECOConfig,
    geco_preset,
)

N = 12  # values per image of a 2x2 RGB image


def test_three_steps_match_hand_computation():
    """target 0.5/value, α = 0.9, speed 0.1, λ from 1 (GECO Alg. 1, multiplicative update)."""
    geco = GECO(GECOConfig(target=0.5, alpha=0.9, speed=0.1))
    kl = torch.tensor([1.0, 3.0])

    # step 1: mean err 7.8 -> 0.65 per value, C = 0.15; C_ma = C (first); λ = exp(0.1 * 0.15)
    out = geco(torch.tensor([7.2, 8.4]), kl, N, step=0)
    assert float(out["constraint"]) == pytest.approx(0.15, abs=1e-6)
    assert float(out["constraint_ema"]) == pytest.approx(0.15, abs=1e-6)
    assert float(out["geco_lambda"]) == pytest.approx(1.0)  # the loss uses λ from before the update
    assert float(out["loss"]) == pytest.approx(2.0 + 1.0 * N * 0.15, rel=1e-6)  # KL + λ N C_ma
    assert float(geco.multiplier) == pytest.approx(math.exp(0.015), rel=1e-6)

    # step 2: mean err 5.4 -> 0.45, C = -0.05; C_ma = 0.9 * 0.15 + 0.1 * -0.05 = 0.13
    out = geco(torch.tensor([4.8, 6.0]), kl, N, step=1)
    assert float(out["constraint"]) == pytest.approx(-0.05, abs=1e-6)
    assert float(out["constraint_ema"]) == pytest.approx(0.13, abs=1e-6)
    assert float(out["loss"]) == pytest.approx(2.0 + math.exp(0.015) * N * 0.13, rel=1e-5)
    assert float(geco.multiplier) == pytest.approx(math.exp(0.015 + 0.013), rel=1e-6)

    # step 3: err 0 -> C = -0.5; C_ma = 0.9 * 0.13 - 0.05 = 0.067
    out = geco(torch.zeros(2), kl, N, step=2)
    assert float(out["constraint_ema"]) == pytest.approx(0.067, abs=1e-6)
    assert float(geco.multiplier) == pytest.approx(math.exp(0.028 + 0.0067), rel=1e-6)
    assert int(geco.num_updates) == 3


def test_gradient_is_the_lagrangians():
    """d loss / d err_b = λ / B and d loss / d KL_b = 1 / B: the moving-average value trick adds no gradient."""
    geco = GECO(GECOConfig(target=0.5, alpha=0.9, speed=0.1, init=2.0))
    err = torch.tensor([7.2, 8.4], requires_grad=True)
    kl = torch.tensor([1.0, 3.0], requires_grad=True)
    geco(err, kl, N, step=0)
    err2 = torch.tensor([4.8, 6.0], requires_grad=True)
    lam = float(geco.multiplier)
    geco(err2, kl, N, step=1)["loss"].backward()
    torch.testing.assert_close(err2.grad, torch.full((2,), lam / 2))
    torch.testing.assert_close(kl.grad, torch.full((2,), 0.5))


def test_speedup_when_the_constraint_is_satisfied():
    """GENESIS-v2: the step is ``speedup`` times larger while C_ma < 0 (λ relaxes faster)."""
    geco = GECO(GECOConfig(target=0.5, alpha=0.0, speed=0.1, speedup=10.0))
    geco(torch.zeros(1), torch.zeros(1), N, step=0)  # C = -0.5
    assert float(geco.multiplier) == pytest.approx(math.exp(0.1 * 10 * -0.5), rel=1e-6)
    geco(torch.tensor([12.0]), torch.zeros(1), N, step=1)  # C = +0.5: normal speed
    assert float(geco.multiplier) == pytest.approx(math.exp(-0.5 + 0.05), rel=1e-6)


def test_clamped_to_bounds():
    geco = GECO(GECOConfig(target=0.0, alpha=0.0, speed=10.0, maximum=5.0, minimum=0.5))
    geco(torch.tensor([12.0]), torch.zeros(1), N, step=0)  # C = 1 -> exp(10) clamped to 5
    assert float(geco.multiplier) == pytest.approx(5.0, rel=1e-6)
    geco(torch.tensor([-120.0]), torch.zeros(1), N, step=1)  # C = -10
    assert float(geco.multiplier) == pytest.approx(0.5, rel=1e-6)


def test_softplus_parametrisation_as_emorl():
    """λ = softplus(β), β ← max(0.55, β + speed C_ma) from β = 0.55."""
    cfg = GECO_PRESETS["emorl/clevr"]
    geco = GECO(replace(cfg, target=0.5, speed=0.1, warmup_steps=0))
    assert float(geco.multiplier) == pytest.approx(math.log1p(math.exp(0.55)), rel=1e-6)
    geco(torch.tensor([12.0]), torch.zeros(1), N, step=0)  # C = 0.5 -> β = 0.6
    assert float(geco.multiplier) == pytest.approx(math.log1p(math.exp(0.6)), rel=1e-5)
    geco(torch.tensor([-1200.0]), torch.zeros(1), N, step=1)  # a huge satisfied constraint: β floor
    assert float(geco.multiplier) == pytest.approx(math.log1p(math.exp(0.55)), rel=1e-5)


def test_beta_form_as_genesis():
    """GENESIS-v2 minimises err + β KL with β = 1/λ; no target offset in the value."""
    geco = GECO(GECOConfig(target=0.5, alpha=0.9, speed=0.1, form="beta", init=4.0))
    out = geco(torch.tensor([7.2, 8.4]), torch.tensor([1.0, 3.0]), N, step=0)
    assert float(out["loss"]) == pytest.approx(7.8 + 2.0 / 4.0, rel=1e-6)
    assert float(geco.multiplier) == pytest.approx(4.0 * math.exp(0.015), rel=1e-6)


def test_warmup_is_the_elbo_and_then_updates_start():
    geco = GECO(GECOConfig(target=0.5, alpha=0.9, speed=0.1, warmup_steps=3))
    for step in range(3):
        out = geco(torch.tensor([7.2, 8.4]), torch.tensor([1.0, 3.0]), N, step=step)
        assert float(out["loss"]) == pytest.approx(7.8 + 2.0)
        assert int(geco.num_updates) == 0 and float(geco.multiplier) == 1.0
    geco(torch.tensor([7.2, 8.4]), torch.tensor([1.0, 3.0]), N, step=3)
    assert float(geco.constraint_ema) == pytest.approx(0.15, abs=1e-6)  # the first update initialises
    assert float(geco.multiplier) == pytest.approx(math.exp(0.015), rel=1e-6)


def test_no_update_in_eval_mode_and_state_in_checkpoints():
    geco = GECO(GECOConfig(target=0.5, alpha=0.9, speed=0.1))
    geco(torch.tensor([7.2, 8.4]), torch.zeros(2), N, step=0)
    geco.eval()
    before = (float(geco.multiplier), float(geco.constraint_ema), int(geco.num_updates))
    out = geco(torch.tensor([20.0, 20.0]), torch.zeros(2), N, step=1)
    assert (float(geco.multiplier), float(geco.constraint_ema), int(geco.num_updates)) == before
    # eval loss: KL + λ N C with this batch's own constraint (no moving-average value)
    assert float(out["loss"]) == pytest.approx(before[0] * N * (20.0 / N - 0.5), rel=1e-6)

    state = geco.state_dict()
    assert set(state) == {"raw", "constraint_ema", "num_updates"}
    other = GECO(GECOConfig(target=0.5, alpha=0.9, speed=0.1))
    other.load_state_dict(state)
    assert float(other.multiplier) == pytest.approx(before[0])
    assert float(other.constraint_ema) == pytest.approx(before[1])
    assert int(other.num_updates) == 1


def test_presets_are_the_thesis_numbers():
    for d, total in EMORL_GECO_TOTALS.items():
        assert GECO_PRESETS[f"emorl/{d}"].target * 3 * 128 * 128 == pytest.approx(total)
    assert EMORL_GECO_TOTALS == {
        "clevr": -108000,
        "pbg": -108000,
        "vbg": -61000,
        "grassbg": -61000,
        "full": -73000,
        "camo": -73000,
        "outd": -73000,
    }
    assert GENESIS_V2_GECO_GOALS["clevr"] == 0.5655 and GENESIS_V2_GECO_GOALS["full"] == 0.5
    assert geco_preset("emorl", "clevrtex") == GECO_PRESETS["emorl/full"]
    assert geco_preset("emorl", "PlainBG") == GECO_PRESETS["emorl/pbg"]
    g = geco_preset("genesis-v2", "clevr")
    assert (g.form, g.speedup, g.alpha) == ("beta", 10.0, 0.99)
    assert g.speed == pytest.approx(3 * 64**2 * 1e-5)  # g_lr 1e-5 · 64²/(HW) on the summed NLL
    e = geco_preset("emorl", "ood")
    assert (e.form, e.parametrisation, e.warmup_steps) == ("lagrangian", "softplus", 1000)
    assert e.speed == pytest.approx(1e-6 * 3 * 128 * 128)
    with pytest.raises(ConfigError, match="no GECO preset"):
        geco_preset("emorl", "kitti")


@pytest.mark.parametrize(
    "kw",
    [dict(alpha=1.0), dict(speed=-1.0), dict(form="other"), dict(parametrisation="exp"), dict(init=0.0)],
)
def test_config_errors(kw):
    with pytest.raises(ConfigError):
        GECOConfig(target=0.5, **kw)
