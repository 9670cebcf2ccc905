"""compute_flow and `spelke flow`: layout, accuracy, resume, shards, errors, videos and frame folders."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from spelke._sharding import parse_shard, shard_from_env, shard_range
from spelke.cli import main
from spelke.data.io import write_image
from spelke.data.video import write_video
from spelke.errors import ConfigError, SpelkeError
from spelke.motion import compute_flow, end_point_error, parse_gaps, read_flow, read_manifest
from spelke.motion.cache import flow_path
from spelke.synth.textured_motion import make_textured_video


@pytest.fixture(scope="module")
def clips():
    return [
        make_textured_video(frames=5, size=(32, 48), objects=2, seed=1).to_clip("alpha"),
        make_textured_video(frames=3, size=(32, 48), objects=1, seed=2).to_clip("beta"),
    ]


def _flo_files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.flo"))


def test_layout_names_follow_the_source_frame(tmp_path, clips):
    report = compute_flow(clips, out=tmp_path, gaps="1,-1,2", backend="dis", options={"preset": "ultrafast"})
    assert report.ok and report.written == report.pairs == (4 + 4 + 3) + (2 + 2 + 1)
    files = _flo_files(tmp_path)
    assert "flows/dis/Flows_gap-1/alpha/00001.flo" in files
    assert "flows/dis/Flows_gap-1/alpha/00000.flo" not in files  # frame 0 has no previous frame
    assert (
        "flows/dis/Flows_gap2/alpha/00002.flo" in files
        and "flows/dis/Flows_gap2/alpha/00003.flo" not in files
    )
    m = read_manifest(tmp_path, "dis")
    assert m["gaps"] == [-1, 1, 2] and m["options"]["preset"] == "ultrafast" and m["resolution"] == [32, 48]
    assert m["sequences"] == {
        "alpha": {"size": [32, 48], "frames": 5},
        "beta": {"size": [32, 48], "frames": 3},
    }


def test_cached_flow_matches_the_exact_flow(tmp_path, textured_video):
    compute_flow([textured_video.to_clip("v")], out=tmp_path, gaps=(1, -1))
    for t in range(1, len(textured_video) - 1):
        for g in (1, -1):
            f = read_flow(tmp_path, "dis", g, "v", t)
            assert end_point_error(f, textured_video.flow(t, t + g), textured_video.valid(t, t + g)) < 0.35


def test_resume_skips_valid_files_and_redoes_broken_ones(tmp_path, clips):
    first = compute_flow(clips, out=tmp_path, gaps=(1, -1), options={"preset": "ultrafast"})
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.flo")}
    again = compute_flow(clips, out=tmp_path, gaps=(1, -1), options={"preset": "ultrafast"})
    assert again.written == 0 and again.skipped == first.written
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.flo")} == mtimes
    broken = flow_path(tmp_path, "dis", 1, "alpha", 2)
    broken.write_bytes(broken.read_bytes()[:100])  # an interrupted write of an older, non-atomic tool
    third = compute_flow(clips, out=tmp_path, gaps=(1, -1), options={"preset": "ultrafast"})
    assert third.written == 1 and third.skipped == first.written - 1
    forced = compute_flow(clips, out=tmp_path, gaps=(1,), options={"preset": "ultrafast"}, overwrite=True)
    assert forced.written == 4 + 2


def test_shards_partition_the_work_exactly_once(tmp_path, clips):
    whole = compute_flow(clips, out=tmp_path / "whole", gaps=(1, -1), options={"preset": "ultrafast"})
    reports = [
        compute_flow(
            clips, out=tmp_path / "sharded", gaps=(1, -1), options={"preset": "ultrafast"}, shard=f"{i}/3"
        )
        for i in range(3)
    ]
    assert sum(r.written for r in reports) == whole.written and all(r.skipped == 0 for r in reports)
    assert all(r.written > 0 for r in reports)
    assert _flo_files(tmp_path / "sharded") == _flo_files(tmp_path / "whole")
    for rel in _flo_files(tmp_path / "whole"):
        np.testing.assert_array_equal(
            read_flow_file(tmp_path / "sharded" / rel), read_flow_file(tmp_path / "whole" / rel)
        )
    assert (
        read_manifest(tmp_path / "sharded", "dis")["sequences"]
        == read_manifest(tmp_path / "whole", "dis")["sequences"]
    )


def read_flow_file(p):
    from spelke.data.flow_io import read_flo

    return read_flo(p)


@given(st.integers(0, 200), st.integers(1, 17))
def test_shard_ranges_cover_every_item_once(n_items, n):
    seen = [k for i in range(n) for k in shard_range(n_items, i, n)]
    assert seen == list(range(n_items))
    sizes = [len(shard_range(n_items, i, n)) for i in range(n)]
    assert max(sizes) - min(sizes) <= 1


def test_shard_from_slurm_environment(monkeypatch):
    env = {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "3"}
    assert shard_from_env(env) == (2, 4)
    assert shard_from_env({**env, "SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_STEP": "2"}) == (2, 4)
    assert shard_from_env({}) is None
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "2")
    assert parse_shard(None) == (1, 2) and parse_shard("0/3") == (0, 3)
    for bad in ("3/3", "1", "a/b", "0/0"):
        with pytest.raises(ConfigError):
            parse_shard(bad)


def test_parse_gaps():
    assert parse_gaps("1,-1, 2") == [1, -1, 2] and parse_gaps(3) == [3] and parse_gaps([1, 1]) == [1]
    for bad in ("0", "", "a", "1,,x"):
        with pytest.raises(ConfigError):
            parse_gaps(bad)


def test_errors_are_reported_by_sequence_and_frame(tmp_path):
    v = make_textured_video(frames=4, size=(32, 48), seed=0)
    seqs = tmp_path / "frames"
    for t in range(4):
        write_image(seqs / "good" / f"{t:05d}.png", v.images[t])
    for t in range(2):
        write_image(seqs / "short" / f"{t:05d}.png", v.images[t])
    write_image(seqs / "odd" / "00000.png", v.images[0])
    write_image(seqs / "odd" / "00001.png", v.images[1][:, :30])  # a frame of another size
    write_image(seqs / "odd" / "00002.png", v.images[2])
    (seqs / "odd" / "00003.png").write_bytes(b"not a png")  # an unreadable frame
    report = compute_flow(seqs, out=tmp_path / "out", gaps=(1, 2), options={"preset": "ultrafast"})
    text = [str(e) for e in report.errors]
    assert any("sequence 'short'" in e and "gap(s) 2" in e for e in text), text
    assert any("sequence 'odd', frame 00000, gap 1" in e and "32x48" in e and "30x48" in e for e in text), (
        text
    )
    assert any("sequence 'odd', frame 00003" in e and "cannot read" in e for e in text), text
    # everything else was computed: good (3 + 2), short (1), odd (1 -> 2 only)
    assert report.written == 3 + 2 + 1 + 1
    with pytest.raises(SpelkeError, match="flow error"):
        report.raise_for_errors()


def test_cli_on_a_video_file(tmp_path, capsys):
    v = make_textured_video(frames=5, size=(48, 64), objects=2, seed=4)
    write_video(tmp_path / "clip.mp4", v.images, fps=5, crf=0)
    assert main(["flow", str(tmp_path / "clip.mp4"), "--gaps", "1,-1", "--option", "preset=medium"]) == 0
    assert "8 flows written" in capsys.readouterr().out
    for t in range(4):
        f = read_flow(tmp_path, "dis", 1, "clip", t)  # default --out: the video's folder
        # H.264 (lossless luma, subsampled chroma) costs a little accuracy
        assert end_point_error(f, v.flow(t, t + 1), v.valid(t, t + 1)) < 0.4
    assert main(["flow", str(tmp_path / "clip.mp4"), "--gaps", "1,-1"]) == 0
    assert "0 flows written, 8 already there" in capsys.readouterr().out


def test_cli_on_a_frame_folder_with_shards_and_a_name(tmp_path, capsys):
    v = make_textured_video(frames=4, size=(32, 48), seed=6)
    for t in range(4):
        write_image(tmp_path / "cat" / f"{t:05d}.png", v.images[t])
    out = tmp_path / "cache"
    for i in range(2):
        args = ["flow", str(tmp_path / "cat"), "--out", str(out), "--gaps", "-1", "-b", "farneback"]
        assert main([*args, "--name", "fb", "--shard", f"{i}/2"]) == 0
    assert sorted(p.name for p in (out / "flows" / "fb" / "Flows_gap-1" / "cat").iterdir()) == [
        "00001.flo",
        "00002.flo",
        "00003.flo",
    ]
    assert read_manifest(out, "fb")["backend"] == "farneback"
    f = read_flow(out, "fb", -1, "cat", 3)
    assert end_point_error(f, v.flow(3, 2), v.valid(3, 2)) < 0.5


def test_cli_dataset_errors_exit_2(tmp_path, capsys):
    v = make_textured_video(frames=2, size=(32, 48), seed=0)
    v.write(tmp_path, "tiny", split="val")
    code = main(
        ["flow", "--dataset", "davis_tree", "--root", str(tmp_path), "--split", "val", "--gaps", "1,3"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "sequence 'tiny'" in err and "gap(s) 3" in err
    assert read_flow(tmp_path, "dis", 1, "tiny", 0).shape == (2, 32, 48)
    assert main(["flow", str(tmp_path), "--root", str(tmp_path)]) == 2
    assert main(["flow", str(tmp_path), "--backend", "dis", "--option", "preset=slow"]) == 2
    assert main(["list", "flow-backends"]) == 0
    assert "raft-large" in capsys.readouterr().out
