"""Typed schedules, EMA, method configs (presets, overrides) and checkpoint headers."""

from __future__ import annotations

import math

import pytest
import torch

from spelke.engine.checkpoint import check_header, load_checkpoint, make_header, save_weights
from spelke.engine.ema import EMA, EMAConfig
from spelke.engine.schedules import (
    Constant,
    Cosine,
    ExponentialDecay,
    Linear,
    Step,
    WarmupPoly,
    schedule_from_dict,
)
from spelke.errors import ConfigError, FileFormatError


def test_warmup_poly_matches_detectron2_formula():
    s = WarmupPoly(base=1.5e-4, total_steps=15000, warmup_steps=1500, warmup_start=1e-6, power=0.9)
    assert s(0) == pytest.approx(1e-6)
    for step in (10, 700, 1499, 1500, 8000, 14999):
        warm = 1.0
        if step < 1500:
            alpha = step / 1500
            warm = (1e-6 / 1.5e-4) * (1 - alpha) + alpha
        assert s(step) == pytest.approx(1.5e-4 * warm * (1 - step / 15000) ** 0.9, rel=1e-12)
    assert s(15000) == 0.0 and s(20000) == 0.0


def test_step_linear_cosine_constant():
    st = Step(base=3e-5, milestones=(200, 300), gamma=0.1, warmup_steps=50, warmup_start=0.0)
    assert st(25) == pytest.approx(1.5e-5)
    assert (
        st(199) == pytest.approx(3e-5) and st(200) == pytest.approx(3e-6) and st(300) == pytest.approx(3e-7)
    )
    beta = Linear(start=0.1, end=-0.1, steps=5000)  # PPMP's beta annealing
    assert (
        beta(0) == pytest.approx(0.1)
        and beta(2500) == pytest.approx(0.0)
        and beta(9000) == pytest.approx(-0.1)
    )
    c = Cosine(base=1.0, total_steps=100, final=0.0)
    assert c(0) == pytest.approx(1.0) and c(50) == pytest.approx(0.5) and c(100) == pytest.approx(0.0)
    assert Constant(2.0)(123) == 2.0


def test_schedule_dict_round_trip_and_errors():
    for s in (
        WarmupPoly(1.0, 10, 2, 0.1, 0.9),
        Step(1.0, (3, 5), 0.5),
        Linear(0.1, -0.1, 7),
        Cosine(1.0, 9),
        ExponentialDecay(4e-4, 10, 0.5, 100),
    ):
        assert schedule_from_dict(s.to_dict()) == s
    assert schedule_from_dict(ExponentialDecay(4e-4, 10, 0.5, 100).to_dict())(5) == ExponentialDecay(
        4e-4, 10, 0.5, 100
    )(5)
    assert schedule_from_dict(0.5) == Constant(0.5)
    with pytest.raises(ConfigError, match="unknown schedule kind 'exp'"):
        schedule_from_dict({"kind": "exp"})
    with pytest.raises(ConfigError, match="bad fields"):
        schedule_from_dict({"kind": "linear", "start": 1})


def test_ema_decay_rule_and_update():
    cfg = EMAConfig(power=2 / 3, start=10, every=2, max_decay=0.999)
    assert cfg.decay(5) == 0.0 and cfg.decay(10) == 0.0
    assert cfg.decay(30) == pytest.approx(1 - (1 + 20) ** (-2 / 3))
    net = torch.nn.Linear(2, 1)
    ema = EMA(net, cfg)
    with torch.no_grad():
        net.weight.fill_(1.0)
    assert ema.update(net, 3) is False  # not an update step
    assert ema.update(net, 4) is True  # before start: decay 0 copies
    assert torch.allclose(ema.shadow.weight, torch.ones(1, 2))
    with torch.no_grad():
        net.weight.fill_(3.0)
    ema.update(net, 30)
    d = cfg.decay(30)
    assert torch.allclose(ema.shadow.weight, torch.full((1, 2), d * 1.0 + (1 - d) * 3.0))


def test_config_presets_and_overrides():
    from spelke.methods.registry import create_method, list_methods

    assert {"gwm", "lrtl"} <= set(list_methods())
    paper = create_method("gwm")
    assert (
        paper.config.lr == 1.5e-4
        and paper.config.max_steps == 15000
        and paper.config.input_size == (128, 224)
    )
    cpu = create_method("gwm", "cpu", ["max_steps=30", "input_size=48x64", "flow_clip=null", "gaps=[1,-1]"])
    assert cpu.config.segmenter == "unet" and cpu.config.max_steps == 30
    assert cpu.config.input_size == (48, 64) and cpu.config.flow_clip is None and cpu.config.gaps == (1, -1)
    with pytest.raises(ConfigError, match=r"max_step \(did you mean max_steps\?\)"):
        create_method("gwm", None, ["max_step=3"])
    with pytest.raises(ConfigError, match="must be an integer"):
        create_method("gwm", None, ["max_steps=1.5"])
    # exponents without a dot are numbers too (YAML 1.1 alone reads "7e-4" as a string)
    sci = create_method("gwm", "cpu", ["lr=7e-4", "flow_clip=2e1", "loss_weight=3E-2"])
    assert (sci.config.lr, sci.config.flow_clip, sci.config.loss_weight) == (7e-4, 20.0, 0.03)
    with pytest.raises(ConfigError, match="must be a number"):
        create_method("gwm", None, ["lr=fast"])
    with pytest.raises(ConfigError, match="unknown preset 'fast'"):
        create_method("gwm", "fast")
    with pytest.raises(ConfigError, match="num_masks"):
        create_method("gwm", None, ["num_masks=1"])
    lrtl = create_method("lrtl")
    assert (lrtl.config.flow_weight, lrtl.config.trajectory_weight, lrtl.config.temporal_weight) == (
        0.03,
        5e-5,
        0.1,
    )
    assert (
        lrtl.config.rank == 5 and lrtl.config.next_offset == 5 and math.isclose(lrtl.config.ema_power, 2 / 3)
    )


def test_checkpoint_header_refuses_other_method(tmp_path):
    net = torch.nn.Linear(2, 2)
    p = save_weights(tmp_path / "w.pt", make_header("lrtl", "unet", {"num_masks": 4}), net.state_dict())
    header, sd = load_checkpoint(p)
    assert header["method"] == "lrtl" and set(sd) == {"weight", "bias"}
    with pytest.raises(ConfigError, match="trained by method 'lrtl', not 'gwm'"):
        check_header(header, method="gwm", path=p)
    with pytest.raises(ConfigError, match="holds model 'unet', but the config asks for 'query'"):
        check_header(header, model="query", path=p)
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(FileFormatError, match="not a spelke checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_incompatible_weights_are_refused_with_both_shapes():
    from spelke.engine.checkpoint import load_state_strict

    net = torch.nn.Linear(3, 2)
    bad = {"weight": torch.zeros(4, 3), "bias": torch.zeros(4)}
    with pytest.raises(ConfigError, match=r"weight: checkpoint \(4, 3\) vs model \(2, 3\)"):
        load_state_strict(net, bad, "w.pt")
    with pytest.raises(ConfigError, match="1 missing key"):
        load_state_strict(net, {"weight": torch.zeros(2, 3)}, "w.pt")
