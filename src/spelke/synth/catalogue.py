"""The material catalogue: every procedural material spelke renders, registered on import.

Three groups (see :mod:`spelke.synth.materials` for the graph conventions):

- ``plain``: CLEVR's rubber and metal (coloured per instance) and the plain grey backdrop of PLAINBG.
- ``main``: the 60 textured materials of CLEVRTEX and its variants, in the spirit of ClevrTex's catalogue
  ("forest floor duff, rocks, brickwork, and tiles to fabrics, metallic weaves, and meshes", plus wood,
  marble, plaster, metal, leather, foliage, ...). Our own procedural recipes, not the original photos.
- ``ood``: 25 materials only the OOD variant uses, from families and colour schemes the main group does
  not have (ceramics, mosaics, camouflage, animal prints, lava, circuit boards, neon, ...).

Recipes are written with :class:`spelke.synth._recipes.Graph`. Scale conventions: coordinates are in
scene units times the material scale, so a texture ``scale`` of 5 gives features of about 0.2 units on an
object (a large object has radius 0.9) and ``1 / (5 * background_scale)`` units on the ground. Background
scales are tuned so the ground reads as a photo backdrop at 128 px rather than pixel noise. Colours are
sRGB hex. Displacement (adaptive subdivision, slow on CPUs) is kept to the materials whose relief shows at
the dataset's resolution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spelke.synth._recipes import Graph, Out
from spelke.synth.materials import Material, Node, register_material

Recipe = Callable[[Graph], None]


def _recipe(name: str, family: str, group: str, description: str, **kw: Any) -> Callable[[Recipe], Recipe]:
    """Decorator: run the recipe on a fresh :class:`Graph` and register the material."""

    def deco(fn: Recipe) -> Recipe:
        g = Graph()
        fn(g)
        register_material(g.material(name, family=family, group=group, description=description, **kw))
        return fn

    return deco


def main(name: str, family: str, description: str, **kw: Any) -> Callable[[Recipe], Recipe]:
    return _recipe(name, family, "main", description, **kw)


def ood(name: str, family: str, description: str, **kw: Any) -> Callable[[Recipe], Recipe]:
    return _recipe(name, family, "ood", description, **kw)


# ---------------------------------------------------------------------------------------------- plain
register_material(
    Material(
        name="plain-rubber",
        family="plain",
        group="plain",
        nodes={},
        links=(("params.Color", "bsdf.Base Color"),),
        uses_color=True,
        description="CLEVR rubber: matte, coloured per object",
    )
)
register_material(
    Material(
        name="plain-metal",
        family="plain",
        group="plain",
        nodes={"rough": Node("ShaderNodeValue", props={"value": 0.25})},
        links=(("params.Color", "bsdf.Base Color"),),
        uses_color=True,
        description="CLEVR metal: metallic, coloured per object",
    )
)
register_material(
    Material(
        name="plain-backdrop",
        family="plain",
        group="plain",
        nodes={"grey": Node("ShaderNodeRGB", props={"color": (0.5, 0.5, 0.5, 1.0)})},
        links=(("grey.Color", "bsdf.Base Color"),),
        description="the plain grey backdrop of PLAINBG (CLEVR's ground)",
    )
)


# ---------------------------------------------------------------------------------- shared patterns
def _multiply(g: Graph, color: Out, shade: Out) -> Out:
    """``color * shade`` (shade a colour by a grey map)."""
    return g.mix(1.0, color, shade, blend="MULTIPLY")


def _bricks(
    g: Graph,
    *,
    scale: float,
    c1: str,
    c2: str,
    mortar: str,
    mortar_size: float = 0.025,
    width: float = 0.5,
    height: float = 0.25,
    offset: float = 0.5,
    grime: float = 0.35,
    roughness: float = 0.8,
    bump: float = 0.6,
    displace: bool = False,
) -> None:
    """Brickwork: per-brick colour between c1 and c2, a grimy noise overlay, recessed mortar."""
    b = g.brick(
        scale=scale,
        color1=c1,
        color2=c2,
        mortar=mortar,
        mortar_size=mortar_size,
        width=width,
        height=height,
        offset=offset,
        bias=0.0,
    )
    n = g.noise(scale=9.0, detail=4.0, roughness=0.6)
    shade = g.fmap(n["Fac"], [(0.3, 1.0 - grime), (0.7, 1.0)])
    g.surface(base=g.jitter(_multiply(g, b["Color"], shade), val=0.15), roughness=roughness)
    pits = g.math("MULTIPLY_ADD", n["Fac"], 0.15, g.math("SUBTRACT", 1.0, b["Fac"]))
    if displace:  # the displacement's own bump (method BOTH) shades the relief; no second bump
        g.displace(pits, midlevel=1.15)
    else:
        g.surface(normal=g.bump(pits, bump, 0.1))


def _cell_distance(g: Graph, u: Out, v: Out, k: float, offset: float = 0.0) -> Out:
    """Distance (in cell units) to the centre of the square cell of a ``k`` per unit grid in (u, v)."""
    cu = g.math("SUBTRACT", g.math("FRACT", g.math("MULTIPLY_ADD", u, k, offset)), 0.5)
    cv = g.math("SUBTRACT", g.math("FRACT", g.math("MULTIPLY_ADD", v, k, offset)), 0.5)
    return g.vmath("LENGTH", g.combine(cu, cv, 0.0))


def _grid(g: Graph, u: Out, v: Out, period: float, width: float) -> Out:
    """1 on grid lines of ``period`` (in u and v) and ``width`` (fraction of the period), else 0."""

    def lines(x: Out) -> Out:
        f = g.math("FRACT", g.math("MULTIPLY", x, 1.0 / period))
        d = g.math("ABSOLUTE", g.math("SUBTRACT", f, 0.5))  # 0.5 on the line, 0 mid-cell
        return g.math("GREATER_THAN", d, 0.5 - width / 2)

    return g.math("MAXIMUM", lines(u), lines(v))


# ================================================================================================ main
# --------------------------------------------------------------------------------- ground and foliage
@main(
    "grass-forest-floor",
    "foliage",
    "forest grass: criss-crossed green and straw blades with brown duff patches (GRASSBG's background)",
    displacement=0.03,
    background_scale=0.55,
)
def _(g: Graph) -> None:
    g.flat()
    clump = g.noise(scale=2.0, detail=3.0)
    vec = g.warp(0.6, 3.0)
    # Blades: two layers of long thin Voronoi cells, crossing.
    a = g.voronoi(g.stretch(1.0, 7.0, 1.0, vec), scale=5.0, feature="DISTANCE_TO_EDGE")
    b = g.voronoi(g.stretch(7.0, 1.0, 1.0, vec), scale=5.0, feature="DISTANCE_TO_EDGE")
    blade = g.math("MAXIMUM", g.mask(a["Distance"], 0.02, 0.12), g.mask(b["Distance"], 0.02, 0.12))
    green = g.ramp(clump["Fac"], [(0.3, "#2a4a14"), (0.5, "#4a7a22"), (0.7, "#8aa03a")])
    straw = g.mask(g.noise(scale=4.0, detail=2.0)["Fac"], 0.6, 0.7)
    tip = g.mix(straw, green, "#b0a060")
    base = g.mix(blade, "#1a2a0c", tip)
    duff = g.mask(g.noise(scale=0.9, detail=3.0)["Fac"], 0.6, 0.7)
    base = g.mix(g.math("MULTIPLY", duff, 0.7), base, "#5a4024")
    g.surface(base=g.jitter(base, hue=0.03, val=0.12), roughness=0.8)
    height = g.math("MULTIPLY_ADD", blade, 0.4, g.math("MULTIPLY", clump["Fac"], 0.6))
    g.displace(height)


@main(
    "forest-duff-leaves",
    "ground",
    "forest floor duff: fallen oak leaves in browns and ochres",
    displacement=0.03,
    background_scale=0.5,
)
def _(g: Graph) -> None:
    g.flat()
    vec = g.warp(0.8, 2.5)  # shared: the cells and their edges must line up
    leaves = g.voronoi(vec, scale=7.0, feature="F1")
    r = g.cell_random(leaves)
    col = g.ramp(
        r, [(0.0, "#4a2c14"), (0.3, "#7a4a1c"), (0.55, "#a0702c"), (0.75, "#5c3a1a"), (1.0, "#8c5a24")]
    )
    edges = g.voronoi(vec, scale=7.0, feature="DISTANCE_TO_EDGE")
    shade = g.fmap(edges["Distance"], [(0.0, 0.2), (0.12, 1.0)])
    vein = g.noise(scale=30.0, detail=2.0)
    base = _multiply(g, col, shade)
    base = _multiply(g, base, g.fmap(vein["Fac"], [(0.4, 0.8), (0.6, 1.0)]))
    g.surface(base=g.jitter(base, val=0.15), roughness=0.75)
    height = g.math("ADD", g.math("MULTIPLY", r, 0.6), g.fmap(edges["Distance"], [(0.0, 0.0), (0.15, 0.4)]))
    g.displace(height)


@main(
    "gravel-pebbles",
    "ground",
    "rounded river pebbles in greys and beiges",
    displacement=0.05,
    background_scale=0.6,
)
def _(g: Graph) -> None:
    g.flat()
    vec = g.warp(0.3, 3.0)
    cells = g.voronoi(vec, scale=9.0, feature="DISTANCE_TO_EDGE")
    f1 = g.voronoi(vec, scale=9.0)
    r = g.cell_random(f1)
    col = g.ramp(
        r, [(0.0, "#5a5450"), (0.3, "#8a8278"), (0.55, "#b0a590"), (0.8, "#6e6a66"), (1.0, "#c8c0b0")]
    )
    dome = g.fmap(cells["Distance"], [(0.0, 0.0), (0.25, 1.0)], interp="EASE")
    grain = g.noise(scale=40.0, detail=2.0)
    base = _multiply(g, col, g.fmap(dome, [(0.0, 0.15), (0.3, 0.9), (1.0, 1.0)]))
    base = _multiply(g, base, g.fmap(grain["Fac"], [(0.35, 0.85), (0.65, 1.0)]))
    g.surface(base=base, roughness=g.fmap(r, [(0.0, 0.45), (1.0, 0.8)]))
    g.displace(dome, midlevel=0.3)


@main(
    "mud-cracked",
    "ground",
    "dry cracked mud flat with deep fissures",
    displacement=0.03,
    background_scale=0.45,
)
def _(g: Graph) -> None:
    g.flat()
    cracks = g.voronoi(g.warp(0.35, 4.0, detail=2.0), scale=4.0, feature="DISTANCE_TO_EDGE")
    crack = g.mask(cracks["Distance"], 0.05, 0.02)
    soil = g.noise(scale=6.0, detail=4.0)
    col = g.ramp(soil["Fac"], [(0.3, "#8a6a48"), (0.55, "#a88a64"), (0.75, "#c0a47c")])
    base = g.mix(crack, col, "#2a1c10")
    g.surface(base=g.jitter(base, val=0.15), roughness=0.95)
    height = g.math("MULTIPLY", g.math("SUBTRACT", 1.0, crack), g.fmap(soil["Fac"], [(0.0, 0.8), (1.0, 1.0)]))
    g.displace(height, midlevel=0.9)


@main("sand-rippled", "ground", "wind-rippled beach sand", background_scale=0.5)
def _(g: Graph) -> None:
    ripples = g.wave(scale=3.0, direction="X", distortion=4.0, detail=3.0, detail_scale=1.5)
    grain = g.noise(scale=60.0, detail=1.0)
    col = g.ramp(ripples["Fac"], [(0.2, "#b89868"), (0.8, "#dcc49a")])
    base = _multiply(g, col, g.fmap(grain["Fac"], [(0.4, 0.85), (0.6, 1.0)]))
    g.surface(base=g.jitter(base, val=0.1), roughness=0.9)
    g.surface(normal=g.bump(ripples["Fac"], 0.6, 0.1))


@main("snow-crust", "ground", "wind-packed snow crust with blue shadows and glints", background_scale=0.5)
def _(g: Graph) -> None:
    drift = g.noise(scale=2.0, detail=4.0, roughness=0.6)
    col = g.ramp(drift["Fac"], [(0.3, "#b8c8e0"), (0.6, "#eef2f8"), (0.8, "#ffffff")])
    g.surface(base=col)
    glint = g.voronoi(scale=40.0)
    g.surface(roughness=g.fmap(glint["Distance"], [(0.0, 0.15), (0.2, 0.6)]))
    g.surface(normal=g.bump(drift["Fac"], 0.5, 0.1))


@main("asphalt-road", "ground", "dark asphalt with pale aggregate and worn patches", background_scale=0.6)
def _(g: Graph) -> None:
    agg = g.voronoi(scale=22.0)
    r = g.cell_random(agg)
    stones = g.ramp(r, [(0.0, "#2a2a2a"), (0.7, "#363636"), (0.9, "#5a5854"), (1.0, "#7a7874")])
    wear = g.noise(scale=1.5, detail=3.0)
    base = _multiply(g, stones, g.fmap(wear["Fac"], [(0.3, 0.9), (0.7, 1.08)]))
    g.surface(base=base, roughness=0.9)
    g.surface(normal=g.bump(agg["Distance"], 0.4, 0.1, invert=True))


@main("bark-mulch", "ground", "reddish-brown shredded bark mulch", background_scale=0.5)
def _(g: Graph) -> None:
    g.flat()
    chips_vec = g.stretch(1.0, 3.0, 1.0, g.warp(0.6, 1.5))
    chips = g.voronoi(chips_vec, scale=3.5)
    edge = g.voronoi(chips_vec, scale=3.5, feature="DISTANCE_TO_EDGE")
    r = g.cell_random(chips)
    col = g.ramp(r, [(0.0, "#3c2014"), (0.4, "#6a3822"), (0.7, "#8a4c2c"), (1.0, "#50301c")])
    shade = g.fmap(edge["Distance"], [(0.0, 0.05), (0.06, 0.5), (0.2, 1.0)])
    fib = g.noise(g.stretch(1.0, 12.0, 1.0), scale=6.0)
    base = _multiply(g, _multiply(g, col, shade), g.fmap(fib["Fac"], [(0.3, 0.7), (0.7, 1.0)]))
    g.surface(base=base, roughness=0.85)
    g.surface(normal=g.bump(g.math("ADD", edge["Distance"], g.math("MULTIPLY", r, 0.1)), 0.6, 0.1))


@main("moss-thick", "foliage", "lime cushion moss in soft lumps", displacement=0.04, background_scale=0.8)
def _(g: Graph) -> None:
    g.flat()
    cushion = g.voronoi(g.warp(0.4, 2.0), scale=4.0)
    dome = g.fmap(cushion["Distance"], [(0.0, 1.0), (0.6, 0.0)], interp="EASE")
    fuzz = g.noise(scale=30.0, detail=4.0, roughness=0.7)
    col = g.ramp(dome, [(0.0, "#3a5a10"), (0.5, "#6a9a1a"), (1.0, "#a0c838")])
    base = _multiply(g, col, g.fmap(fuzz["Fac"], [(0.3, 0.7), (0.7, 1.1)]))
    g.surface(base=g.jitter(base, hue=0.04, val=0.1), roughness=0.9, sheen_weight=0.5)
    g.displace(g.math("MULTIPLY_ADD", fuzz["Fac"], 0.2, dome), midlevel=0.4)


@main("ivy-leaves", "foliage", "dense glossy ivy leaves with pale veins", background_scale=0.45)
def _(g: Graph) -> None:
    g.flat()
    vec = g.warp(0.6, 2.0)
    leaves = g.voronoi(vec, scale=6.0)
    edge = g.voronoi(vec, scale=6.0, feature="DISTANCE_TO_EDGE")
    r = g.cell_random(leaves)
    col = g.ramp(r, [(0.0, "#1a3a12"), (0.5, "#2e5c1c"), (1.0, "#4e7a26")])
    shade = g.fmap(edge["Distance"], [(0.0, 0.1), (0.08, 0.7), (0.3, 1.0)])
    vein = g.mask(
        g.math("ABSOLUTE", g.math("SUBTRACT", g.wave(vec, scale=18.0, direction="DIAGONAL")["Fac"], 0.5)),
        0.06,
        0.02,
    )
    base = g.mix(g.math("MULTIPLY", vein, 0.5), _multiply(g, col, shade), "#9ab870")
    g.surface(base=base, roughness=0.35)
    g.surface(normal=g.bump(g.fmap(edge["Distance"], [(0.0, 0.0), (0.3, 1.0)], interp="EASE"), 0.7, 0.1))


# ----------------------------------------------------------------------------------------------- rock
@main(
    "granite-speckled",
    "rock",
    "polished pink-grey granite with black and white crystals",
    background_scale=0.5,
)
def _(g: Graph) -> None:
    crystals = g.voronoi(scale=14.0)
    r = g.cell_random(crystals)
    col = g.ramp(
        r,
        [
            (0.0, "#1a1818"),
            (0.25, "#3a3432"),
            (0.35, "#8a7670"),
            (0.65, "#b89a8c"),
            (0.8, "#d8d0cc"),
            (1.0, "#f0ece8"),
        ],
        interp="CONSTANT",
    )
    cloud = g.noise(scale=2.0, detail=3.0)
    base = _multiply(g, col, g.fmap(cloud["Fac"], [(0.3, 0.85), (0.7, 1.05)]))
    g.surface(base=g.jitter(base, hue=0.03), roughness=g.fmap(r, [(0.0, 0.15), (1.0, 0.35)]))
    g.surface(normal=g.bump(crystals["Distance"], 0.1, 0.1))


@main("slate-layered", "rock", "dark blue-grey slate with split layers", background_scale=0.4)
def _(g: Graph) -> None:
    layers = g.wave(
        scale=2.5, direction="DIAGONAL", profile="SAW", distortion=3.0, detail=4.0, detail_scale=2.0
    )
    grain = g.noise(g.stretch(1.0, 6.0, 1.0), scale=8.0, detail=4.0)
    col = g.ramp(layers["Fac"], [(0.0, "#2a2e34"), (0.6, "#454c56"), (0.9, "#5c6066"), (1.0, "#32363c")])
    base = _multiply(g, col, g.fmap(grain["Fac"], [(0.3, 0.8), (0.7, 1.1)]))
    g.surface(base=g.jitter(base, val=0.15), roughness=g.fmap(grain["Fac"], [(0.3, 0.4), (0.7, 0.75)]))
    g.surface(normal=g.bump(layers["Fac"], 0.5, 0.1))


@main("sandstone-strata", "rock", "layered orange sandstone with fine grain", background_scale=0.35)
def _(g: Graph) -> None:
    strata = g.wave(scale=3.0, direction="DIAGONAL", distortion=2.5, detail=3.0, detail_scale=1.0)
    col = g.ramp(
        strata["Fac"],
        [(0.0, "#a85a30"), (0.3, "#c88450"), (0.5, "#e0b080"), (0.7, "#b86c3c"), (1.0, "#d89c68")],
    )
    grain = g.noise(scale=50.0, detail=2.0)
    base = _multiply(g, col, g.fmap(grain["Fac"], [(0.35, 0.8), (0.65, 1.0)]))
    g.surface(base=g.jitter(base, hue=0.03, val=0.1), roughness=0.9)
    g.surface(normal=g.bump(g.math("MULTIPLY_ADD", grain["Fac"], 0.3, strata["Fac"]), 0.4, 0.1))


@main(
    "cobblestone",
    "rock",
    "rounded grey cobblestones set in dark joints",
    displacement=0.05,
    background_scale=0.5,
)
def _(g: Graph) -> None:
    g.flat()
    vec = g.warp(0.25, 2.0)
    stones = g.voronoi(vec, scale=4.0, randomness=0.7)
    edge = g.voronoi(vec, scale=4.0, randomness=0.7, feature="DISTANCE_TO_EDGE")
    r = g.cell_random(stones)
    col = g.ramp(r, [(0.0, "#4e4a46"), (0.4, "#6c6660"), (0.7, "#857a6e"), (1.0, "#5c5450")])
    dome = g.fmap(edge["Distance"], [(0.02, 0.0), (0.2, 1.0)], interp="EASE")
    n = g.noise(scale=12.0, detail=4.0)
    base = _multiply(g, col, g.fmap(n["Fac"], [(0.3, 0.75), (0.7, 1.05)]))
    base = g.mix(g.mask(edge["Distance"], 0.06, 0.02), base, "#1e1a16")
    g.surface(base=base, roughness=0.7)
    g.displace(g.math("MULTIPLY_ADD", n["Fac"], 0.1, dome), midlevel=0.5)


@main(
    "flagstone-paving",
    "rock",
    "irregular flagstones in slate, rust and sand tones with mortar",
    displacement=0.02,
    background_scale=0.4,
)
def _(g: Graph) -> None:
    g.flat()
    vec = g.warp(0.3, 1.5)
    slabs = g.voronoi(vec, scale=2.5)
    edge = g.voronoi(vec, scale=2.5, feature="DISTANCE_TO_EDGE")
    r = g.cell_random(slabs)
    col = g.ramp(
        r, [(0.0, "#5a5e62"), (0.3, "#8a6a50"), (0.55, "#a89878"), (0.8, "#6e6a5c"), (1.0, "#7a5a48")]
    )
    n = g.noise(scale=8.0, detail=4.0)
    base = _multiply(g, col, g.fmap(n["Fac"], [(0.3, 0.8), (0.7, 1.1)]))
    mortar = g.mask(edge["Distance"], 0.04, 0.025)
    g.surface(base=g.mix(mortar, base, "#b0a898"), roughness=0.8)
    height = g.math("MULTIPLY", g.math("SUBTRACT", 1.0, mortar), g.math("MULTIPLY_ADD", r, 0.3, 0.7))
    g.displace(g.math("MULTIPLY_ADD", n["Fac"], 0.2, height), midlevel=1.1)


@main("basalt-porous", "rock", "near-black porous basalt with vesicle pits", background_scale=0.5)
def _(g: Graph) -> None:
    pits = g.voronoi(g.warp(0.3, 4.0), scale=7.0)
    hole = g.mask(pits["Distance"], 0.26, 0.2)
    n = g.noise(scale=6.0, detail=4.0)
    col = g.ramp(n["Fac"], [(0.3, "#38383a"), (0.7, "#5a5856")])
    g.surface(base=g.mix(hole, col, "#0a0a0a"), roughness=0.85)
    g.surface(normal=g.bump(g.math("MULTIPLY_ADD", n["Fac"], 0.3, g.math("SUBTRACT", 1.0, hole)), 0.6, 0.1))


@main(
    "rock-cliff",
    "rock",
    "rugged weathered cliff rock with fractures and lichen spots",
    displacement=0.06,
    background_scale=0.4,
)
def _(g: Graph) -> None:
    g.flat()
    body = g.noise(scale=1.5, detail=4.0, roughness=0.6)
    frac = g.voronoi(g.warp(0.5, 2.0, detail=2.0), scale=2.0, feature="DISTANCE_TO_EDGE")
    crack = g.mask(frac["Distance"], 0.06, 0.015)
    col = g.ramp(body["Fac"], [(0.3, "#6a625a"), (0.5, "#948a80"), (0.7, "#b8aea2")])
    lichen = g.mask(g.noise(scale=6.0, detail=3.0)["Fac"], 0.64, 0.7)
    base = g.mix(g.math("MULTIPLY", lichen, 0.8), col, "#b8b060")
    base = g.mix(crack, base, "#2a2622")
    g.surface(base=g.jitter(base, hue=0.03, val=0.15), roughness=0.85)
    h = g.math("SUBTRACT", body["Fac"], g.math("MULTIPLY", crack, 0.4))
    g.displace(h, midlevel=0.5)


@main("marble-white", "marble", "polished white marble with grey veins", background_scale=0.4)
def _(g: Graph) -> None:
    veins = g.wave(scale=1.5, direction="DIAGONAL", distortion=12.0, detail=6.0, detail_scale=1.5)
    v = g.math("ABSOLUTE", g.math("SUBTRACT", veins["Fac"], 0.5))
    col = g.ramp(v, [(0.0, "#707478"), (0.04, "#b0b4b8"), (0.15, "#ecebe8"), (0.5, "#f8f6f2")])
    cloud = g.noise(scale=3.0, detail=3.0)
    base = _multiply(g, col, g.fmap(cloud["Fac"], [(0.3, 0.92), (0.7, 1.0)]))
    g.surface(base=base, roughness=0.12)


@main("marble-green", "marble", "dark green serpentine marble with white veins", background_scale=0.4)
def _(g: Graph) -> None:
    veins = g.wave(scale=2.0, direction="X", distortion=10.0, detail=5.0, detail_scale=2.0)
    v = g.math("ABSOLUTE", g.math("SUBTRACT", veins["Fac"], 0.5))
    n = g.noise(scale=4.0, detail=4.0)
    body = g.ramp(n["Fac"], [(0.3, "#0e2a1c"), (0.6, "#1e4a32"), (0.75, "#2e6048")])
    base = g.mix(g.mask(v, 0.05, 0.015), body, "#d8e0d8")
    g.surface(base=base, roughness=0.1)


# ---------------------------------------------------------------------------------- concrete, plaster
@main(
    "concrete-rough", "concrete", "grey cast concrete with air pits and water stains", background_scale=0.45
)
def _(g: Graph) -> None:
    pits = g.voronoi(scale=18.0)
    hole = g.mask(pits["Distance"], 0.12, 0.06)
    stain = g.noise(scale=1.2, detail=4.0)
    grain = g.noise(scale=20.0, detail=3.0)
    col = g.ramp(stain["Fac"], [(0.3, "#6a6a66"), (0.55, "#8e8c88"), (0.75, "#a8a6a0")])
    base = _multiply(g, col, g.fmap(grain["Fac"], [(0.3, 0.85), (0.7, 1.05)]))
    g.surface(base=g.mix(hole, base, "#3a3a38"), roughness=0.9)
    g.surface(
        normal=g.bump(g.math("MULTIPLY_ADD", grain["Fac"], 0.3, g.math("SUBTRACT", 1.0, hole)), 0.4, 0.1)
    )


@main("plaster-stucco", "plaster", "off-white textured stucco wall", background_scale=0.5)
def _(g: Graph) -> None:
    blobs = g.noise(scale=8.0, detail=4.0, roughness=0.6, kind="MULTIFRACTAL")
    trowel = g.noise(scale=2.0, detail=2.0)
    col = g.ramp(trowel["Fac"], [(0.3, "#d8d0c0"), (0.7, "#ece6d8")])
    g.surface(base=g.jitter(col, hue=0.05, val=0.1), roughness=0.9)
    g.surface(normal=g.bump(g.mask(blobs["Fac"], 0.3, 0.6), 0.6, 0.1))


@main(
    "plaster-cracked-ochre",
    "plaster",
    "ochre painted plaster, cracked and flaking to grey",
    background_scale=0.4,
)
def _(g: Graph) -> None:
    flake = g.noise(scale=3.0, detail=4.0, roughness=0.6)
    bare = g.mask(flake["Fac"], 0.62, 0.66)
    cracks = g.voronoi(g.warp(0.5, 3.0, detail=2.0), scale=5.0, feature="DISTANCE_TO_EDGE")
    crack = g.mask(cracks["Distance"], 0.03, 0.01)
    paint = g.ramp(g.noise(scale=1.5, detail=3.0)["Fac"], [(0.3, "#b0802c"), (0.7, "#d0a040")])
    base = g.mix(bare, paint, "#8a8680")
    base = g.mix(crack, base, "#3a2e20")
    g.surface(base=base, roughness=0.85)
    g.surface(normal=g.bump(g.math("SUBTRACT", g.math("SUBTRACT", 1.0, bare), crack), 0.5, 0.1))


# ---------------------------------------------------------------------------------------------- brick
@main(
    "bricks-red", "brick", "red brickwork with recessed light mortar", displacement=0.03, background_scale=0.4
)
def _(g: Graph) -> None:
    _bricks(g, scale=1.8, c1="#8c3222", c2="#6a2418", mortar="#b8b0a4", displace=True)


@main("bricks-yellow", "brick", "yellow-grey stock bricks with dark firing marks", background_scale=0.4)
def _(g: Graph) -> None:
    _bricks(g, scale=2.2, c1="#c8a868", c2="#8a7654", mortar="#8a8478", grime=0.5, mortar_size=0.02)


@main(
    "bricks-whitewashed",
    "brick",
    "whitewashed brick wall with paint worn off in places",
    background_scale=0.4,
)
def _(g: Graph) -> None:
    b = g.brick(scale=1.8, color1="#ece8e0", color2="#d8d2c8", mortar="#c8c4bc", mortar_size=0.03)
    worn = g.mask(g.noise(scale=2.5, detail=4.0)["Fac"], 0.6, 0.66)
    red = g.brick(scale=1.8, color1="#9a4a34", color2="#7a3a28", mortar="#9a948a", mortar_size=0.03)
    g.surface(base=g.mix(worn, b["Color"], red["Color"]), roughness=0.9)
    g.surface(normal=g.bump(g.math("SUBTRACT", 1.0, b["Fac"]), 0.5, 0.1))


@main("stone-blocks", "brick", "large sandy ashlar stone blocks", displacement=0.04, background_scale=0.35)
def _(g: Graph) -> None:
    b = g.brick(
        scale=1.0,
        color1="#b8a888",
        color2="#8c8068",
        mortar="#5a544a",
        mortar_size=0.02,
        width=0.9,
        height=0.4,
    )
    n = g.noise(scale=6.0, detail=4.0, roughness=0.6)
    base = _multiply(g, b["Color"], g.fmap(n["Fac"], [(0.3, 0.7), (0.7, 1.05)]))
    g.surface(base=g.jitter(base, hue=0.03, val=0.1), roughness=0.85)
    height = g.math("MULTIPLY", g.math("SUBTRACT", 1.0, b["Fac"]), g.math("MULTIPLY_ADD", n["Fac"], 0.4, 0.6))
    g.displace(height, midlevel=1.0)


@main("bricks-glazed-dark", "brick", "glossy dark blue glazed bricks in stack bond", background_scale=0.4)
def _(g: Graph) -> None:
    b = g.brick(scale=2.5, color1="#1c2c48", color2="#101828", mortar="#c8c8c0", mortar_size=0.02, offset=0.0)
    g.surface(base=b["Color"], roughness=g.fmap(b["Fac"], [(0.0, 0.12), (1.0, 0.9)]))
    g.surface(normal=g.bump(g.math("SUBTRACT", 1.0, b["Fac"]), 0.5, 0.1))


# ----------------------------------------------------------------------------------------------- tile
def _tiles(
    g: Graph, scale: float, c1: str, c2: str, grout: str, rough: float, grout_size: float = 0.04
) -> Out:
    """Square tiles (brick texture with square bricks and no offset); returns the brick Fac (1 in grout)."""
    b = g.brick(
        scale=scale,
        color1=c1,
        color2=c2,
        mortar=grout,
        mortar_size=grout_size,
        width=0.5,
        height=0.5,
        offset=0.0,
    )
    g.surface(base=b["Color"], roughness=g.fmap(b["Fac"], [(0.0, rough), (1.0, 0.9)]))
    g.surface(normal=g.bump(g.math("SUBTRACT", 1.0, b["Fac"]), 0.6, 0.1))
    return b["Fac"]


@main("tiles-bathroom-white", "tile", "glossy white square tiles with grey grout", background_scale=0.4)
def _(g: Graph) -> None:
    _tiles(g, scale=3.0, c1="#f0f0ec", c2="#e0e0dc", grout="#8a8a88", rough=0.08, grout_size=0.025)


@main("tiles-checker-blue", "tile", "blue and white checkered glazed tiles", background_scale=0.4)
def _(g: Graph) -> None:
    u, v = g.uv()
    chk = g.checker(g.combine(u, v, 0.25), scale=3.0, c1="#f2f0ea", c2="#1e4a8c")
    grout = g.brick(scale=3.0, mortar_size=0.03, width=0.5, height=0.5, offset=0.0)
    g.surface(
        base=g.mix(grout["Fac"], chk["Color"], "#a8a8a0"),
        roughness=g.fmap(grout["Fac"], [(0.0, 0.1), (1.0, 0.9)]),
    )
    g.surface(normal=g.bump(g.math("SUBTRACT", 1.0, grout["Fac"]), 0.6, 0.1))


@main("tiles-terracotta", "tile", "unglazed terracotta floor tiles with varied firing", background_scale=0.35)
def _(g: Graph) -> None:
    b = g.brick(
        scale=1.6,
        color1="#b85a34",
        color2="#8a3e22",
        mortar="#c8bca8",
        mortar_size=0.03,
        width=0.5,
        height=0.5,
        offset=0.0,
    )
    n = g.noise(scale=5.0, detail=4.0)
    base = _multiply(g, b["Color"], g.fmap(n["Fac"], [(0.3, 0.8), (0.7, 1.1)]))
    g.surface(base=g.jitter(base, hue=0.03, val=0.1), roughness=0.85)
    g.surface(normal=g.bump(g.math("SUBTRACT", 1.0, b["Fac"]), 0.5, 0.1))


@main(
    "roof-tiles-clay", "tile", "overlapping orange clay roof tiles", displacement=0.04, background_scale=0.4
)
def _(g: Graph) -> None:
    u, v = g.uv()
    b = g.brick(
        scale=2.0,
        color1="#c0582c",
        color2="#9a4020",
        mortar="#5a2a18",
        mortar_size=0.015,
        width=0.4,
        height=0.3,
    )
    # Each row fades from the tile's lower lip (high) to where the next row overlaps (low).
    lip = g.math("FRACT", g.math("MULTIPLY", v, 2.0 / 0.3))
    row = g.math("SUBTRACT", 1.0, lip)
    round_ = g.math("ABSOLUTE", g.math("SINE", g.math("MULTIPLY", u, 3.14159 * 2.0 / 0.4)))
    height = g.math("MULTIPLY", row, g.math("MULTIPLY_ADD", round_, 0.5, 0.5))
    base = _multiply(g, b["Color"], g.fmap(height, [(0.0, 0.45), (0.6, 1.0)]))
    g.surface(base=g.jitter(base, val=0.1), roughness=0.7)
    g.displace(height, midlevel=0.5)


@main("roof-slates", "tile", "overlapping dark grey roof slates", background_scale=0.4)
def _(g: Graph) -> None:
    _, v = g.uv()
    b = g.brick(
        scale=2.5,
        color1="#4a4e54",
        color2="#2e3034",
        mortar="#1a1a1c",
        mortar_size=0.012,
        width=0.35,
        height=0.25,
    )
    lip = g.math("FRACT", g.math("MULTIPLY", v, 2.5 / 0.25))
    base = _multiply(g, b["Color"], g.fmap(lip, [(0.0, 1.0), (1.0, 0.6)]))
    n = g.noise(g.stretch(6.0, 1.0, 1.0), scale=6.0, detail=3.0)
    base = _multiply(g, base, g.fmap(n["Fac"], [(0.3, 0.8), (0.7, 1.1)]))
    g.surface(base=g.jitter(base, val=0.15), roughness=0.55)
    g.surface(normal=g.bump(g.math("SUBTRACT", 1.0, lip), 0.6, 0.1))


@main("terrazzo", "tile", "polished cream terrazzo with coloured stone chips", background_scale=0.4)
def _(g: Graph) -> None:
    chips = g.voronoi(g.warp(0.2, 4.0), scale=10.0)
    r = g.cell_random(chips)
    chip = g.mask(chips["Distance"], 0.32, 0.26)
    col = g.ramp(
        r,
        [
            (0.0, "#c05a3c"),
            (0.2, "#2a2a2a"),
            (0.4, "#5a8a8a"),
            (0.6, "#d8a040"),
            (0.8, "#8a8a86"),
            (1.0, "#d8d4cc"),
        ],
        interp="CONSTANT",
    )
    fine = g.voronoi(scale=35.0)
    speck = g.mask(fine["Distance"], 0.2, 0.15)
    base = g.mix(chip, "#ece6da", col)
    base = g.mix(g.math("MULTIPLY", speck, 0.6), base, "#6a6660")
    g.surface(base=base, roughness=0.15)


# ----------------------------------------------------------------------------------------------- wood
def _grain(g: Graph, vec: Out, scale: float, light: str, dark: str) -> Out:
    """Wood grain along x: rings of a stretched wave, warped by noise."""
    w = g.wave(
        g.stretch(0.15, 1.0, 1.0, vec),
        scale=scale,
        kind="RINGS",
        direction="X",
        distortion=3.0,
        detail=3.0,
        detail_scale=0.8,
    )
    return g.ramp(w["Fac"], [(0.0, dark), (0.45, light), (0.8, light), (1.0, dark)])


@main("wood-planks-oak", "wood", "oak floor planks with honey grain and dark seams", background_scale=0.35)
def _(g: Graph) -> None:
    p = g.planar()
    b = g.brick(
        p,
        scale=1.0,
        color1="#ffffff",
        color2="#a89880",
        mortar="#2a1a0e",
        mortar_size=0.008,
        width=2.0,
        height=0.22,
        offset=0.37,
        mortar_smooth=0.0,
    )
    grain = _grain(g, p, 6.0, "#c89058", "#7a4a24")
    base = _multiply(g, grain, b["Color"])
    g.surface(base=g.jitter(base, hue=0.02, val=0.1), roughness=0.45)
    g.surface(normal=g.bump(g.math("SUBTRACT", 1.0, b["Fac"]), 0.5, 0.1))


@main("wood-walnut-grain", "wood", "varnished dark walnut with wavy figure", background_scale=0.3)
def _(g: Graph) -> None:
    w = g.wave(
        g.stretch(0.2, 1.0, 1.0),
        scale=5.0,
        kind="RINGS",
        direction="X",
        distortion=5.0,
        detail=4.0,
        detail_scale=1.5,
    )
    col = g.ramp(w["Fac"], [(0.0, "#2a160c"), (0.4, "#5a3420"), (0.7, "#7a4a2c"), (1.0, "#3a2012")])
    fig = g.noise(g.stretch(0.3, 3.0, 1.0), scale=4.0, detail=3.0)
    base = _multiply(g, col, g.fmap(fig["Fac"], [(0.3, 0.8), (0.7, 1.15)]))
    g.surface(base=base, roughness=0.25)
    g.surface(normal=g.bump(w["Fac"], 0.1, 0.1))


@main(
    "wood-painted-weathered",
    "wood",
    "teal painted boards, peeling to grey weathered wood",
    background_scale=0.35,
)
def _(g: Graph) -> None:
    p = g.planar()
    boards = g.brick(
        p,
        scale=1.0,
        color1="#ffffff",
        color2="#d8d8d8",
        mortar="#202020",
        mortar_size=0.01,
        width=6.0,
        height=0.3,
        offset=0.0,
    )
    grain = _grain(g, p, 8.0, "#9a948a", "#5a544c")
    peel = g.mask(g.noise(g.stretch(0.3, 1.0, 1.0), scale=4.0, detail=4.0)["Fac"], 0.6, 0.63)
    paint = g.ramp(g.noise(scale=3.0)["Fac"], [(0.3, "#2a7a78"), (0.7, "#3a9490")])
    base = _multiply(g, g.mix(peel, paint, grain), boards["Color"])
    g.surface(base=base, roughness=0.8)
    g.surface(normal=g.bump(g.math("SUBTRACT", g.math("SUBTRACT", 1.0, peel), boards["Fac"]), 0.5, 0.1))


@main(
    "bark-pine",
    "wood",
    "deeply furrowed pine bark in grey-brown plates",
    displacement=0.05,
    background_scale=0.45,
)
def _(g: Graph) -> None:
    g.flat()
    vec = g.stretch(1.0, 0.3, 1.0, g.warp(0.4, 2.0))  # plates run along v: vertical on the sides
    plates = g.voronoi(vec, scale=4.0, feature="DISTANCE_TO_EDGE")
    cells = g.voronoi(vec, scale=4.0)
    r = g.cell_random(cells)
    h = g.fmap(plates["Distance"], [(0.0, 0.0), (0.15, 0.8), (0.4, 1.0)])
    col = g.ramp(r, [(0.0, "#5a4030"), (0.5, "#7a5a44"), (1.0, "#8a7a6a")])
    base = _multiply(g, col, g.fmap(h, [(0.0, 0.15), (0.6, 1.0)]))
    n = g.noise(scale=15.0, detail=3.0)
    g.surface(base=_multiply(g, base, g.fmap(n["Fac"], [(0.3, 0.8), (0.7, 1.1)])), roughness=0.9)
    g.displace(g.math("MULTIPLY_ADD", n["Fac"], 0.2, h), midlevel=0.6)


@main("cork-board", "wood", "tan cork board with dark granules", background_scale=0.5)
def _(g: Graph) -> None:
    gran = g.voronoi(scale=30.0)
    r = g.cell_random(gran)
    col = g.ramp(r, [(0.0, "#6a4424"), (0.3, "#a07048"), (0.7, "#c09060"), (1.0, "#d8b080")])
    pits = g.mask(gran["Distance"], 0.1, 0.05)
    base = g.mix(pits, col, "#3a2414")
    g.surface(base=g.jitter(base, val=0.1), roughness=0.95)
    g.surface(normal=g.bump(g.math("SUBTRACT", 1.0, pits), 0.5, 0.1))


# --------------------------------------------------------------------------------------------- fabric
@main("fabric-denim", "fabric", "indigo denim twill with faded wear", background_scale=0.3)
def _(g: Graph) -> None:
    twill = g.wave(scale=30.0, direction="DIAGONAL", profile="SIN")
    slub = g.noise(g.stretch(1.0, 10.0, 1.0), scale=4.0, detail=2.0)
    fade = g.noise(scale=1.2, detail=3.0)
    thread = g.math("MULTIPLY", twill["Fac"], g.fmap(slub["Fac"], [(0.3, 0.6), (0.7, 1.0)]))
    col = g.ramp(thread, [(0.0, "#101c38"), (0.6, "#2a4470"), (1.0, "#8a9ab8")])
    base = g.mix(g.mask(fade["Fac"], 0.55, 0.75), col, "#6a84aa")
    g.surface(base=base, roughness=0.9, sheen_weight=0.3)
    g.surface(normal=g.bump(twill["Fac"], 0.3, 0.1))


@main("fabric-tartan", "fabric", "red and green tartan plaid wool", background_scale=0.35)
def _(g: Graph) -> None:
    u, v = g.uv()

    def stripes(x: Out) -> Out:
        f = g.math("FRACT", g.math("MULTIPLY", x, 1.6))
        return g.ramp(
            f,
            [(0.0, "#1a3a24"), (0.3, "#a01c1c"), (0.55, "#1a2040"), (0.62, "#e0c040"), (0.66, "#a01c1c")],
            interp="CONSTANT",
        )

    base = g.mix(0.5, stripes(u), stripes(v))
    weave = g.wave(scale=40.0, direction="DIAGONAL")
    base = _multiply(g, base, g.fmap(weave["Fac"], [(0.0, 0.75), (1.0, 1.1)]))
    g.surface(base=base, roughness=0.9, sheen_weight=0.4)


@main("fabric-knit-wool", "fabric", "chunky cream knitted wool in V stitches", background_scale=0.3)
def _(g: Graph) -> None:
    u, v = g.uv()
    col = g.math("FRACT", g.math("MULTIPLY", u, 8.0))
    chevron = g.math("ABSOLUTE", g.math("SUBTRACT", col, 0.5))
    row = g.math("FRACT", g.math("MULTIPLY_ADD", v, 8.0, chevron))
    loop = g.math(
        "MULTIPLY",
        g.math("SINE", g.math("MULTIPLY", row, 3.14159)),
        g.math("SINE", g.math("MULTIPLY", col, 3.14159)),
    )
    fuzz = g.noise(scale=60.0, detail=2.0)
    shade = g.fmap(loop, [(0.0, 0.45), (0.7, 1.0)])
    base = _multiply(g, g.rgb("#e6dcc4"), shade)
    base = _multiply(g, base, g.fmap(fuzz["Fac"], [(0.3, 0.9), (0.7, 1.05)]))
    g.surface(base=g.jitter(base, hue=0.05, val=0.1), roughness=0.95, sheen_weight=0.6)
    g.surface(normal=g.bump(loop, 0.6, 0.1))


@main("fabric-linen", "fabric", "oatmeal linen plain weave with slubs", background_scale=0.3)
def _(g: Graph) -> None:
    weave = g.checker(scale=25.0, c1="#ffffff", c2="#d8d8d8")
    slub_u = g.noise(g.stretch(1.0, 20.0, 20.0), scale=3.0)
    slub_v = g.noise(g.stretch(20.0, 1.0, 1.0), scale=3.0)
    col = g.ramp(
        g.math("MULTIPLY", slub_u["Fac"], slub_v["Fac"]),
        [(0.1, "#a8987c"), (0.3, "#c8b89c"), (0.45, "#ddd0b8")],
    )
    g.surface(base=_multiply(g, col, weave["Color"]), roughness=0.9, sheen_weight=0.3)
    g.surface(normal=g.bump(weave["Fac"], 0.2, 0.1))


@main("fabric-velvet", "fabric", "crushed deep red velvet with sheen", background_scale=0.4)
def _(g: Graph) -> None:
    crush = g.noise(scale=3.0, detail=4.0, distortion=1.0)
    col = g.ramp(crush["Fac"], [(0.3, "#3a0610"), (0.55, "#6a0c1c"), (0.75, "#8a1a28")])
    g.surface(base=col, roughness=0.8, sheen_weight=1.0, sheen_roughness=0.3)
    g.surface(normal=g.bump(crush["Fac"], 0.3, 0.1))


@main(
    "fabric-upholstery-pebbles",
    "fabric",
    "mustard boucle upholstery with pebbly loops",
    background_scale=0.35,
)
def _(g: Graph) -> None:
    loops = g.voronoi(scale=25.0)
    mott = g.noise(scale=6.0, detail=2.0)
    col = g.ramp(mott["Fac"], [(0.3, "#8a6410"), (0.7, "#c49a2c")])
    shade = g.fmap(loops["Distance"], [(0.0, 1.0), (0.6, 0.55)])
    g.surface(base=_multiply(g, col, shade), roughness=0.95, sheen_weight=0.5)
    g.surface(normal=g.bump(loops["Distance"], 0.6, 0.1, invert=True))


@main("carpet-loop", "carpet", "blue-grey loop-pile carpet with coloured flecks", background_scale=0.35)
def _(g: Graph) -> None:
    loops = g.voronoi(scale=14.0)
    r = g.cell_random(loops)
    col = g.ramp(
        r,
        [(0.0, "#3c4450"), (0.6, "#4e5866"), (0.9, "#6a7482"), (0.96, "#8a3a3a"), (0.98, "#c8b070")],
        interp="CONSTANT",
    )
    shade = g.fmap(loops["Distance"], [(0.0, 1.0), (0.6, 0.5)])
    wear = g.noise(scale=1.0, detail=2.0)
    base = _multiply(g, _multiply(g, col, shade), g.fmap(wear["Fac"], [(0.3, 0.85), (0.7, 1.1)]))
    g.surface(base=base, roughness=1.0, sheen_weight=0.5)
    g.surface(normal=g.bump(loops["Distance"], 0.7, 0.1, invert=True))


# -------------------------------------------------------------------------------------------- leather
@main("leather-brown", "leather", "tan-brown pebbled leather with darker creases", background_scale=0.4)
def _(g: Graph) -> None:
    grain = g.voronoi(g.warp(0.3, 5.0), scale=22.0, feature="DISTANCE_TO_EDGE")
    wear = g.noise(scale=2.0, detail=4.0)
    col = g.ramp(wear["Fac"], [(0.3, "#4a2812"), (0.6, "#7a4422"), (0.8, "#9a5a30")])
    shade = g.fmap(grain["Distance"], [(0.0, 0.5), (0.15, 1.0)])
    g.surface(base=_multiply(g, col, shade), roughness=g.fmap(wear["Fac"], [(0.3, 0.35), (0.7, 0.6)]))
    g.surface(normal=g.bump(grain["Distance"], 0.5, 0.1))


@main(
    "leather-quilted-black",
    "leather",
    "black diamond-quilted leather with button tufts",
    displacement=0.03,
    background_scale=0.35,
)
def _(g: Graph) -> None:
    u, v = g.uv()
    a = g.math("MULTIPLY", g.math("ADD", u, v), 2.5)
    b = g.math("MULTIPLY", g.math("SUBTRACT", u, v), 2.5)
    pa = g.math("SINE", g.math("MULTIPLY", g.math("FRACT", a), 3.14159))
    pb = g.math("SINE", g.math("MULTIPLY", g.math("FRACT", b), 3.14159))
    pillow = g.math("POWER", g.math("MULTIPLY", pa, pb), 0.5)
    grain = g.voronoi(scale=40.0, feature="DISTANCE_TO_EDGE")
    col = _multiply(g, g.rgb("#1a1a1c"), g.fmap(pillow, [(0.0, 0.3), (0.6, 1.0)]))
    g.surface(base=col, roughness=g.fmap(grain["Distance"], [(0.0, 0.6), (0.1, 0.3)]))
    g.surface(normal=g.bump(grain["Distance"], 0.2, 0.1))
    g.displace(pillow, midlevel=0.5)


# ---------------------------------------------------------------------------------------------- metal
@main(
    "metal-brushed-steel", "metal", "brushed stainless steel with fine linear streaks", background_scale=0.4
)
def _(g: Graph) -> None:
    streak = g.noise(g.stretch(1.0, 60.0, 60.0), scale=3.0, detail=4.0)
    smudge = g.noise(scale=1.5, detail=2.0)
    g.surface(base=g.ramp(streak["Fac"], [(0.3, "#9a9ca0"), (0.7, "#c8cace")]), metallic=1.0)
    g.surface(
        roughness=g.math(
            "ADD",
            g.fmap(streak["Fac"], [(0.3, 0.2), (0.7, 0.32)]),
            g.fmap(smudge["Fac"], [(0.4, 0.0), (0.7, 0.15)]),
        )
    )
    g.surface(normal=g.bump(streak["Fac"], 0.1, 0.1))


@main("metal-rusted", "metal", "steel plate eaten by orange-brown rust", background_scale=0.4)
def _(g: Graph) -> None:
    n = g.noise(scale=3.0, detail=4.0, roughness=0.6)
    rust = g.mask(n["Fac"], 0.45, 0.55)
    flakes = g.noise(scale=25.0, detail=3.0)
    rust_col = g.ramp(flakes["Fac"], [(0.3, "#5a2210"), (0.5, "#8a3a14"), (0.7, "#b8642a")])
    g.surface(base=g.mix(rust, "#7a7c80", rust_col), metallic=g.math("SUBTRACT", 1.0, rust))
    g.surface(roughness=g.fmap(rust, [(0.0, 0.35), (1.0, 0.95)]))
    g.surface(normal=g.bump(g.math("MULTIPLY_ADD", flakes["Fac"], 0.5, rust), 0.5, 0.1))


@main(
    "metal-corrugated",
    "metal",
    "galvanised corrugated steel sheet",
    displacement=0.05,
    background_scale=0.4,
)
def _(g: Graph) -> None:
    u, _ = g.uv()
    ridge = g.math("MULTIPLY_ADD", g.math("SINE", g.math("MULTIPLY", u, 6.2832 * 4.0)), 0.5, 0.5)
    spangle = g.voronoi(scale=12.0)
    r = g.cell_random(spangle)
    dirt = g.noise(scale=2.0, detail=4.0)
    col = g.ramp(r, [(0.0, "#8a8e92"), (1.0, "#b8bcc0")])
    base = _multiply(g, col, g.fmap(dirt["Fac"], [(0.4, 1.0), (0.7, 0.7)]))
    g.surface(base=base, metallic=1.0, roughness=g.fmap(r, [(0.0, 0.25), (1.0, 0.45)]))
    g.displace(ridge)


@main("metal-tread-plate", "metal", "aluminium tread plate with raised bars", background_scale=0.2)
def _(g: Graph) -> None:
    bars = g.brick(
        scale=3.0,
        color1="#ffffff",
        color2="#ffffff",
        mortar="#000000",
        mortar_size=0.07,
        mortar_smooth=0.6,
        width=0.5,
        height=0.25,
        offset=0.5,
    )
    raised = g.math("SUBTRACT", 1.0, bars["Fac"])
    scuff = g.noise(scale=4.0, detail=4.0)
    g.surface(base=g.ramp(scuff["Fac"], [(0.3, "#8a8c90"), (0.7, "#b4b6ba")]), metallic=1.0)
    g.surface(roughness=g.fmap(scuff["Fac"], [(0.3, 0.35), (0.7, 0.6)]))
    g.surface(normal=g.bump(raised, 0.5, 0.1))


@main("copper-hammered", "metal", "hand-hammered copper with dimpled facets", background_scale=0.4)
def _(g: Graph) -> None:
    dents = g.voronoi(scale=9.0)
    tarnish = g.noise(scale=2.0, detail=3.0)
    col = g.ramp(tarnish["Fac"], [(0.3, "#8a4a28"), (0.6, "#c87a4a"), (0.8, "#d89068")])
    g.surface(base=col, metallic=1.0, roughness=g.fmap(tarnish["Fac"], [(0.3, 0.18), (0.7, 0.35)]))
    g.surface(normal=g.bump(g.fmap(dents["Distance"], [(0.0, 0.0), (0.9, 1.0)], interp="EASE"), 0.7, 0.1))


@main("bronze-patina", "metal", "bronze with blue-green verdigris patina", background_scale=0.4)
def _(g: Graph) -> None:
    n = g.noise(scale=2.5, detail=4.0, roughness=0.6)
    patina = g.mask(n["Fac"], 0.48, 0.58)
    crust = g.noise(scale=18.0, detail=3.0)
    green = g.ramp(crust["Fac"], [(0.3, "#3a7a64"), (0.6, "#5aa08a"), (0.8, "#8ac0a8")])
    g.surface(base=g.mix(patina, "#8a6a34", green), metallic=g.math("SUBTRACT", 1.0, patina))
    g.surface(roughness=g.fmap(patina, [(0.0, 0.3), (1.0, 0.9)]))
    g.surface(normal=g.bump(g.math("MULTIPLY", patina, crust["Fac"]), 0.5, 0.1))


@main("metal-weave", "metal-weave", "basket-woven brass strips, a metallic weave", background_scale=0.35)
def _(g: Graph) -> None:
    u, v = g.uv()
    k = 5.0
    over = g.checker(g.combine(u, v, 0.25), scale=k, c1="#ffffff", c2="#000000")["Fac"]
    # Three strips per checker cell: along u in one parity, along v in the other.
    su = g.math("SINE", g.math("MULTIPLY", g.math("FRACT", g.math("MULTIPLY", v, k * 1.5)), 3.14159))
    sv = g.math("SINE", g.math("MULTIPLY", g.math("FRACT", g.math("MULTIPLY", u, k * 1.5)), 3.14159))
    h = g.mix(over, su, sv, dtype="FLOAT")
    col = _multiply(g, g.rgb("#c8a050"), g.fmap(h, [(0.0, 0.25), (0.6, 1.0)]))
    g.surface(base=col, metallic=1.0, roughness=0.3)
    g.surface(normal=g.bump(h, 0.6, 0.1))


# ----------------------------------------------------------------------------------------------- mesh
@main(
    "mesh-wire",
    "mesh",
    "welded square steel wire mesh, see-through",
    transparent=True,
    background_scale=0.5,
)
def _(g: Graph) -> None:
    u, v = g.uv()
    wire = _grid(g, u, v, 0.22, 0.16)
    g.surface(base="#8a8c8e", metallic=1.0, roughness=0.4, alpha=wire)


@main(
    "mesh-chainlink",
    "mesh",
    "galvanised chain-link fence with diamond openings",
    transparent=True,
    background_scale=0.5,
)
def _(g: Graph) -> None:
    u, v = g.uv()
    a = g.math("ADD", u, v)
    b = g.math("SUBTRACT", u, v)
    wire = _grid(g, a, b, 0.35, 0.12)
    g.surface(base="#a8acb0", metallic=1.0, roughness=0.35, alpha=wire)


@main(
    "metal-perforated",
    "mesh",
    "perforated steel sheet with round holes",
    transparent=True,
    background_scale=0.45,
)
def _(g: Graph) -> None:
    holes = g.voronoi(g.planar(), scale=7.0, randomness=0.0)
    solid = g.mask(holes["Distance"], 0.3, 0.34)
    scuff = g.noise(scale=3.0, detail=4.0)
    g.surface(base=g.ramp(scuff["Fac"], [(0.3, "#6a6e74"), (0.7, "#9a9ea4")]), metallic=1.0, roughness=0.35)
    g.surface(alpha=solid)


@main(
    "chainmail",
    "mesh",
    "riveted steel chainmail of interlinked rings",
    transparent=True,
    background_scale=0.25,
)
def _(g: Graph) -> None:
    u, v = g.uv()
    k = 3.5

    def ring(offset: float) -> Out:
        # A torus profile: 1 on the ring's mid-radius, falling to 0 at its edges.
        x = g.math("ABSOLUTE", g.math("SUBTRACT", _cell_distance(g, u, v, k, offset), 0.42))
        return g.fmap(x, [(0.0, 1.0), (0.1, 0.0)])

    h = g.math("MAXIMUM", ring(0.0), ring(0.5))  # two lattices, half a cell apart, interlink
    g.surface(base="#9a9ea4", metallic=1.0, roughness=0.3, alpha=g.mask(h, 0.05, 0.15))
    g.surface(normal=g.bump(h, 0.6, 0.1))


@main(
    "metal-grate",
    "mesh",
    "black steel bar grating with cross rods",
    transparent=True,
    background_scale=0.45,
)
def _(g: Graph) -> None:
    u, v = g.uv()
    bars = g.math("GREATER_THAN", g.math("FRACT", g.math("MULTIPLY", u, 6.0)), 0.72)
    rods = g.math("LESS_THAN", g.math("FRACT", g.math("MULTIPLY", v, 1.5)), 0.08)
    solid = g.math("MAXIMUM", bars, rods)
    g.surface(base="#2a2c2e", metallic=1.0, roughness=0.5, alpha=solid)


# ---------------------------------------------------------------------------------------------- other
@main("solar-panel", "panel", "blue photovoltaic cells with silver busbars and gaps", background_scale=0.35)
def _(g: Graph) -> None:
    u, v = g.uv()
    cells = g.brick(
        scale=3.0,
        color1="#14244a",
        color2="#1a2c58",
        mortar="#d0d4d8",
        mortar_size=0.015,
        width=0.5,
        height=0.5,
        offset=0.0,
        mortar_smooth=0.0,
    )
    bus = g.math("LESS_THAN", g.math("FRACT", g.math("MULTIPLY", u, 3.0 * 2.0 * 3.0)), 0.05)
    fingers = g.math("LESS_THAN", g.math("FRACT", g.math("MULTIPLY", v, 3.0 * 2.0 * 12.0)), 0.12)
    lines = g.math("MAXIMUM", bus, g.math("MULTIPLY", fingers, 0.4))
    base = g.mix(lines, cells["Color"], "#b8bcc0")
    g.surface(base=base, roughness=0.12, metallic=g.math("MAXIMUM", cells["Fac"], bus))


# ================================================================================================= ood
@ood("ceramic-crackle-turquoise", "ceramic", "glossy turquoise glaze with dark crackle", background_scale=0.4)
def _(g: Graph) -> None:
    big = g.voronoi(g.warp(0.3, 3.0), scale=4.0, feature="DISTANCE_TO_EDGE")
    small = g.voronoi(g.warp(0.3, 6.0), scale=11.0, feature="DISTANCE_TO_EDGE")
    crack = g.math(
        "MAXIMUM",
        g.mask(big["Distance"], 0.025, 0.01),
        g.math("MULTIPLY", g.mask(small["Distance"], 0.02, 0.008), 0.6),
    )
    pool = g.noise(scale=2.0, detail=3.0)
    glaze = g.ramp(pool["Fac"], [(0.3, "#0a7a80"), (0.7, "#30b8b0")])
    g.surface(base=g.mix(crack, glaze, "#0a2a2a"), roughness=0.05, coat_weight=0.5)


@ood(
    "porcelain-blue-swirl",
    "ceramic",
    "white porcelain with cobalt-blue swirling brushwork",
    background_scale=0.4,
)
def _(g: Graph) -> None:
    m = g.magic(g.warp(0.5, 1.5), scale=2.0, distortion=2.5, depth=3)
    ink = g.mask(m["Fac"], 0.45, 0.6)
    g.surface(base=g.mix(ink, "#f4f4f8", "#1a3a9a"), roughness=0.08)


@ood("mosaic-glass", "mosaic", "small square glass tesserae in bright random colours", background_scale=0.4)
def _(g: Graph) -> None:
    cells = g.voronoi(g.planar(), scale=10.0, randomness=0.0, distance="CHEBYCHEV")
    edge = g.voronoi(g.planar(), scale=10.0, randomness=0.0, distance="CHEBYCHEV", feature="DISTANCE_TO_EDGE")
    col = g.hsv(cells["Color"], 0.5, 2.0, 1.2)
    g.surface(base=g.mix(g.mask(edge["Distance"], 0.1, 0.06), col, "#d8d4cc"), roughness=0.1)
    g.surface(normal=g.bump(edge["Distance"], 0.4, 0.1))


@ood(
    "mosaic-roman",
    "mosaic",
    "ochre, terracotta and black stone mosaic in a ring pattern",
    background_scale=0.4,
)
def _(g: Graph) -> None:
    vec = g.warp(0.1, 8.0, g.planar())
    cells = g.voronoi(vec, scale=16.0, randomness=0.3)
    edge = g.voronoi(vec, scale=16.0, randomness=0.3, feature="DISTANCE_TO_EDGE")
    pattern = g.wave(cells["Position"], scale=1.2, kind="RINGS", direction="SPHERICAL", profile="SAW")
    col = g.ramp(
        pattern["Fac"],
        [(0.0, "#1a1a1a"), (0.25, "#c8a060"), (0.5, "#e8dcc0"), (0.75, "#a84a2a")],
        interp="CONSTANT",
    )
    g.surface(base=g.mix(g.mask(edge["Distance"], 0.1, 0.06), col, "#5a5048"), roughness=0.6)
    g.surface(normal=g.bump(edge["Distance"], 0.4, 0.1))


@ood(
    "camo-woodland",
    "camouflage",
    "woodland camouflage fabric in khaki, green, brown and black",
    background_scale=0.35,
)
def _(g: Graph) -> None:
    a = g.noise(scale=2.0, detail=2.0, roughness=0.4)
    col = g.ramp(
        a["Fac"],
        [(0.0, "#2a1e14"), (0.4, "#4a5a2a"), (0.52, "#a09468"), (0.62, "#5a3c22")],
        interp="CONSTANT",
    )
    b = g.noise(scale=3.5, detail=2.0)
    col = g.mix(g.math("GREATER_THAN", b["Fac"], 0.64), col, "#141210")
    weave = g.checker(scale=80.0, c1="#ffffff", c2="#c8c8c8")
    g.surface(base=_multiply(g, col, weave["Color"]), roughness=0.9)


@ood(
    "camo-digital",
    "camouflage",
    "pixelated urban digital camouflage in greys and blues",
    background_scale=0.35,
)
def _(g: Graph) -> None:
    px = g.vmath("SNAP", g.coords, (0.06, 0.06, 0.06))
    a = g.noise(px, scale=2.5, detail=3.0)
    col = g.ramp(
        a["Fac"],
        [(0.0, "#2a3038"), (0.42, "#6a7888"), (0.52, "#a8b0b8"), (0.62, "#3a4a5c")],
        interp="CONSTANT",
    )
    g.surface(base=col, roughness=0.85)


@ood("lava-glowing", "lava", "black crusted lava with glowing orange cracks", background_scale=0.4)
def _(g: Graph) -> None:
    vec = g.warp(0.6, 2.0, detail=2.0)
    plates = g.voronoi(vec, scale=3.5, feature="DISTANCE_TO_EDGE")
    heat = g.noise(scale=1.5, detail=3.0)
    glow = g.math(
        "MULTIPLY", g.mask(plates["Distance"], 0.12, 0.02), g.fmap(heat["Fac"], [(0.3, 0.4), (0.7, 1.0)])
    )
    hot = g.ramp(glow, [(0.0, "#000000"), (0.3, "#8a1a00"), (0.7, "#ff6a00"), (1.0, "#ffd040")])
    crust = g.ramp(g.noise(scale=12.0, detail=4.0)["Fac"], [(0.3, "#0e0c0c"), (0.7, "#2a2220")])
    g.surface(base=g.mix(glow, crust, "#3a0a00"), roughness=0.8, emission_color=hot, emission_strength=4.0)
    g.surface(normal=g.bump(plates["Distance"], 0.6, 0.1))


@ood("circuit-board", "electronics", "green circuit board with gold traces and pads", background_scale=0.25)
def _(g: Graph) -> None:
    p = g.planar()
    u, v = g.uv()
    cell = g.voronoi(p, scale=4.0, randomness=0.0, distance="CHEBYCHEV")
    r = g.cell_random(cell)
    # Traces run along u in half of the cells and along v in the others.
    along = g.math("GREATER_THAN", r, 0.5)
    tu = g.math("LESS_THAN", g.math("FRACT", g.math("MULTIPLY", v, 16.0)), 0.25)
    tv = g.math("LESS_THAN", g.math("FRACT", g.math("MULTIPLY", u, 16.0)), 0.25)
    chips = g.voronoi(p, scale=8.0, randomness=0.0)
    traces = g.math(
        "MULTIPLY", g.mix(along, tu, tv, dtype="FLOAT"), g.math("GREATER_THAN", g.cell_random(chips), 0.4)
    )
    pads = g.mask(chips["Distance"], 0.2, 0.16)
    metal = g.math("MAXIMUM", traces, pads)
    g.surface(
        base=g.mix(metal, "#0e5a2a", "#d8b050"),
        metallic=metal,
        roughness=g.fmap(metal, [(0.0, 0.3), (1.0, 0.25)]),
    )
    g.surface(normal=g.bump(metal, 0.3, 0.1))


@ood("wicker-basket", "weave", "woven natural wicker with open gaps", transparent=True, background_scale=0.35)
def _(g: Graph) -> None:
    u, v = g.uv()
    k = 3.0
    over = g.checker(g.combine(u, v, 0.25), scale=k, c1="#ffffff", c2="#000000")["Fac"]
    # Two round canes per checker cell, running along u or v; the gaps between canes are open.
    su = g.math("SINE", g.math("MULTIPLY", g.math("FRACT", g.math("MULTIPLY", v, k)), 3.14159))
    sv = g.math("SINE", g.math("MULTIPLY", g.math("FRACT", g.math("MULTIPLY", u, k)), 3.14159))
    h = g.mix(over, su, sv, dtype="FLOAT")
    fib = g.noise(g.stretch(1.0, 1.0, 1.0), scale=40.0)
    col = _multiply(
        g, g.ramp(fib["Fac"], [(0.3, "#a07038"), (0.7, "#d0a060")]), g.fmap(h, [(0.2, 0.3), (0.9, 1.0)])
    )
    g.surface(base=col, roughness=0.7, alpha=g.mask(h, 0.3, 0.4))
    g.surface(normal=g.bump(h, 0.6, 0.1))


@ood("fabric-polka-dots", "fabric-print", "red cotton with white polka dots", background_scale=0.35)
def _(g: Graph) -> None:
    dots = g.voronoi(g.planar(), scale=6.0, randomness=0.0)
    g.surface(
        base=g.mix(g.mask(dots["Distance"], 0.3, 0.27), "#c81e28", "#f4f0ea"),
        roughness=0.85,
        sheen_weight=0.3,
    )


@ood("fabric-candy-stripes", "fabric-print", "candy stripes in pink, mint and white", background_scale=0.2)
def _(g: Graph) -> None:
    s = g.wave(scale=3.0, direction="DIAGONAL", profile="SAW")
    col = g.ramp(
        s["Fac"], [(0.0, "#f05a9a"), (0.3, "#ffffff"), (0.5, "#6ad8b0"), (0.8, "#ffffff")], interp="CONSTANT"
    )
    g.surface(base=col, roughness=0.6)


@ood("ice-cracked", "ice", "pale blue glossy ice with white fractures", background_scale=0.4)
def _(g: Graph) -> None:
    cr = g.voronoi(g.warp(0.4, 3.0), scale=3.0, feature="DISTANCE_TO_EDGE")
    frost = g.noise(scale=6.0, detail=4.0)
    col = g.ramp(frost["Fac"], [(0.3, "#7ab0d8"), (0.7, "#c0e0f4")])
    g.surface(base=g.mix(g.mask(cr["Distance"], 0.03, 0.01), col, "#ffffff"), roughness=0.03, coat_weight=0.5)
    g.surface(normal=g.bump(frost["Fac"], 0.15, 0.1))


@ood("crystal-amethyst", "crystal", "faceted purple amethyst crystals", background_scale=0.4)
def _(g: Graph) -> None:
    facets = g.voronoi(scale=5.0)
    r = g.cell_random(facets)
    col = g.ramp(r, [(0.0, "#3a0a5a"), (0.5, "#7a2aa8"), (1.0, "#c890e8")])
    g.surface(base=col, roughness=0.05, metallic=0.3)
    g.surface(normal=g.bump(facets["Distance"], 0.8, 0.1))


@ood("fur-leopard", "animal-print", "leopard-print fur with dark rosettes", background_scale=0.35)
def _(g: Graph) -> None:
    vec = g.warp(0.5, 4.0)
    spots = g.voronoi(vec, scale=5.0)
    d = spots["Distance"]
    # A rosette: a dark ring broken by noise around a darker orange centre.
    broken = g.mask(g.noise(scale=14.0)["Fac"], 0.36, 0.44)
    ring = g.math("MULTIPLY", g.math("MULTIPLY", g.mask(d, 0.18, 0.23), g.mask(d, 0.46, 0.4)), broken)
    inner = g.mask(d, 0.25, 0.2)
    base = g.mix(inner, "#d8a050", "#a86420")
    base = g.mix(ring, base, "#1a1008")
    fur = g.noise(g.stretch(1.0, 1.0, 1.0), scale=80.0)
    g.surface(
        base=_multiply(g, base, g.fmap(fur["Fac"], [(0.3, 0.85), (0.7, 1.05)])),
        roughness=1.0,
        sheen_weight=0.8,
    )


@ood("fur-zebra", "animal-print", "black and white zebra stripes", background_scale=0.35)
def _(g: Graph) -> None:
    w = g.wave(scale=3.0, direction="X", distortion=6.0, detail=2.0, detail_scale=0.8)
    g.surface(base=g.ramp(w["Fac"], [(0.48, "#f0ece4"), (0.52, "#141414")]), roughness=0.95, sheen_weight=0.6)


@ood("skin-snake", "scales", "python skin: olive scales with dark blotches", background_scale=0.35)
def _(g: Graph) -> None:
    scales = g.voronoi(scale=18.0, randomness=0.4, feature="DISTANCE_TO_EDGE")
    blot = g.voronoi(g.warp(0.4, 2.0), scale=2.5)
    pattern = g.ramp(
        blot["Distance"],
        [(0.0, "#2a1e10"), (0.3, "#4a3a1a"), (0.4, "#c8b040"), (0.55, "#8a8a30")],
        interp="CONSTANT",
    )
    shade = g.fmap(scales["Distance"], [(0.0, 0.3), (0.15, 1.0)])
    g.surface(base=_multiply(g, pattern, shade), roughness=0.3)
    g.surface(normal=g.bump(scales["Distance"], 0.6, 0.1))


@ood("scales-fish-iridescent", "scales", "overlapping iridescent silver fish scales", background_scale=0.35)
def _(g: Graph) -> None:
    u, v = g.uv()
    k = 8.0
    row = g.math("FLOOR", g.math("MULTIPLY", v, k))
    shift = g.math("MULTIPLY", g.math("MODULO", row, 2.0), 0.5)
    cu = g.math("SUBTRACT", g.math("FRACT", g.math("ADD", g.math("MULTIPLY", u, k), shift)), 0.5)
    cv = g.math("FRACT", g.math("MULTIPLY", v, k))
    d = g.vmath("LENGTH", g.combine(cu, cv, 0.0))
    h = g.fmap(d, [(0.0, 1.0), (0.6, 0.2), (0.75, 0.0)])
    # Iridescence: the hue follows the viewing angle (Facing) and the place on each scale.
    facing = g.add("ShaderNodeLayerWeight", {"Blend": 0.5})["Facing"]
    hue = g.math("FRACT", g.math("MULTIPLY_ADD", facing, 1.5, g.math("MULTIPLY", h, 0.4)))
    col = g.ramp(
        hue, [(0.0, "#c0d8f0"), (0.25, "#d0b0f0"), (0.5, "#a0f0d0"), (0.75, "#f0e0a0"), (1.0, "#c0d8f0")]
    )
    g.surface(base=_multiply(g, col, g.fmap(h, [(0.0, 0.4), (0.5, 1.0)])), metallic=1.0, roughness=0.2)
    g.surface(normal=g.bump(h, 0.6, 0.1))


@ood(
    "sponge-porous", "sponge", "yellow sea sponge riddled with holes", transparent=True, background_scale=0.4
)
def _(g: Graph) -> None:
    big = g.voronoi(g.warp(0.3, 3.0), scale=5.0)
    small = g.voronoi(scale=14.0)
    solid = g.math("MINIMUM", g.mask(big["Distance"], 0.22, 0.28), g.mask(small["Distance"], 0.15, 0.2))
    col = g.ramp(g.noise(scale=20.0, detail=3.0)["Fac"], [(0.3, "#b08a1a"), (0.7, "#e8c040")])
    g.surface(base=col, roughness=0.95, alpha=solid)
    g.surface(normal=g.bump(small["Distance"], 0.5, 0.1))


@ood("foil-holographic", "holographic", "rainbow holographic foil", background_scale=0.4)
def _(g: Graph) -> None:
    m = g.magic(scale=3.0, distortion=2.0, depth=2)
    col = g.hsv(m["Color"], 0.5, 1.6, 1.3)
    crinkle = g.voronoi(scale=6.0)
    g.surface(base=col, metallic=1.0, roughness=0.15)
    g.surface(normal=g.bump(crinkle["Distance"], 0.3, 0.1))


@ood("carbon-fibre", "composite", "black twill carbon fibre under clear coat", background_scale=0.3)
def _(g: Graph) -> None:
    u, v = g.uv()
    k = 16.0
    a = g.math("FLOOR", g.math("MULTIPLY", u, k))
    b = g.math("FLOOR", g.math("MULTIPLY", v, k))
    twill = g.math("LESS_THAN", g.math("MODULO", g.math("ADD", a, b), 4.0), 2.0)
    hu = g.math("SINE", g.math("MULTIPLY", g.math("FRACT", g.math("MULTIPLY", v, k)), 3.14159))
    hv = g.math("SINE", g.math("MULTIPLY", g.math("FRACT", g.math("MULTIPLY", u, k)), 3.14159))
    h = g.mix(twill, hu, hv, dtype="FLOAT")
    g.surface(base=_multiply(g, g.rgb("#3a3c40"), g.fmap(h, [(0.0, 0.2), (1.0, 1.0)])), roughness=0.35)
    g.surface(coat_weight=1.0, coat_roughness=0.05)


@ood("neon-grid", "neon", "black glass with a glowing cyan and magenta grid", background_scale=0.25)
def _(g: Graph) -> None:
    u, v = g.uv()
    cyan = _grid(g, u, v, 0.25, 0.06)
    mag = _grid(g, g.math("ADD", u, 0.125), g.math("ADD", v, 0.125), 0.25, 0.04)
    glow = g.mix(mag, g.mix(cyan, "#000000", "#00e8ff"), "#ff20c0")
    g.surface(base="#050508", roughness=0.1, emission_color=glow, emission_strength=2.5)


@ood("paint-splatter", "paint", "white canvas splattered with bright paint", background_scale=0.35)
def _(g: Graph) -> None:
    vec = g.warp(0.8, 4.0, detail=2.0)
    splat = g.voronoi(vec, scale=2.5)
    col = g.hsv(splat["Color"], 0.5, 2.0, 1.3)
    blob = g.mask(splat["Distance"], 0.42, 0.36)
    drops = g.voronoi(g.warp(0.5, 8.0), scale=9.0)
    drop = g.mask(drops["Distance"], 0.2, 0.15)
    base = g.mix(blob, "#f4f2ec", col)
    base = g.mix(drop, base, g.hsv(drops["Color"], 0.5, 2.0, 1.2))
    g.surface(base=base, roughness=g.fmap(g.math("MAXIMUM", blob, drop), [(0.0, 0.8), (1.0, 0.2)]))


@ood("skin-giraffe", "animal-print", "giraffe patches separated by cream lines", background_scale=0.35)
def _(g: Graph) -> None:
    vec = g.warp(0.3, 3.0)
    patches = g.voronoi(vec, scale=4.0, feature="DISTANCE_TO_EDGE")
    cells = g.voronoi(vec, scale=4.0)
    brown = g.ramp(g.cell_random(cells), [(0.0, "#6a3a14"), (1.0, "#a86424")])
    g.surface(
        base=g.mix(g.mask(patches["Distance"], 0.07, 0.05), brown, "#f0e4c8"),
        roughness=0.95,
        sheen_weight=0.5,
    )


@ood("quilt-patchwork", "fabric-print", "patchwork quilt of gingham and solid squares", background_scale=0.35)
def _(g: Graph) -> None:
    p = g.planar()
    cells = g.voronoi(p, scale=3.0, randomness=0.0, distance="CHEBYCHEV")
    edge = g.voronoi(p, scale=3.0, randomness=0.0, distance="CHEBYCHEV", feature="DISTANCE_TO_EDGE")
    r = g.cell_random(cells)
    col = g.ramp(
        r, [(0.0, "#e05a5a"), (0.25, "#f0d060"), (0.5, "#5a90d0"), (0.75, "#70b070")], interp="CONSTANT"
    )
    gingham = g.checker(p, scale=24.0, c1="#ffffff", c2="#a0a0a0")
    check = g.math("GREATER_THAN", g.math("FRACT", g.math("MULTIPLY", r, 7.0)), 0.5)
    base = g.mix(check, col, _multiply(g, col, gingham["Color"]))
    stitch = g.mask(edge["Distance"], 0.05, 0.03)
    g.surface(base=g.mix(stitch, base, "#f8f4e8"), roughness=0.9, sheen_weight=0.4)
    g.surface(normal=g.bump(edge["Distance"], 0.5, 0.1))


@ood("glass-stained", "glass", "stained glass panes with dark lead cames", background_scale=0.35)
def _(g: Graph) -> None:
    vec = g.warp(0.2, 2.0)
    panes = g.voronoi(vec, scale=3.5)
    edge = g.voronoi(vec, scale=3.5, feature="DISTANCE_TO_EDGE")
    col = g.hsv(panes["Color"], 0.5, 1.8, 1.0)
    lead = g.mask(edge["Distance"], 0.05, 0.03)
    glow = g.mix(lead, col, "#000000")
    g.surface(base=g.mix(lead, col, "#202020"), roughness=0.05, emission_color=glow, emission_strength=0.6)
    g.surface(normal=g.bump(g.math("SUBTRACT", 1.0, lead), 0.5, 0.1))
