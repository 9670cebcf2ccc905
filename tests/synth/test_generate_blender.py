"""End-to-end generation with the real Blender renderer at tiny sizes (48x48 to 48x64, few samples)."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

pytest.importorskip("bpy")

from spelke.data.flow_io import read_flo
from spelke.data.io import read_json, read_label_map, write_label_map
from spelke.errors import ConfigError
from spelke.eval.protocols import create_protocol
from spelke.synth.camera import Camera
from spelke.synth.flow import rigid_flow
from spelke.synth.generate import GenerateConfig, generate_images, sample_paths
from spelke.synth.moving import VideoConfig, flow_between, flow_path, generate_videos
from spelke.synth.outputs import read_depth

STILLS = dict(variant="camo", num=4, size=(48, 48), samples=4, shadow_samples=2, seed=0)


@pytest.fixture(scope="module")
def stills(tmp_path_factory):
    out = tmp_path_factory.mktemp("stills")
    report = generate_images(GenerateConfig(**STILLS), out, (0, 1))
    return out, report


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    out = tmp_path_factory.mktemp("clips")
    cfg = VideoConfig(dataset="moving-clevr", num=2, frames=3, size=(48, 64), samples=2, gaps=(1, -1, 2, -2))
    report = generate_videos(cfg, out, (0, 1))
    return out, report, cfg


def test_instance_maps_hold_exactly_the_objects_of_the_metadata(stills):
    out, report = stills
    assert report.rendered == [0, 1, 2, 3]
    for i in range(4):
        p = sample_paths(out, "camo", i)
        meta = read_json(p["json"])
        ids = set(np.unique(read_label_map(p["mask"])).tolist())
        assert ids == set(range(meta["num_objects"] + 1))
        assert [o["index"] for o in meta["objects"]] == list(range(1, meta["num_objects"] + 1))
        # CAMO: one material for every object and the background
        assert {o["material"] for o in meta["objects"]} == {meta["ground_material"]}
        for key in ("image", "depth", "normal", "albedo", "shadow"):
            assert p[key].is_file(), key
        assert meta["checksums"][p["image"].name]
        assert not list(p["json"].parent.glob(".*"))  # no temporary files left behind


def test_depth_is_planar_and_consistent_with_the_camera(stills):
    out, _ = stills
    p = sample_paths(out, "camo", 0)
    meta = read_json(p["json"])
    depth = read_depth(p["depth"])
    inst = read_label_map(p["mask"])
    m = np.asarray(meta["camera"]["matrix_world"])
    cam = Camera(rotation=m[:3, :3], location=m[:3, 3])
    ground = (inst == 0) & np.isfinite(depth)
    world = cam.unproject(cam.pixel_grid(depth.shape), np.where(np.isfinite(depth), depth, 1.0), depth.shape)
    # the backdrop is the plane z = 0 up to its displacement and the 1/1000 depth quantisation
    assert np.median(np.abs(world[ground][:, 2])) < 0.05
    for o in meta["objects"]:
        pts = world[inst == o["index"]]
        centre = np.asarray(o["3d_coords"])
        # visible surface points lie within the object's bounding sphere (radius ~ scale * sqrt(2))
        assert np.linalg.norm(pts - centre, axis=1).max() < o["scale"] * 1.6 + 0.1


def test_same_seed_same_data_and_resume(stills, tmp_path):
    out, _ = stills
    again = generate_images(GenerateConfig(**{**STILLS, "num": 2}), tmp_path, (1, 2))  # index 1 only
    assert again.rendered == [1]
    a, b = sample_paths(out, "camo", 1), sample_paths(tmp_path, "camo", 1)
    ja, jb = read_json(a["json"]), read_json(b["json"])
    assert ja["objects"] == jb["objects"] and ja["ground_material"] == jb["ground_material"]
    assert np.array_equal(read_label_map(a["mask"]), read_label_map(b["mask"]))
    assert a["image"].read_bytes() == b["image"].read_bytes()
    # resuming skips finished samples; a sample whose JSON is missing is rendered again
    b["json"].unlink()
    (b["json"].parent / ".CLEVRTEX_camo_000001.render.png").write_bytes(b"half-written")
    rerun = generate_images(GenerateConfig(**{**STILLS, "num": 2}), tmp_path, (0, 2))
    assert rerun.rendered == [0] and rerun.skipped == []
    rerun = generate_images(GenerateConfig(**{**STILLS, "num": 2}), tmp_path, (0, 1))
    assert rerun.rendered == [1] and rerun.skipped == [0]
    assert b["image"].read_bytes() == a["image"].read_bytes()
    # other settings in the same folder are refused instead of mixing two datasets
    with pytest.raises(ConfigError, match="samples"):
        generate_images(GenerateConfig(**{**STILLS, "num": 2, "samples": 8}), tmp_path, (0, 1))


def test_clevrtex_protocol_reads_generated_stills(stills, tmp_path):
    out, _ = stills
    for i in range(4):
        p = sample_paths(out, "camo", i)
        write_label_map(tmp_path / "pred" / p["image"].name, read_label_map(p["mask"]) * 3 + 1)
    res = create_protocol("clevrtex").evaluate(tmp_path / "pred", out, split="all")
    assert res.summary["images"] == 4
    assert res.summary["miou"] == pytest.approx(1.0)


def test_clips_layout_ids_and_flow(clips):
    out, report, cfg = clips
    assert report.rendered == [0, 1]
    assert (out / "ImageSets" / "train.txt").read_text().split() == ["000000", "000001"]
    for seq in ("000000", "000001"):
        meta = read_json(out / "meta" / f"{seq}.json")
        n = meta["num_objects"]
        assert meta["scenario"] in ("one", "two", "all") and meta["pushed_objects"]
        first = set(np.unique(read_label_map(out / "Annotations" / seq / "00000.png")).tolist())
        assert first == set(range(n + 1))  # every object visible in the first frame
        for t in range(cfg.frames):
            ids = set(np.unique(read_label_map(out / "Annotations" / seq / f"{t:05d}.png")).tolist())
            assert ids <= set(range(n + 1))
            for g in cfg.gaps:
                assert flow_path(out, g, seq, t).is_file() == (0 <= t + g < cfg.frames)
        # our flow agrees with Cycles' vector pass on object interiors (gaps of one)
        assert meta["flow_check_vector_pass_epe"] < 0.05
        # stored flow == flow recomputed from the metadata (up to the 1/1000 depth quantisation of the
        # depth PNGs), for stored and unstored gaps
        assert np.allclose(read_flo(flow_path(out, 2, seq, 0)), flow_between(out, seq, 0, 2), atol=0.01)
        fw, bw = flow_between(out, seq, 0, 1), flow_between(out, seq, 1, 0)
        assert fw.shape == (2, 48, 64) and bw.shape == (2, 48, 64)
        # a pushed object moves, and it moves in the image
        inst = read_label_map(out / "Annotations" / seq / "00000.png")
        pushed = meta["pushed_objects"][0]
        if (inst == pushed).any():
            assert np.linalg.norm(fw[:, inst == pushed], axis=0).mean() > 0.05
        static = [i for i in range(1, n + 1) if i not in meta["moving"][0]]
        for i in static:
            if (inst == i).any():
                assert np.abs(fw[:, inst == i]).max() < 1e-3


def test_a_turning_camera_keeps_the_scenes_and_its_flow_matches_cycles(clips, tmp_path):
    """--camera-rotation: the same scenes and object motion as the static camera (its draws come from a
    stream of their own), exact flow that agrees with Cycles' vector pass on every surface, the
    background included, and moving-object ground truth that ignores the camera's own motion."""
    from spelke.synth.moving_gt import moving_objects

    static_root, _, static_cfg = clips
    cfg = dataclasses.replace(static_cfg, num=1, camera_rotation=3.0)
    out = tmp_path / "cam"
    generate_videos(cfg, out, (0, 1))
    seq = "000000"
    meta, still = read_json(out / "meta" / f"{seq}.json"), read_json(static_root / "meta" / f"{seq}.json")
    assert meta["pushes"] == still["pushes"] and meta["objects"] == still["objects"]
    assert np.array_equal(
        read_label_map(out / "Annotations" / seq / "00000.png"),
        read_label_map(static_root / "Annotations" / seq / "00000.png"),
    )  # the first frame keeps the sampled pose
    assert len(meta["camera_frames"]) == cfg.frames and any(meta["camera_rotation_deg_per_frame"])
    assert meta["flow_check_vector_pass_epe"] < 0.05
    inst = read_label_map(out / "Annotations" / seq / "00000.png")
    fw = read_flo(flow_path(out, 1, seq, 0))
    assert np.allclose(fw, flow_between(out, seq, 0, 1), atol=0.01)
    assert np.hypot(*fw)[inst == 0].mean() > 0.5  # the background moves in the image
    own = flow_between(out, seq, 0, 1, camera="fixed")
    assert np.abs(own[:, inst == 0]).max() < 1e-6  # ... but not in the world
    static = [i for i in range(1, meta["num_objects"] + 1) if i not in meta["moving"][0] + meta["moving"][1]]
    moving = moving_objects(out, seq)
    for i in static:
        assert np.abs(own[:, inst == i]).max(initial=0) < 1e-3
        assert all(i not in m for m in moving)
    assert moving == moving_objects(static_root, seq)
    with pytest.raises(ConfigError, match="camera-rotation"):
        VideoConfig(camera_rotation=-1)


