"""The train / segment commands: help, config display, listing, and clear errors on bad input."""

from __future__ import annotations

import torch

from spelke.cli import main


def test_list_methods_segmenters_backbones_features(capsys):
    assert main(["list", "methods"]) == 0
    out = capsys.readouterr().out
    assert "gwm" in out and "lrtl" in out and "cpu" in out
    for kind, name in (("segmenters", "mask2former"), ("backbones", "sacnn"), ("features", "dino-vits8")):
        assert main(["list", kind]) == 0
        assert name in capsys.readouterr().out


def test_show_config_with_overrides(capsys):
    assert main(["train", "gwm", "--preset", "cpu", "max_steps=77", "--show-config"]) == 0
    out = capsys.readouterr().out
    assert "max_steps" in out and "77" in out and "App. C.1" in out


def test_train_errors(capsys, tmp_path):
    assert main(["train", "gwm"]) == 2
    assert "--dataset NAME --root PATH" in capsys.readouterr().err
    assert main(["train", "gwm", "max_step=3", "--show-config"]) == 2
    assert "did you mean max_steps" in capsys.readouterr().err
    assert main(["train", "nope", "--show-config"]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err
    # a tree without flow: the error names the command that makes it
    from spelke.synth.textured_motion import make_textured_video

    make_textured_video(frames=3, size=(32, 32), seed=0).write(tmp_path / "t", "c0", gt_gaps=())
    code = main(
        ["train", "gwm", "--root", str(tmp_path / "t"), "--preset", "cpu", "--out", str(tmp_path / "r")]
    )
    assert code == 2 and "spelke flow --root" in capsys.readouterr().err


def test_segment_refuses_foreign_checkpoint(capsys, tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "x.pt")
    assert main(["segment", "--checkpoint", str(tmp_path / "x.pt"), str(tmp_path)]) == 2
    assert "not a spelke checkpoint" in capsys.readouterr().err
