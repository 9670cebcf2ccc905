"""Every catalogue material builds in Blender, and a tiny contact sheet renders (needs ``bpy``)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("bpy")

from PIL import Image

from spelke.synth.blender import Renderer, RenderSettings, _make_shape, build_material
from spelke.synth.contact_sheet import render_contact_sheet
from spelke.synth.materials import materials
from spelke.synth.scene import SHAPE_HALF_HEIGHT

from .test_catalogue import BSDF_INPUTS, NODES


@pytest.fixture(scope="module")
def renderer():
    r = Renderer(RenderSettings(size=(32, 32), samples=2, shadow_samples=0))
    r.reset()
    yield r
    r.close()


def test_every_material_builds(renderer):
    renderer.reset()
    for m in materials():
        mat = build_material(m, coord_scale=0.6, random=0.3, color=(0.2, 0.4, 0.6), name=f"test-{m.name}")
        tree = mat.node_tree
        # The recipe's links plus the two the builder makes (BSDF -> output, texture coords -> mapping).
        assert len(tree.links) == len(m.links) + 2, m.name
        assert all(link.is_valid for link in tree.links), m.name
        # Inputs given by name land on enabled sockets (Mix nodes have hidden twins of each name).
        assert all(link.to_socket.enabled and link.from_socket.enabled for link in tree.links), m.name
        # The recipe's nodes plus output, BSDF, texture coords, mapping and the two parameter nodes.
        assert len(tree.nodes) == len(m.nodes) + 6, m.name
        assert mat.displacement_method == ("BOTH" if m.displacement else "BUMP")


def test_socket_table_matches_blender(renderer):
    # The fixed table test_catalogue.py checks recipes against must agree with Blender itself.
    bpy = renderer.bpy
    renderer.reset()
    tree = bpy.data.materials.new("sockets")
    tree.use_nodes = True
    nodes = tree.node_tree.nodes
    for kind, (ins, outs) in NODES.items():
        node = nodes.new(kind)
        names_in = {s.name for s in node.inputs}
        names_out = {s.name for s in node.outputs}
        assert set(ins) <= names_in, (kind, set(ins) - names_in)
        assert set(outs) <= names_out, (kind, set(outs) - names_out)
    bsdf = nodes.new("ShaderNodeBsdfPrincipled")
    assert BSDF_INPUTS <= {s.name for s in bsdf.inputs}


def test_ramp_interpolation_prop(renderer):
    # Dotted props reach nested attributes (the catalogue's constant ramps rely on it).
    renderer.reset()
    m = next(m for m in materials("main") if m.name == "granite-speckled")
    mat = build_material(m, coord_scale=1.0, random=0.5)
    ramps = [n for n in mat.node_tree.nodes if n.bl_idname == "ShaderNodeValToRGB"]
    assert "CONSTANT" in {r.color_ramp.interpolation for r in ramps}


def test_teapot_shape_matches_table(renderer):
    renderer.reset()
    obj = _make_shape("teapot")  # raises if SHAPE_HALF_HEIGHT disagrees with the mesh
    co = np.array([v.co[:] for v in obj.data.vertices])
    assert co[:, 2].max() == pytest.approx(SHAPE_HALF_HEIGHT["teapot"], abs=1e-4)
    assert np.hypot(co[:, 0], co[:, 1]).max() == pytest.approx(1.0, abs=1e-4)


def test_tiny_contact_sheet(tmp_path):
    out = render_contact_sheet(
        tmp_path / "sheet.png",
        names=["plain-rubber", "bricks-red", "mesh-wire"],
        size=32,
        samples=2,
        columns=2,
    )
    assert out == tmp_path / "sheet.png"
    with Image.open(out) as im:
        assert im.width == 2 * 32
        assert im.height > 2 * 32  # two rows of tiles with their labels
        arr = np.asarray(im.convert("RGB"))
    tiles = [arr[:32, :32], arr[:32, 32:64]]
    assert all(t.std() > 1 for t in tiles)  # something was rendered
    assert not np.array_equal(tiles[0], tiles[1])
    assert not list(tmp_path.glob(".*tmp*"))  # the atomic write left no temporary file