def test_a_known_translation_gives_that_translation_in_pixels(clips):
    out, _, _ = clips
    seq = "000000"
    meta = read_json(out / "meta" / f"{seq}.json")
    depth = read_depth(out / "Depth" / seq / "00000.png")
    inst = read_label_map(out / "Annotations" / seq / "00000.png")
    m = np.asarray(meta["camera"]["matrix_world"])
    cam = Camera(rotation=m[:3, :3], location=m[:3, 3])
    k = meta["num_objects"]
    src = np.tile(np.eye(4), (k + 1, 1, 1))
    dst = src.copy()
    right = cam.rotation[:, 0]  # camera x axis in the world: a move along it is a pure image translation
    dst[1, :3, 3] = 0.2 * right
    flow = rigid_flow(depth, inst, src, dst, cam)
    sel = inst == 1
    f = cam.focal_pixels(depth.shape)
    assert np.allclose(flow[0][sel], f * 0.2 / depth[sel], rtol=1e-4)
    assert np.abs(flow[1][sel]).max() < 1e-3
    assert np.abs(flow[:, ~sel]).max() < 1e-9


def test_movi_protocol_and_resume_on_clips(clips, tmp_path):
    out, _, cfg = clips
    pred = tmp_path / "pred"
    for seq in ("000000", "000001"):
        shutil.copytree(out / "Annotations" / seq, pred / seq)
    res = create_protocol("movi").evaluate(pred, out)
    assert res.summary["sequences"] == 2 and res.summary["miou"] == pytest.approx(1.0)
    again = generate_videos(cfg, out, (0, 1))
    assert again.rendered == [] and again.skipped == [0, 1]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["frames"] == 3 and "blender" in manifest["versions"]


