"""The material catalogue as data (no Blender): counts, names, graph validity, families, cost limits."""

from __future__ import annotations

import re

import pytest

from spelke.synth._recipes import Graph, srgb
from spelke.synth.materials import COLOR, RANDOM, get_material, list_materials, materials
from spelke.synth.variants import GRASS_MATERIAL, PLAIN_BACKDROP

# The Blender 4.2 shader nodes recipes may use, with their input and output socket names (checked against
# bpy by tests/synth/test_materials_blender.py); a typo in a recipe fails here, without Blender.
_NOISE_IN = ("Vector", "W", "Scale", "Detail", "Roughness", "Lacunarity", "Offset", "Gain", "Distortion")
NODES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ShaderNodeTexNoise": (_NOISE_IN, ("Fac", "Color")),
    "ShaderNodeTexVoronoi": (
        ("Vector", "W", "Scale", "Detail", "Roughness", "Lacunarity", "Smoothness", "Exponent", "Randomness"),
        ("Distance", "Color", "Position", "W", "Radius"),
    ),
    "ShaderNodeTexWave": (
        ("Vector", "Scale", "Distortion", "Detail", "Detail Scale", "Detail Roughness", "Phase Offset"),
        ("Color", "Fac"),
    ),
    "ShaderNodeTexBrick": (
        (
            "Vector",
            "Color1",
            "Color2",
            "Mortar",
            "Scale",
            "Mortar Size",
            "Mortar Smooth",
            "Bias",
            "Brick Width",
            "Row Height",
        ),
        ("Color", "Fac"),
    ),
    "ShaderNodeTexChecker": (("Vector", "Color1", "Color2", "Scale"), ("Color", "Fac")),
    "ShaderNodeTexMagic": (("Vector", "Scale", "Distortion"), ("Color", "Fac")),
    "ShaderNodeTexGradient": (("Vector",), ("Color", "Fac")),
    "ShaderNodeTexWhiteNoise": (("Vector", "W"), ("Value", "Color")),
    "ShaderNodeValToRGB": (("Fac",), ("Color", "Alpha")),
    "ShaderNodeMath": (("Value",), ("Value",)),
    "ShaderNodeVectorMath": (("Vector", "Scale"), ("Vector", "Value")),
    "ShaderNodeMix": (("Factor", "A", "B"), ("Result",)),
    "ShaderNodeMixRGB": (("Fac", "Color1", "Color2"), ("Color",)),
    "ShaderNodeBump": (("Strength", "Distance", "Height", "Normal"), ("Normal",)),
    "ShaderNodeDisplacement": (("Height", "Midlevel", "Scale", "Normal"), ("Displacement",)),
    "ShaderNodeSeparateXYZ": (("Vector",), ("X", "Y", "Z")),
    "ShaderNodeCombineXYZ": (("X", "Y", "Z"), ("Vector",)),
    "ShaderNodeHueSaturation": (("Hue", "Saturation", "Value", "Fac", "Color"), ("Color",)),
    "ShaderNodeMapRange": (("Value", "From Min", "From Max", "To Min", "To Max", "Steps"), ("Result",)),
    "ShaderNodeTexCoord": ((), ("Generated", "Normal", "UV", "Object", "Camera", "Window", "Reflection")),
    "ShaderNodeLayerWeight": (("Blend", "Normal"), ("Fresnel", "Facing")),
    "ShaderNodeValue": ((), ("Value",)),
    "ShaderNodeRGB": ((), ("Color",)),
}
#: Socket counts, for links and inputs given by index (Math: 3 inputs; Vector Math: 4; Mix: 10).
_N_INPUTS = {"ShaderNodeMath": 3, "ShaderNodeVectorMath": 4, "ShaderNodeMix": 10}
BSDF_INPUTS = {
    "Base Color", "Metallic", "Roughness", "IOR", "Alpha", "Normal", "Subsurface Weight", "Subsurface Radius",
    "Subsurface Scale", "Specular IOR Level", "Specular Tint", "Anisotropic", "Anisotropic Rotation",
    "Transmission Weight", "Coat Weight", "Coat Roughness", "Coat IOR", "Coat Tint", "Coat Normal",
    "Sheen Weight", "Sheen Roughness", "Sheen Tint", "Emission Color", "Emission Strength",
    "Thin Film Thickness", "Thin Film IOR",
}  # fmt: skip

#: The kinds the thesis names ("forest floor duff, rocks, brickwork, tiles, fabrics, metallic weaves,
#: meshes") and the ones the brief adds, as catalogue families.
THESIS_FAMILIES = {"ground", "rock", "brick", "tile", "fabric", "metal-weave", "mesh"}
MORE_FAMILIES = {"wood", "marble", "plaster", "metal", "leather", "foliage", "carpet", "concrete"}


def _socket_ok(kind: str, socket: str, output: bool) -> bool:
    ins, outs = NODES[kind]
    if socket.isdigit():
        n = len(outs) if output else _N_INPUTS.get(kind, len(ins))
        return int(socket) < n
    return socket in (outs if output else ins)


