"""The ClevrTex zoo on the engine: every model trains, resumes, keeps its GECO state, segments, refuses."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from spelke.errors import ConfigError, ShapeError

pytest.importorskip("lightning")

#: CPU-tiny options of each model at 16 x 16.
TINY = {
    "slot-attention": {"hidden": 8, "slot_dim": 8, "mlp_hidden": 16, "decoder_upsamples": 2},
    "monet": {
        "attention_blocks": 3,
        "attention_base_width": 8,
        "attention_max_width": 16,
        "attention_mlp_hidden": 16,
        "encoder_channels": [8, 8, 8, 8],
        "encoder_mlp": 16,
        "decoder_channels": 8,
    },
    "iodine": {
        "num_iterations": 2,
        "latent_dim": 8,
        "decoder_channels": 8,
        "refine_channels": 8,
        "refine_mlp": 16,
        "lstm_hidden": 16,
    },
    "genesis-v2": {"feat_dim": 8},
    "emorl": {
        "z_dim": 8,
        "encoder_width": 8,
        "decoder_width": 8,
        "hidden_width": 16,
        "refinement_curriculum": [[0, 1]],
    },
}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A ClevrTex-layout tree (10 random 240x320 images with instance maps and metadata)."""
    from tests.eval.test_protocols import make_clevrtex

    root = tmp_path_factory.mktemp("ctx")
    make_clevrtex(root, 10, "full")
    return root


def _ds(root, split="train", size=16):
    from spelke.data import create_dataset

    return create_dataset("clevrtex", root=root, split=split, size=size)


def _method(name, **over):
    from spelke.methods.registry import create_method

    values = {
        "num_slots": 3,
        "input_size": [16, 16],
        "model_options": TINY[name],
        "batch_size": 2,
        "max_steps": 3,
        "sample_every": 2,
        "sample_images": 2,
        **over,
    }
    return create_method(name, preset="cpu", overrides=values)


@pytest.mark.parametrize("name", list(TINY))
def test_zoo_method_trains_logs_pictures_and_resumes(tree, tmp_path, name):
    from spelke.engine.checkpoint import load_checkpoint
    from spelke.engine.trainer import read_metrics_csv, train

    run = tmp_path / "run"
    res = train(_method(name), _ds(tree), run, progress=False, accelerator="cpu", log_every=1)
    assert res.steps == 3
    assert np.isfinite(res.final_losses["train/loss"])
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == ["step_000000.png", "step_000002.png"]
    header, state = load_checkpoint(res.weights)
    assert header["method"] == name and header["model"] == name
    rows = read_metrics_csv(run)
    assert any("train/loss" in r for r in rows)
    # resume to 5 steps: the optimiser, schedule and model buffers continue from step 3
    res2 = train(_method(name, max_steps=5), _ds(tree), run, progress=False, accelerator="cpu", log_every=1)
    assert res2.steps == 5
    # only the 2 remaining steps ran (not 5 from scratch): the resumed part's own log holds steps 3 and 4
    import csv

    with open(run / "logs" / "csv-1" / "metrics.csv", newline="") as f:
        resumed = {int(r["step"]) for r in csv.DictReader(f) if r.get("train/loss")}
    assert resumed == {3, 4}
    _, state2 = load_checkpoint(res2.weights)
    if name == "genesis-v2":  # GECO updates once per step from the restored buffers (3 + 2, not 2)
        assert int(state["geco.num_updates"]) == 3 and int(state2["geco.num_updates"]) == 5
        assert float(state2["geco.raw"]) != float(state["geco.raw"])
    if name == "emorl":  # the refinement curriculum's step counter travels in the checkpoint too
        assert int(state["train_step"]) == 3 and int(state2["train_step"]) == 5


def test_geco_state_is_restored_on_resume_not_reset(tree, tmp_path):
    """The Lagrange multiplier after 3 + 2 resumed steps is not the one of 2 fresh steps."""
    from spelke.engine.checkpoint import load_checkpoint
    from spelke.engine.trainer import train

    run = tmp_path / "run"
    train(_method("genesis-v2", sample_every=0), _ds(tree), run, progress=False, accelerator="cpu")
    last = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert int(last["state_dict"]["model.geco.num_updates"]) == 3
    ema3 = float(last["state_dict"]["model.geco.constraint_ema"])
    res = train(
        _method("genesis-v2", sample_every=0, max_steps=4), _ds(tree), run, progress=False, accelerator="cpu"
    )
    _, state = load_checkpoint(res.weights)
    assert int(state["geco.num_updates"]) == 4
    # one more moving-average step from the restored value: ema4 = 0.99 ema3 + 0.01 c4 stays near ema3
    assert abs(float(state["geco.constraint_ema"]) - ema3) < 0.02 * max(1.0, abs(ema3)) + 0.05