def test_spelke_loaders_read_generated_data(stills, clips):
    from spelke.data import create_dataset

    out, _ = stills
    ds = create_dataset("clevrtex", root=out, variant="camo", split="all", crop=True, size=128, metadata=True)
    assert len(ds) == 4
    frame = ds[0]
    assert frame.image.shape == (3, 128, 128) and frame.labels.shape == (128, 128)
    assert frame.meta["metadata"]["num_objects"] >= 3 and frame.meta["variant"] == "camo"
    clip_root, _, cfg = clips
    seqs = create_dataset("moving-clevr", root=clip_root, split="train")
    clip = seqs[0]
    assert clip.labels.shape == (cfg.frames, 48, 64)
    flow = seqs.flow(clip.sequence, 0, 1)
    assert np.allclose(flow, read_flo(flow_path(clip_root, 1, clip.sequence, 0)))


def test_cli_generate_and_errors(tmp_path, capsys):
    from spelke.cli import main

    args = ["generate", "clevrtex", "--variant", "plainbg", "--num", "2", "--size", "48x48", "--samples", "2"]
    assert main([*args, "--shadow-samples", "0", "--out", str(tmp_path), "--shard", "1/2"]) == 0
    files = sorted(p.name for p in (tmp_path / "clevrtex_pbg" / "0").iterdir())
    assert files[0].startswith("CLEVRTEX_pbg_000001") and not any("000000" in f for f in files)
    meta = read_json(tmp_path / "clevrtex_pbg" / "0" / "CLEVRTEX_pbg_000001.json")
    assert meta["ground_material"] == "plain-backdrop" and meta["shadow_filename"] is None
    assert main(["generate", "clevrtex", "--variant", "camouflage", "--out", str(tmp_path)]) == 2
    assert "camo" in capsys.readouterr().err
    assert main(["generate", "clevrtex", "--size", "48by48", "--out", str(tmp_path)]) == 2
    assert (
        main(["generate", "moving-clevrtex", "--frames", "3", "--gaps", "1,5", "--out", str(tmp_path)]) == 2
    )
    assert "gaps" in capsys.readouterr().err
    assert main(["generate", "clevrtex", "--camera-rotation", "1", "--out", str(tmp_path)]) == 2
    assert "stills" in capsys.readouterr().err
    assert main(["generate", "moving-clevr", "--camera-rotation", "45", "--out", str(tmp_path)]) == 2
    assert "degrees per frame" in capsys.readouterr().err


def test_missing_bpy_names_the_extra(monkeypatch):
    import sys

    from spelke.errors import MissingDependencyError
    from spelke.synth import blender

    monkeypatch.setattr(blender, "_bpy", None)
    monkeypatch.setitem(sys.modules, "bpy", None)  # makes `import bpy` raise ImportError
    with pytest.raises(MissingDependencyError, match=r"spelke\[synth\]"):
        blender.require_bpy()
