"""``spelke demo`` end to end at a tiny size: Blender data, PPMP and GWM training, segmentation,
evaluation beside baselines, the HTML report; plus the checks it makes before it starts."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("bpy")
pytest.importorskip("lightning")


pytestmark = pytest.mark.usefixtures("one_thread")


def test_demo_runs_the_whole_pipeline(tmp_path):
    from spelke.demo import DemoConfig, run_demo
    from spelke.errors import ConfigError

    cfg = DemoConfig(
        clips=2, test_clips=1, stills=2, frames=3, size=(40, 40), samples=2, minutes=0.4, min_steps=3
    )
    report = run_demo(tmp_path / "demo", cfg, train_progress=False)
    html = report.read_text()
    for text in ("PPMP", "GWM", "K-means", "flow threshold", "FG-ARI", "mIoU", "<svg", "image/gif"):
        assert text in html, text
    man = json.loads((tmp_path / "demo" / "manifest.json").read_text())
    assert {"generate", "train", "segment", "evaluate", "report"} <= set(man["timings_s"])
    groups = {(r["group"], r["method"]) for r in man["results"]}
    assert ("clips", "PPMP") in groups and ("moving", "GWM") in groups and ("stills", "PPMP") in groups
    for r in man["results"]:
        for k, v in r.items():
            if isinstance(v, float):
                assert -1.0 <= v <= 1.0 or v != v, (r, k)  # ARI can be negative
    assert man["training"]["ppmp"]["steps"] >= 3 and man["training"]["gwm"]["steps"] >= 3
    # a second run reuses everything already there: no frame is rendered or predicted again
    watched = sorted((tmp_path / "demo").glob("data/*/JPEGImages/*/*.png")) + sorted(
        (tmp_path / "demo").glob("predictions/ppmp/predictions/*/*.png")
    )
    stamps = [p.stat().st_mtime_ns for p in watched]
    weights = (tmp_path / "demo" / "runs" / "ppmp" / "checkpoints" / "final.pt").read_bytes()
    run_demo(tmp_path / "demo", cfg, train_progress=False)
    assert watched and [p.stat().st_mtime_ns for p in watched] == stamps
    assert (tmp_path / "demo" / "runs" / "ppmp" / "checkpoints" / "final.pt").read_bytes() == weights
    # other settings in the same folder are refused, naming what changed
    with pytest.raises(ConfigError, match=r"other settings \(clips: 2 -> 3\)"):
        run_demo(tmp_path / "demo", DemoConfig(**{**cfg.__dict__, "clips": 3}), train_progress=False)


def test_demo_checks_disk_and_options(tmp_path):
    from spelke.demo import DemoConfig, preflight
    from spelke.errors import ConfigError, SpelkeError

    with pytest.raises(SpelkeError, match="MB free"):
        preflight(tmp_path, need=1 << 60)
    with pytest.raises(ConfigError, match="--frames"):
        DemoConfig(frames=2)
    with pytest.raises(ConfigError, match="--size"):
        DemoConfig(size=(16, 16))
