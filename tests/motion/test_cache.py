"""The flow cache layout, round trips, plain motion-grouping trees and manifests."""

from __future__ import annotations

import numpy as np
import pytest

from spelke.data.flow_io import write_flo
from spelke.errors import ConfigError, DataLayoutError, FileFormatError
from spelke.motion.cache import (
    FlowCache,
    available_backends,
    available_gaps,
    flo_is_valid,
    flow_path,
    frame_stem,
    gap_dirname,
    has_flow,
    parse_gap_dirname,
    read_flow,
    read_manifest,
    update_manifest,
    write_flow,
)


def test_layout_of_paths(tmp_path):
    p = flow_path(tmp_path, "raft-large", -2, "bear", 7)
    assert p.relative_to(tmp_path).as_posix() == "flows/raft-large/Flows_gap-2/bear/00007.flo"
    assert flow_path(tmp_path, "gt", 1, "cat", "frame_012").name == "frame_012.flo"
    assert (
        flow_path(tmp_path, "plain", 1, "bear", 0).relative_to(tmp_path).as_posix()
        == "Flows_gap1/bear/00000.flo"
    )
    assert gap_dirname(-3) == "Flows_gap-3" and parse_gap_dirname("Flows_gap-3") == -3
    assert parse_gap_dirname("FlowImages_gap1") is None and parse_gap_dirname("Flows_gap0") is None
    assert frame_stem(np.int64(12)) == "00012"
    for bad in (
        lambda: gap_dirname(0),
        lambda: frame_stem(-1),
        lambda: flow_path(tmp_path, "a/b", 1, "s", 0),
    ):
        with pytest.raises(ConfigError):
            bad()


def test_round_trip_is_exact(tmp_path, rng):
    flow = rng.normal(size=(2, 5, 7)).astype(np.float32)
    p = write_flow(tmp_path, "dis", 1, "seq", 3, flow)
    assert p.is_file() and not list(p.parent.glob(".*"))  # atomic: no temporary file left
    np.testing.assert_array_equal(read_flow(tmp_path, "dis", 1, "seq", 3), flow)
    np.testing.assert_array_equal(read_flow(tmp_path, "dis", 1, "seq", "00003"), flow)
    assert has_flow(tmp_path, "dis", 1, "seq", 3, size=(5, 7))
    assert not has_flow(tmp_path, "dis", 1, "seq", 3, size=(5, 8))
    assert not has_flow(tmp_path, "dis", -1, "seq", 3)


def test_missing_entry_says_which_command_creates_it(tmp_path):
    with pytest.raises(DataLayoutError, match=r"spelke flow .*--gaps -1 --backend dis"):
        read_flow(tmp_path, "dis", -1, "seq", 0)
    write_flow(tmp_path, "dis", 1, "seq", 0, np.zeros((2, 2, 2), np.float32))
    with pytest.raises(DataLayoutError, match="last 1 frame"):
        read_flow(tmp_path, "dis", 1, "seq", 1)
    with pytest.raises(DataLayoutError, match="generators"):
        read_flow(tmp_path, "gt", 1, "seq", 0)


def test_truncated_files_are_invalid(tmp_path):
    p = write_flow(tmp_path, "dis", 1, "s", 0, np.ones((2, 4, 4), np.float32))
    assert flo_is_valid(p) and flo_is_valid(p, (4, 4))
    p.write_bytes(p.read_bytes()[:-8])
    assert not flo_is_valid(p)
    with pytest.raises(FileFormatError, match="truncated"):
        read_flow(tmp_path, "dis", 1, "s", 0)
    assert not flo_is_valid(tmp_path / "missing.flo")


def test_plain_motion_grouping_tree_is_read_as_is(tmp_path, rng):
    flow = rng.normal(size=(2, 3, 4)).astype(np.float32)
    write_flo(tmp_path / "Flows_gap-1" / "bear" / "00004.flo", flow)
    write_flo(tmp_path / "Flows_gap2" / "bear" / "00000.flo", flow)
    write_flow(tmp_path, "raft-large", 1, "bear", 0, flow)
    np.testing.assert_array_equal(read_flow(tmp_path, "plain", -1, "bear", 4), flow)
    assert available_gaps(tmp_path, "plain") == [-1, 2]
    assert available_gaps(tmp_path, "plain", "cow") == []
    assert available_backends(tmp_path) == ["raft-large", "plain"]
    with pytest.raises(ConfigError, match="read-only"):
        write_flow(tmp_path, "plain", 1, "bear", 0, flow)


def test_manifest_merges_and_refuses_a_different_setting(tmp_path):
    update_manifest(
        tmp_path,
        "dis",
        backend="dis",
        version="v1",
        options={"preset": "fast"},
        gaps=[1],
        sequences={"a": {"size": [4, 6], "frames": 3}},
    )
    m = update_manifest(
        tmp_path,
        "dis",
        backend="dis",
        version="v1",
        options={"preset": "fast"},
        gaps=[-1, 1],
        sequences={"b": {"size": [4, 6], "frames": 5}},
    )
    assert m["gaps"] == [-1, 1] and sorted(m["sequences"]) == ["a", "b"] and m["resolution"] == [4, 6]
    assert read_manifest(tmp_path, "dis") == m and m["spelke_version"]
    m = update_manifest(
        tmp_path,
        "dis",
        backend="dis",
        version="v1",
        options={"preset": "fast"},
        sequences={"c": {"size": [8, 8], "frames": 2}},
    )
    assert m["resolution"] is None  # sizes differ between sequences
    with pytest.raises(ConfigError, match=r"preset.*--name"):
        update_manifest(tmp_path, "dis", backend="dis", version="v1", options={"preset": "medium"})
    assert read_manifest(tmp_path, "plain") == {}


def test_flow_cache_object(tmp_path):
    cache = FlowCache(tmp_path, "gt")
    cache.write(-1, "s", 1, np.ones((2, 3, 3), np.float32))
    assert cache.has(-1, "s", 1) and cache.gaps() == [-1] and cache.gaps("s") == [-1]
    assert cache.read(-1, "s", 1).sum() == 18 and cache.path(-1, "s", 1).name == "00001.flo"
    assert cache.folder == tmp_path / "flows" / "gt" and cache.manifest == {}