def test_checkpoint_of_another_model_is_refused_with_both_names(tree, tmp_path):
    from spelke.engine.trainer import train
    from spelke.methods.segment import load_trained

    res = train(
        _method("slot-attention", max_steps=1, sample_every=0), _ds(tree), tmp_path / "sa", progress=False
    )
    with pytest.raises(ConfigError, match=r"slot-attention.*monet"):
        load_trained(res.weights, "monet")
    with pytest.raises(ConfigError, match=r"slot-attention.*monet"):  # resuming another model's run
        train(_method("monet", max_steps=1, sample_every=0), _ds(tree), tmp_path / "sa", progress=False)


def test_segment_stills_writes_labels_and_reconstructions_scored_as_mse(tree, tmp_path):
    from spelke.engine.trainer import train
    from spelke.eval.protocols import create_protocol
    from spelke.methods.segment import segment_stills

    res = train(
        _method("slot-attention", max_steps=2, sample_every=0), _ds(tree), tmp_path / "run", progress=False
    )
    test = _ds(tree, "test")
    rep = segment_stills(res.weights, test, tmp_path / "pred", resize=False)
    name = test.names[0]
    assert rep.frames == 1
    assert (tmp_path / "pred" / "predictions" / f"{name}_recon.png").is_file()
    first = (tmp_path / "pred" / "predictions" / f"{name}.png").read_bytes()
    # seeded: a second run (overwrite) gives the same labels although slots are sampled
    segment_stills(res.weights, test, tmp_path / "pred", overwrite=True, resize=False)
    assert (tmp_path / "pred" / "predictions" / f"{name}.png").read_bytes() == first
    result = create_protocol("clevrtex").evaluate(tmp_path / "pred", tree, size=16)
    assert np.isfinite(result.summary["mse"]) and 0 <= result.summary["miou"] <= 1
    # images of another size than the model's input: resized only when allowed
    with pytest.raises(ShapeError, match=r"32x32.*16x16"):
        segment_stills(res.weights, _ds(tree, "test", size=32), tmp_path / "p32", resize=False)
    segment_stills(res.weights, _ds(tree, "test", size=32), tmp_path / "p32", resize=True)
    assert create_protocol("clevrtex").evaluate(tmp_path / "p32", tree, size=32).summary["images"] == 1


def test_segment_stills_refuses_predictions_of_another_checkpoint(tree, tmp_path):
    from spelke.data.io import read_json
    from spelke.engine.trainer import train
    from spelke.methods.segment import segment_stills

    kw = {"max_steps": 1, "sample_every": 0}
    a = train(_method("slot-attention", **kw), _ds(tree), tmp_path / "a", progress=False, accelerator="cpu")
    b = train(
        _method("slot-attention", **kw), _ds(tree), tmp_path / "b", seed=1, progress=False, accelerator="cpu"
    )
    test = _ds(tree, "test")
    segment_stills(a.weights, test, tmp_path / "pred", resize=False)
    assert read_json(tmp_path / "pred" / "segment_manifest.json")["complete"] is True
    assert segment_stills(a.weights, test, tmp_path / "pred", resize=False).skipped == 1  # same checkpoint
    with pytest.raises(ConfigError, match="another model"):
        segment_stills(b.weights, test, tmp_path / "pred", resize=False)
    rep = segment_stills(b.weights, test, tmp_path / "pred", overwrite=True, resize=False)
    assert rep.frames == 1 and rep.skipped == 0


def test_paper_defaults_are_the_models_paper_configs():
    from spelke.methods.registry import create_method
    from spelke.models.zoo.emorl import EMORL
    from spelke.models.zoo.genesis_v2 import GenesisV2
    from spelke.models.zoo.iodine import IODINE
    from spelke.models.zoo.monet import MONet
    from spelke.models.zoo.slot_attention import SlotAttentionAE

    for name, cls in [
        ("slot-attention", SlotAttentionAE),
        ("monet", MONet),
        ("iodine", IODINE),
        ("genesis-v2", GenesisV2),
        ("emorl", EMORL),
    ]:
        c, p = create_method(name).config, cls.paper_config
        assert c.num_slots == p.num_slots == 11 and tuple(c.input_size) == tuple(p.image_size) == (128, 128)
        assert c.lr == p.learning_rate and c.batch_size == p.batch_size
        assert c.max_steps == getattr(p, "max_steps", getattr(p, "train_steps", None))
        assert c.grad_clip == getattr(p, "grad_clip", None)
        assert c.warmup_steps == getattr(p, "warmup_steps", getattr(p, "lr_warmup_steps", 0))
        assert c.decay_rate == getattr(p, "decay_rate", getattr(p, "lr_decay_rate", 1.0))
    assert create_method("monet").optim_settings().optimizer == "rmsprop"
    assert create_method("slot-attention").optim_settings().optimizer == "adam"
    lr = create_method("slot-attention").optim_settings().lr
    assert (
        lr(0) == 0.0
        and lr(10_000) == pytest.approx(4e-4 * 0.5**0.1)
        and lr(110_000) == pytest.approx(2e-4 * 0.5**0.1)
    )


