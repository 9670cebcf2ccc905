"""Scene sampling without Blender: thesis App. B rules, variant rules, determinism, CLEVR metadata."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spelke._sharding import parse_shard
from spelke.errors import ConfigError, NotRegisteredError
from spelke.synth.camera import Camera
from spelke.synth.generate import GenerateConfig, sample_paths, shard_indices
from spelke.synth.materials import get_material, list_materials
from spelke.synth.scene import (
    SHAPE_HALF_HEIGHT,
    SceneConfig,
    directions,
    relationships,
    sample_scene,
    scene_metadata,
)
from spelke.synth.variants import CLEVR_COLORS, GRASS_MATERIAL, PLAIN_BACKDROP, get_variant, list_variants


def test_same_seed_same_scene_and_streams_are_per_index():
    a = sample_scene("full", 7, seed=3)
    b = sample_scene("full", 7, seed=3)
    assert a.to_dict() == b.to_dict()
    assert sample_scene("full", 8, seed=3).to_dict() != a.to_dict()
    assert sample_scene("full", 7, seed=4).to_dict() != a.to_dict()
    assert sample_scene("full", 7, seed=3, attempt=1).to_dict() != a.to_dict()


def test_object_counts_are_uniform_3_to_10():
    counts = [len(sample_scene("full", i, seed=0).objects) for i in range(400)]
    assert min(counts) == 3 and max(counts) == 10
    hist = np.bincount(counts, minlength=11)[3:]
    # 400 draws over 8 values: each ~50; a chi-square-ish sanity bound
    assert hist.min() > 25 and hist.max() < 80


@pytest.mark.parametrize("variant", ["full", "pbg", "vbg", "grassbg", "camo", "outd", "clevr"])
def test_placement_rules_hold(variant):
    cfg = SceneConfig()
    var = get_variant(variant)
    for i in range(30):
        s = sample_scene(variant, i, seed=1)
        xy = np.array([o.location[:2] for o in s.objects])
        assert np.all(np.abs(xy) <= cfg.xy_range)
        for o in s.objects:
            assert o.shape in var.shapes
            assert (o.size, o.scale) in var.sizes
            assert 0 <= o.rotation < 360
            assert o.location[2] == pytest.approx(SHAPE_HALF_HEIGHT[o.shape] * o.scale)
        for a in range(len(s.objects)):
            for b in range(a + 1, len(s.objects)):
                d = np.hypot(*(xy[a] - xy[b]))
                assert d - s.objects[a].scale - s.objects[b].scale >= cfg.min_dist - 1e-12


def test_variant_material_rules():
    main, ood = set(list_materials(group="main")), set(list_materials(group="ood"))
    for i in range(20):
        full = sample_scene("full", i)
        assert {o.material for o in full.objects} <= main and full.ground_material in main
        camo = sample_scene("camo", i)
        assert {o.material for o in camo.objects} == {camo.ground_material}
        pbg = sample_scene("plainbg", i)
        assert pbg.ground_material == PLAIN_BACKDROP and {o.material for o in pbg.objects} <= main
        grass = sample_scene("grassbg", i)
        assert grass.ground_material == GRASS_MATERIAL
        vbg = sample_scene("vbg", i)
        assert vbg.ground_material in main
        assert all(
            o.material in ("plain-rubber", "plain-metal") and o.color in CLEVR_COLORS for o in vbg.objects
        )
        outd = sample_scene("ood", i)
        assert {o.material for o in outd.objects} <= ood and outd.ground_material in ood
        assert {o.shape for o in outd.objects} <= {"cone", "torus", "icosahedron", "teapot"}
        clevr = sample_scene("clevr", i)
        assert clevr.ground_material == PLAIN_BACKDROP and all(o.color for o in clevr.objects)
    assert GRASS_MATERIAL in main and get_material(PLAIN_BACKDROP).group == "plain"


def test_variant_names_and_keys():
    assert set(list_variants()) == {"full", "plainbg", "varbg", "grassbg", "camo", "ood", "clevr"}
    assert {get_variant(k).key for k in list_variants()} == {
        "full",
        "pbg",
        "vbg",
        "grassbg",
        "camo",
        "outd",
        "clevr",
    }
    assert get_variant("outd").name == "ood"
    with pytest.raises(NotRegisteredError, match="camo"):
        get_variant("cammo")
    with pytest.raises(NotRegisteredError, match="Registered variants"):
        GenerateConfig(variant="nonsense")


def test_directions_and_relationships_brute_force():
    cam = Camera.look_at((7.4, -6.9, 5.0))
    d = directions(cam)
    for a, b in (("left", "right"), ("front", "behind"), ("above", "below")):
        assert np.allclose(np.add(d[a], d[b]), 0)
    assert abs(np.dot(d["left"], d["behind"])) < 1e-12
    # "behind" points away from the camera on the ground
    assert np.dot(d["behind"][:2], np.subtract([0, 0], [7.4, -6.9])) > 0
    rng = np.random.default_rng(0)
    pts = [tuple(p) for p in rng.uniform(-3, 3, (6, 3))]
    rel = relationships(pts, d, eps=0.2)
    for name, lists in rel.items():
        for i, js in enumerate(lists):
            want = [j for j in range(6) if j != i and np.dot(np.subtract(pts[j], pts[i]), d[name]) > 0.2]
            assert js == want
    assert set(rel) == {"left", "right", "front", "behind"}


def test_metadata_has_the_thesis_fields():
    s = sample_scene("full", 0, seed=2)
    m = scene_metadata(s, (240, 320))
    for key in ("num_objects", "ground_material", "objects", "directions", "relationships", "image_index"):
        assert key in m
    assert m["num_objects"] == len(s.objects) == len(m["objects"])
    for i, o in enumerate(m["objects"]):
        assert o["index"] == i + 1
        for key in ("shape", "size", "rotation", "3d_coords", "pixel_coords", "material", "color"):
            assert key in o
        _u, _v, depth = o["pixel_coords"]
        assert depth > 0
    # objects near the origin project near the image centre
    cam = s.camera()
    uv, _ = cam.project(np.zeros(3), (240, 320))
    assert np.allclose(uv, [160, 120])


def test_shards_partition_indices_exactly():
    for num in (1, 7, 10, 101):
        for n in (1, 2, 3, 8):
            got = [i for k in range(n) for i in shard_indices(num, (k, n))]
            assert got == list(range(num))
    assert parse_shard("2/5") == (2, 5)
    for bad in ("5/5", "a/b", "-1/3", "1"):
        with pytest.raises(ConfigError):
            parse_shard(bad)


def test_sample_paths_follow_the_official_layout(tmp_path):
    p = sample_paths(tmp_path, "camo", 1234)
    assert p["image"] == tmp_path / "clevrtex_camo" / "1" / "CLEVRTEX_camo_001234.png"
    assert p["mask"].name == "CLEVRTEX_camo_001234_flat.png"
    assert p["json"].name == "CLEVRTEX_camo_001234.json"
    assert p["depth"].name == "CLEVRTEX_camo_001234_depth_0001.png"


def test_bad_config_is_explained():
    with pytest.raises(ConfigError, match="min_objects"):
        SceneConfig(min_objects=5, max_objects=3)
    with pytest.raises(ConfigError, match="num"):
        GenerateConfig(num=0)


def test_camera_round_trip_and_focal_length():
    cam = Camera.look_at((3.0, -8.0, 4.0), (0.5, 0.2, 0.0))
    rng = np.random.default_rng(1)
    pts = rng.uniform(-2, 2, (50, 3))
    uv, depth = cam.project(pts, (120, 160))
    back = cam.unproject(uv, depth, (120, 160))
    assert np.allclose(back, pts, atol=1e-9)
    assert cam.focal_pixels((120, 160)) == pytest.approx(35 / 36 * 160)
    assert cam.focal_pixels((160, 120)) == pytest.approx(35 / 36 * 160)  # the sensor spans the larger side
    # rotation is orthonormal and the camera looks at its target
    assert np.allclose(cam.rotation.T @ cam.rotation, np.eye(3))
    uv_t, _ = cam.project(np.array([0.5, 0.2, 0.0]), (120, 160))
    assert np.allclose(uv_t, [80, 60])
    assert math.isclose(np.linalg.det(cam.rotation), 1.0)