def test_group_counts_match_clevrtex():
    # ClevrTex: a catalogue of 60 materials and 25 OOD ones (thesis Sec. 2.3, Table 2.1 "60+25").
    assert len(list_materials(group="main")) == 60
    assert len(list_materials(group="ood")) == 25
    assert list_materials(group="plain") == ["plain-backdrop", "plain-metal", "plain-rubber"]


def test_names_unique_kebab_case_and_described():
    names = list_materials()
    assert len(names) == len(set(names))
    for m in materials():
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", m.name), m.name
        assert m.family and m.description and len(m.description) < 110, m.name


def test_variant_materials_exist():
    assert get_material(GRASS_MATERIAL).group == "main"
    assert get_material(PLAIN_BACKDROP).group == "plain"


def test_families_cover_the_thesis_kinds():
    main_families = {m.family for m in materials("main")}
    assert THESIS_FAMILIES <= main_families
    assert MORE_FAMILIES <= main_families
    assert len(main_families) >= 14


def test_ood_families_are_new():
    main_families = {m.family for m in materials("main")}
    ood_families = {m.family for m in materials("ood")}
    assert not ood_families & main_families
    assert len(ood_families) >= 12


@pytest.mark.parametrize("name", list_materials())
def test_graph_is_valid(name):
    m = get_material(name)
    for nid, node in m.nodes.items():
        assert node.kind in NODES, f"{name}.{nid}: unknown node kind {node.kind}"
        for sock, value in node.inputs.items():
            assert _socket_ok(node.kind, sock, output=False), f"{name}.{nid}: no input {sock!r}"
            if isinstance(value, str):
                assert value in (RANDOM, COLOR)
        if node.ramp is not None:
            assert node.kind == "ShaderNodeValToRGB"
            pos = [p for p, _ in node.ramp]
            assert pos == sorted(pos) and 0 <= pos[0] and pos[-1] <= 1
            for _, c in node.ramp:  # shade multipliers may go a little above 1
                assert len(c) == 4 and all(0 <= x <= 1.5 for x in c)
    for src, dst in m.links:
        s_node, s_sock = src.split(".", 1)
        d_node, d_sock = dst.split(".", 1)
        if s_node == "coords":
            assert s_sock == "Vector"
        elif s_node == "params":
            assert s_sock in ("Random", "Color")
        else:
            assert _socket_ok(m.nodes[s_node].kind, s_sock, output=True), f"{name}: bad output {src}"
        if d_node == "bsdf":
            assert d_sock in BSDF_INPUTS, f"{name}: bad BSDF input {dst}"
        elif d_node == "out":
            assert d_sock == "Displacement"
        else:
            assert d_node not in ("coords", "params")
            assert _socket_ok(m.nodes[d_node].kind, d_sock, output=False), f"{name}: bad input {dst}"
    # One link per input socket.
    dsts = [d for _, d in m.links]
    assert len(dsts) == len(set(dsts)), name


@pytest.mark.parametrize("name", list_materials(group="main") + list_materials(group="ood"))
def test_textured_materials_vary_per_instance_and_shade(name):
    m = get_material(name)
    # Texture coordinates carry the per-instance offset; every textured material must read them.
    assert any(src.startswith("coords.") for src, _ in m.links), name
    assert any(dst == "bsdf.Base Color" for _, dst in m.links), name
    assert not m.uses_color
    assert 0.15 <= m.background_scale <= 1.0
    assert len(m.nodes) <= 45, f"{name}: {len(m.nodes)} nodes (keep graphs small: render cost)"


@pytest.mark.parametrize("name", list_materials())
def test_displacement_and_transparency_flags_match_the_graph(name):
    m = get_material(name)
    displaced = any(dst == "out.Displacement" for _, dst in m.links)
    assert displaced == (m.displacement != 0), name
    assert any(n.kind == "ShaderNodeDisplacement" for n in m.nodes.values()) == displaced
    assert abs(m.displacement) <= 0.1
    assert any(dst == "bsdf.Alpha" for _, dst in m.links) == m.transparent, name


def test_render_cost_budget():
    # Adaptive subdivision is slow on CPUs: displacement only where the relief shows.
    displaced = [m.name for m in materials() if m.displacement != 0]
    assert 8 <= len(displaced) <= 16, displaced
    holes = [m.name for m in materials("main") if m.transparent]
    assert 3 <= len(holes) <= 8, holes


def test_graph_builder_basics():
    assert srgb("#000000") == (0.0, 0.0, 0.0, 1.0)
    g = Graph()
    p1, p2 = g.planar(), g.planar()
    assert p1 == p2  # built once per recipe
    n = g.noise(scale=3.0)
    g.surface(base=g.ramp(n["Fac"], [(0.0, "#ff0000"), (1.0, 0.5)]), roughness=0.3, coat_weight=0.5)
    m = g.material("x-test", family="rock", group="ood", description="test")
    assert ("value1.Value", "bsdf.Roughness") in m.links
    assert ("value2.Value", "bsdf.Coat Weight") in m.links
    ramp = next(node for node in m.nodes.values() if node.kind == "ShaderNodeValToRGB").ramp
    assert ramp[1][1] == (0.5, 0.5, 0.5, 1.0)  # plain numbers are linear greys
