"""The command line as users meet it: exit codes, one-line errors, files written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from spelke import __version__
from spelke.cli import main, parse_options
from spelke.data.io import write_image, write_label_map
from spelke.errors import ConfigError


def test_version_and_help(capsys):
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("evaluate", "list", "demo"):
        assert cmd in out


def test_entry_point_installed():
    exe = shutil.which("spelke") or str(__import__("pathlib").Path(sys.executable).with_name("spelke"))
    r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and __version__ in r.stdout


def test_list(capsys):
    assert main(["list", "protocols"]) == 0
    out = capsys.readouterr().out
    assert "davis2016" in out and "clevrtex" in out and "oracle" in out
    assert main(["list", "datasets"]) == 0
    assert "davis_tree" in capsys.readouterr().out
    assert main(["list", "metrics", "--pattern", "*ari*"]) == 0
    out = capsys.readouterr().out
    assert "fg_ari" in out and "miou" not in out
    assert main(["list", "widgets"]) == 2
    assert "cannot list 'widgets'" in capsys.readouterr().err


def test_parse_options():
    assert parse_options(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(ConfigError, match="key=value"):
        parse_options(["novalue"])


def _tree(tmp_path):
    m = np.zeros((16, 16), np.int64)
    m[4:12, 4:12] = 1
    for t in range(3):
        write_label_map(tmp_path / "gt" / "Annotations" / "seq" / f"{t:05d}.png", m * 255)
        write_image(
            tmp_path / "gt" / "JPEGImages" / "seq" / f"{t:05d}.png", np.full((3, 16, 16), 0.5, np.float32)
        )
        write_label_map(tmp_path / "pred" / "seq" / f"{t:05d}.png", m if t else np.zeros_like(m))
    return tmp_path / "pred", tmp_path / "gt"


def test_evaluate_writes_json_csv_and_gallery(tmp_path, capsys):
    pred, gt = _tree(tmp_path)
    out = tmp_path / "res" / "m.json"
    code = main(
        [
            "evaluate",
            "--protocol",
            "davis2016",
            "--pred",
            str(pred),
            "--gt",
            str(gt),
            "--out",
            str(out),
            "--gallery",
            "1",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "J_seq_mean" in printed
    data = json.loads(out.read_text())
    assert data["protocol"] == "davis2016" and data["protocol_version"] == "1"
    assert data["summary"]["J_seq_mean"] == pytest.approx(2 / 3)
    csv = (tmp_path / "res" / "m_per_frame.csv").read_text().splitlines()
    assert csv[0].startswith("sequence,frame,J") and len(csv) == 4
    gallery = tmp_path / "res" / "m_gallery"
    assert (gallery / "index.html").is_file() and len(list(gallery.glob("*.png"))) == 2


def test_evaluate_options_and_bad_input_exit_2_with_one_line(tmp_path, capsys):
    pred, gt = _tree(tmp_path)
    assert main(["evaluate", "-P", "davis2016", "--pred", str(pred), "--gt", str(gt), "frames=no-first"]) == 0
    capsys.readouterr()
    cases = [
        (
            ["evaluate", "-P", "davis2061", "--pred", str(pred), "--gt", str(gt)],
            "unknown protocol 'davis2061'",
        ),
        (
            ["evaluate", "-P", "davis2016", "--pred", str(tmp_path / "nope"), "--gt", str(gt)],
            "does not exist",
        ),
        (["evaluate", "-P", "davis2016", "--pred", str(pred), "--gt", str(gt), "frames"], "key=value"),
        (
            ["evaluate", "-P", "davis2016", "--pred", str(pred), "--gt", str(gt), "frames=most"],
            "frames must be one of",
        ),
        (
            ["evaluate", "-P", "davis2016", "--pred", str(pred), "--gt", str(gt), "--gallery", "2"],
            "needs --out",
        ),
    ]
    for argv, msg in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert msg in err
        assert "Traceback" not in err
    (pred / "seq" / "00001.png").write_bytes(b"not a png")
    assert main(["evaluate", "-P", "davis2016", "--pred", str(pred), "--gt", str(gt)]) == 2
    assert "00001.png" in capsys.readouterr().err
    with pytest.raises(Exception):  # --debug shows the traceback instead
        main(["--debug", "evaluate", "-P", "davis2016", "--pred", str(pred), "--gt", str(gt)])


def test_missing_required_option_is_usage_error(capsys):
    assert main(["evaluate", "--protocol", "davis2016"]) == 2


def test_evaluate_clevrtex_layout_end_to_end(tmp_path, capsys):
    from tests.eval.test_protocols import make_clevrtex

    masks = make_clevrtex(tmp_path / "gt", 10)
    write_label_map(tmp_path / "pred" / "CLEVRTEX_full_000000.png", masks[0] + 1)
    out = tmp_path / "ct.json"
    assert (
        main(
            [
                "evaluate",
                "-P",
                "clevrtex",
                "--pred",
                str(tmp_path / "pred"),
                "--gt",
                str(tmp_path / "gt"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "per attribute" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["summary"]["miou"] == pytest.approx(1.0) and data["options"]["variant"] == "full"
    assert (tmp_path / "ct_per_attribute.csv").read_text().startswith("attribute,value,obj_iou")