def test_optimizer_kinds_and_schedule():
    from spelke.engine.method import OptimSettings, make_optimizer
    from spelke.engine.schedules import Constant
    from spelke.methods.zoo import ExponentialDecay

    net = torch.nn.Linear(2, 2)
    for kind, cls in [
        ("adamw", torch.optim.AdamW),
        ("adam", torch.optim.Adam),
        ("rmsprop", torch.optim.RMSprop),
    ]:
        assert type(make_optimizer(net, OptimSettings(Constant(1e-3), optimizer=kind), 1e-3)) is cls
    with pytest.raises(ConfigError, match="adamw, adam, rmsprop"):
        OptimSettings(Constant(1e-3), optimizer="sgd")
    s = ExponentialDecay(base=1.0, warmup_steps=10, rate=0.5, decay_steps=100)
    assert (
        s(5) == pytest.approx(0.5 * 0.5**0.05)
        and s(100) == pytest.approx(0.5)
        and s(300) == pytest.approx(0.125)
    )


def test_config_errors_name_the_valid_choices():
    from spelke.methods.registry import create_method

    with pytest.raises(ConfigError, match=r"unknown model option\(s\) hiden.*valid: .*hidden"):
        create_method("slot-attention", overrides={"model_options": {"hiden": 8}})
    with pytest.raises(ConfigError, match="set lr on the monet config"):
        create_method("monet", overrides={"model_options": {"learning_rate": 1e-3}})
    with pytest.raises(ConfigError, match="clevrtex, full, pbg"):
        create_method("emorl", overrides={"dataset": "mnist"})
    # the dataset field picks the GECO target of GENESIS-v2 and eMORL
    m = create_method("genesis-v2", overrides={"dataset": "clevr", "input_size": "16x16", "num_slots": 2,
                                               "model_options": {"feat_dim": 8}})  # fmt: skip
    assert m.build_model().config.geco.target == pytest.approx(0.5655)


def test_cli_trains_a_zoo_model_on_clevrtex(tree, tmp_path, capsys):
    from spelke.cli import main

    rc = main(
        [
            "train",
            "slot-attention",
            "--dataset",
            "clevrtex",
            "--root",
            str(tree),
            "--split",
            "train",
            "--data-option",
            "size=16",
            "--preset",
            "cpu",
            "input_size=16x16",
            "num_slots=3",
            "batch_size=2",
            "max_steps=2",
            "model_options={hidden: 8, slot_dim: 8, mlp_hidden: 16, decoder_upsamples: 2}",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "run" / "checkpoints" / "final.pt").is_file()
    assert (tmp_path / "run" / "samples" / "step_000000.png").is_file()
    rc = main(["train", "slot-attention", "--dataset", "davis2016", "--root", str(tree)])
    assert rc == 2 and "image datasets: " in capsys.readouterr().err


def test_presets_are_valid_and_small():
    from spelke.methods.config import list_presets
    from spelke.methods.registry import create_method

    for name in TINY:
        assert "cpu" in list_presets(name)
        m = create_method(name, preset="cpu")
        c = m.config
        assert (
            tuple(c.input_size) == (64, 64) and c.batch_size <= 16 and c.max_steps <= 6000
        )  # Slot Attention needs 6k (docs/results.md)
        assert dataclasses.asdict(c)["model_options"]  # smaller widths than the paper's


def test_cli_segment_refuses_video_options_for_image_datasets(tree, tmp_path, capsys):
    from spelke.cli import main

    args = ["segment", "--dataset", "clevrtex", "--root", str(tree), "--checkpoint", str(tmp_path / "x.pt")]
    assert main([*args, "--out", str(tmp_path / "o"), "--tta-steps", "2", "--foreground", "border"]) == 2
    err = capsys.readouterr().err
    assert "--tta-steps, --foreground not used for image datasets" in err


def test_data_of_another_variant_than_the_configured_dataset_is_refused(tree):
    m = _method("genesis-v2", dataset="plainbg")
    with pytest.raises(ConfigError, match=r"variant 'pbg'.*data is 'full'; set dataset=full"):
        m.make_dataset(_ds(tree))
    assert len(_method("genesis-v2", dataset="clevrtex").make_dataset(_ds(tree))) > 0
