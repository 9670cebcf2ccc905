"""The Newell teapot mesh (spelke.synth.teapot): data, tessellation, welding, orientation, proportions."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from spelke.errors import ConfigError
from spelke.synth.scene import SHAPE_HALF_HEIGHT
from spelke.synth.teapot import control_points, footprint_half_height, teapot_mesh


@pytest.fixture(scope="module")
def mesh():
    return teapot_mesh()


def _edges(faces: np.ndarray) -> Counter:
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    return Counter(map(tuple, e.tolist()))


def test_classic_data():
    pts, patches = control_points()
    assert pts.shape == (306, 3) and patches.shape == (32, 16)
    assert patches.min() == 0 and patches.max() == 305
    # z up: the base at 0, the lid knob's top at 3.15, the body's widest radius 2.
    assert pts[:, 2].min() == 0.0 and pts[:, 2].max() == 3.15
    assert np.abs(pts[:, 1]).max() == 2.0


def test_types_and_counts(mesh):
    verts, faces = mesh
    assert verts.dtype == np.float64 and verts.ndim == 2 and verts.shape[1] == 3
    assert faces.dtype == np.int64 and faces.ndim == 2 and faces.shape[1] == 3
    # 32 patches x 7 x 7 grid points, welded along shared patch edges and at the poles.
    assert len(verts) == 1177
    assert len(faces) == 2256
    assert faces.min() == 0 and faces.max() == len(verts) - 1
    assert len(np.unique(faces)) == len(verts)  # every vertex is used


def test_welded_and_no_degenerate_faces(mesh):
    verts, faces = mesh
    assert np.all((faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2]))
    t = verts[faces]
    area = 0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1)
    assert area.min() > 1e-6
    # No two vertices at one place (seams would break smooth shading).
    from scipy.spatial import cKDTree

    assert not cKDTree(verts).query_pairs(1e-6)


def test_watertight_except_the_classic_openings(mesh):
    _, faces = mesh
    counts = Counter(_edges(faces).values())
    assert set(counts) == {1, 2}  # manifold: no edge shared by three faces
    # Open boundaries: the rim opening, the lid's lower edge (24 edges each at 6 subdivisions) and both
    # ends of the handle and of the spout (12 each) -- as in Newell's original.
    assert counts[1] == 96


def test_consistent_outward_orientation(mesh):
    verts, faces = mesh
    directed = Counter(
        map(tuple, np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]).tolist())
    )
    assert max(directed.values()) == 1  # neighbours run shared edges in opposite directions
    t = verts[faces]
    n = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    c = t.mean(1)
    bottom = c[:, 2] < 0.01
    assert bottom.sum() > 20 and np.all(n[bottom, 2] < 0)  # the base faces down
    knob = c[:, 2] > 3.1
    assert knob.any() and np.all(n[knob, 2] > 0)  # the top of the lid knob faces up
    # The body at its widest faces away from the axis.
    r = np.hypot(c[:, 0], c[:, 1])
    belly = (np.abs(c[:, 2] - 1.1) < 0.3) & (r > 1.9) & (np.abs(c[:, 1]) > 0.8)  # not spout or handle
    assert belly.sum() > 20
    assert np.all((n[belly, :2] * c[belly, :2]).sum(1) > 0)


def test_bounding_box_proportions(mesh):
    verts, _ = mesh
    lo, hi = verts.min(0), verts.max(0)
    assert lo[2] == 0.0 and hi[2] == pytest.approx(3.15)
    assert lo[1] == pytest.approx(-2.0) and hi[1] == pytest.approx(2.0)
    assert lo[0] == pytest.approx(-3.0)  # handle
    assert hi[0] == pytest.approx(3.43, abs=0.01)  # spout tip
    # The classic squat teapot: about twice as long (handle to spout) as high.
    assert (hi[0] - lo[0]) / (hi[2] - lo[2]) == pytest.approx(2.04, abs=0.02)


def test_shape_table_matches_the_mesh(mesh):
    # The renderer normalises every mesh to footprint radius 1 and checks this entry to 2e-3.
    verts, _ = mesh
    assert footprint_half_height(verts) == pytest.approx(SHAPE_HALF_HEIGHT["teapot"], abs=5e-4)
    for s in (4, 8, 12):  # finer tessellations stay within the renderer's tolerance
        assert footprint_half_height(teapot_mesh(s)[0]) == pytest.approx(
            SHAPE_HALF_HEIGHT["teapot"], abs=2e-3
        )


def test_subdivisions():
    v1, f1 = teapot_mesh(2)
    v2, f2 = teapot_mesh(3)
    assert len(v2) > len(v1) and len(f2) > len(f1)
    assert Counter(_edges(f2).values())[1] == 16 * 3
    with pytest.raises(ConfigError):
        teapot_mesh(0)
