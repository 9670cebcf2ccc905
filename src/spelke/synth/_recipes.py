"""A small builder for material recipes: write shader graphs as code, get :class:`Material` data.

The catalogue (:mod:`spelke.synth.catalogue`) describes about ninety materials; writing each one as raw
``Node`` dictionaries and ``"node.socket"`` link strings would be long and error-prone. :class:`Graph`
hands out node ids, turns every input that is an :class:`Out` (another node's output) into a link and
every other input into a constant, and converts the sRGB hex colours recipes are written in to the linear
RGBA Blender expects. Nothing here imports ``bpy``: the result is the same plain data the renderer reads.

Examples:
    >>> g = Graph()
    >>> n = g.noise(scale=4.0, detail=3.0)
    >>> g.surface(base=g.ramp(n["Fac"], [(0.3, "#202020"), (0.7, "#e0e0e0")]), roughness=0.5)
    >>> m = g.material("demo", family="rock", group="main", description="a demo")
    >>> sorted(m.nodes)
    ['noise1', 'ramp1', 'value1']
    >>> ("noise1.Fac", "ramp1.Fac") in m.links
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from spelke.synth.materials import Material, Node

#: Short id prefixes per node kind (ids only need to be unique; short ones keep recipes readable in JSON).
_PREFIX = {
    "ShaderNodeTexNoise": "noise",
    "ShaderNodeTexVoronoi": "vor",
    "ShaderNodeTexWave": "wave",
    "ShaderNodeTexBrick": "brick",
    "ShaderNodeTexChecker": "checker",
    "ShaderNodeTexMagic": "magic",
    "ShaderNodeTexGradient": "grad",
    "ShaderNodeTexWhiteNoise": "white",
    "ShaderNodeValToRGB": "ramp",
    "ShaderNodeMath": "math",
    "ShaderNodeVectorMath": "vmath",
    "ShaderNodeMix": "mix",
    "ShaderNodeBump": "bump",
    "ShaderNodeDisplacement": "disp",
    "ShaderNodeSeparateXYZ": "sep",
    "ShaderNodeCombineXYZ": "comb",
    "ShaderNodeHueSaturation": "hsv",
    "ShaderNodeMapRange": "range",
    "ShaderNodeTexCoord": "texco",
    "ShaderNodeValue": "value",
    "ShaderNodeRGB": "rgb",
    "ShaderNodeMixRGB": "mixrgb",
}

Color = str | tuple[float, ...]


def srgb(color: Color) -> tuple[float, float, float, float]:
    """Linear RGBA from an sRGB colour given as ``"#rrggbb"`` or a 0-1 tuple (Blender stores linear).

    Examples:
        >>> srgb("#ffffff")
        (1.0, 1.0, 1.0, 1.0)
        >>> round(srgb("#808080")[0], 3)
        0.216
    """
    if isinstance(color, str):
        h = color.lstrip("#")
        rgb = [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    else:
        rgb = [float(c) for c in color[:3]]

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return (lin(rgb[0]), lin(rgb[1]), lin(rgb[2]), 1.0)


def _stop(c: Color | float) -> tuple[float, float, float, float]:
    # Plain numbers are linear grey levels (masks, roughness maps); colours are sRGB.
    if isinstance(c, (int, float)):
        return (float(c), float(c), float(c), 1.0)
    return srgb(c)


@dataclass(frozen=True)
class Out:
    """An output socket of a node in a :class:`Graph`, as ``"<node>.<socket>"``."""

    ref: str


@dataclass(frozen=True)
class NodeRef:
    """A node added to a :class:`Graph`; ``ref["Fac"]`` is its output socket ``Fac``."""

    id: str

    def __getitem__(self, socket: str) -> Out:
        return Out(f"{self.id}.{socket}")


#: The reserved sources every recipe may read (see :mod:`spelke.synth.materials`).
COORDS = Out("coords.Vector")
RANDOM_OUT = Out("params.Random")


class Graph:
    """Collects the nodes and links of one recipe; :meth:`material` freezes it into a :class:`Material`."""

    coords = COORDS
    random = RANDOM_OUT

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.links: list[tuple[str, str]] = []
        self._count: dict[str, int] = {}
        self._planar: Out | None = None
        self._flat = False

    def flat(self) -> None:
        """Make :meth:`planar` coordinates and 2-D noise / Voronoi the defaults of this recipe.

        For the heavy ground-like materials (grass, duff, pebbles, ...): 2-D Voronoi searches 9 cells
        instead of 27 and 2-D noise is cheaper, which halves their render time; the ground is flat anyway,
        and on objects the box-like projection hides the difference.
        """
        self._flat = True

    def _vec(self, vec: Out | None) -> Out:
        if vec is not None:
            return vec
        return self.planar() if self._flat else COORDS

    def _dims(self, dims: str | None) -> str:
        return dims or ("2D" if self._flat else "3D")

    # -- generic -------------------------------------------------------------------------------
    def add(
        self,
        kind: str,
        inputs: Mapping[str, Any] | None = None,
        props: Mapping[str, Any] | None = None,
        ramp: Sequence[tuple[float, Color]] | None = None,
    ) -> NodeRef:
        """Add a node; inputs that are :class:`Out` become links, ``None`` inputs are left at Blender's
        default, anything else is a constant (colour tuples/hex strings must be converted by the caller
        via :func:`srgb` unless they go through :meth:`ramp`)."""
        prefix = _PREFIX.get(kind, kind.removeprefix("ShaderNode").lower())
        self._count[prefix] = self._count.get(prefix, 0) + 1
        nid = f"{prefix}{self._count[prefix]}"
        consts: dict[str, Any] = {}
        for sock, v in (inputs or {}).items():
            if v is None:
                continue
            if isinstance(v, Out):
                self.links.append((v.ref, f"{nid}.{sock}"))
            else:
                consts[sock] = v
        stops = tuple((float(p), _stop(c)) for p, c in ramp) if ramp is not None else None
        self.nodes[nid] = Node(kind, consts, dict(props or {}), stops)
        return NodeRef(nid)

    def link(self, src: Out, dst: str) -> None:
        """Link ``src`` to an input given as ``"<node>.<socket>"`` (e.g. ``"out.Displacement"``)."""
        self.links.append((src.ref, dst))

    def value(self, v: float) -> Out:
        return self.add("ShaderNodeValue", props={"value": float(v)})["Value"]

    def rgb(self, c: Color) -> Out:
        return self.add("ShaderNodeRGB", props={"color": srgb(c)})["Color"]

    # -- textures ------------------------------------------------------------------------------
    def noise(
        self,
        vec: Out | None = None,
        scale: float | Out = 5.0,
        detail: float = 2.0,
        roughness: float = 0.5,
        distortion: float = 0.0,
        lacunarity: float = 2.0,
        kind: str = "FBM",
        dims: str | None = None,
    ) -> NodeRef:
        """Perlin fBm noise (``kind``: FBM, MULTIFRACTAL, RIDGED_MULTIFRACTAL, ...); outputs Fac, Color.
        ``dims="2D"`` reads only x, y (cheaper; for :meth:`planar` coordinates)."""
        props: dict[str, Any] = {}
        if kind != "FBM":
            props["noise_type"] = kind
        if self._dims(dims) != "3D":
            props["noise_dimensions"] = self._dims(dims)
        return self.add(
            "ShaderNodeTexNoise",
            {
                "Vector": self._vec(vec),
                "Scale": scale,
                "Detail": detail,
                "Roughness": roughness,
                "Distortion": distortion,
                "Lacunarity": lacunarity,
            },
            props=props,
        )

    def voronoi(
        self,
        vec: Out | None = None,
        scale: float = 5.0,
        feature: str = "F1",
        randomness: float = 1.0,
        distance: str = "EUCLIDEAN",
        dims: str | None = None,
    ) -> NodeRef:
        """Voronoi cells; outputs Distance, Color (random per cell), Position (the cell's point).
        ``dims="2D"`` reads only x, y and searches 9 cells instead of 27 (for :meth:`planar` coordinates,
        about 3x cheaper)."""
        props = {"feature": feature}
        if distance != "EUCLIDEAN":
            props["distance"] = distance
        if self._dims(dims) != "3D":
            props["voronoi_dimensions"] = self._dims(dims)
        return self.add(
            "ShaderNodeTexVoronoi",
            {"Vector": self._vec(vec), "Scale": scale, "Randomness": randomness},
            props=props,
        )

    def wave(
        self,
        vec: Out | None = None,
        scale: float = 5.0,
        kind: str = "BANDS",
        direction: str = "X",
        profile: str = "SIN",
        distortion: float = 0.0,
        detail: float = 2.0,
        detail_scale: float = 1.0,
        detail_roughness: float = 0.5,
    ) -> NodeRef:
        """Wave bands or rings; outputs Fac, Color."""
        props: dict[str, Any] = {"wave_type": kind, "wave_profile": profile}
        props["bands_direction" if kind == "BANDS" else "rings_direction"] = direction
        return self.add(
            "ShaderNodeTexWave",
            {
                "Vector": self._vec(vec),
                "Scale": scale,
                "Distortion": distortion,
                "Detail": detail,
                "Detail Scale": detail_scale,
                "Detail Roughness": detail_roughness,
            },
            props=props,
        )

    def brick(
        self,
        vec: Out | None = None,
        scale: float = 2.0,
        color1: Color = "#a04030",
        color2: Color = "#803020",
        mortar: Color = "#b0aaa0",
        mortar_size: float = 0.02,
        mortar_smooth: float = 0.1,
        bias: float = 0.0,
        width: float = 0.5,
        height: float = 0.25,
        offset: float = 0.5,
        squash: float = 1.0,
        squash_frequency: int = 2,
    ) -> NodeRef:
        """Blender's brick texture (2-D in x, y: pass :meth:`planar` coordinates); outputs Color, Fac
        (Fac is 1 in the mortar)."""
        return self.add(
            "ShaderNodeTexBrick",
            {
                "Vector": vec or self.planar(),
                "Scale": scale,
                "Color1": srgb(color1),
                "Color2": srgb(color2),
                "Mortar": srgb(mortar),
                "Mortar Size": mortar_size,
                "Mortar Smooth": mortar_smooth,
                "Bias": bias,
                "Brick Width": width,
                "Row Height": height,
            },
            props={"offset": offset, "squash": squash, "squash_frequency": squash_frequency},
        )

    def checker(
        self, vec: Out | None = None, scale: float = 4.0, c1: Color = "#ffffff", c2: Color = "#000000"
    ):
        return self.add(
            "ShaderNodeTexChecker",
            {"Vector": vec or COORDS, "Scale": scale, "Color1": srgb(c1), "Color2": srgb(c2)},
        )

    def magic(self, vec: Out | None = None, scale: float = 5.0, distortion: float = 1.0, depth: int = 2):
        return self.add(
            "ShaderNodeTexMagic",
            {"Vector": vec or COORDS, "Scale": scale, "Distortion": distortion},
            props={"turbulence_depth": depth},
        )

    def gradient(self, vec: Out | None = None, kind: str = "LINEAR") -> NodeRef:
        return self.add("ShaderNodeTexGradient", {"Vector": vec or COORDS}, props={"gradient_type": kind})

    # -- converters ----------------------------------------------------------------------------
    def ramp(self, fac: Out, stops: Sequence[tuple[float, Color]], interp: str = "LINEAR") -> Out:
        """Colour ramp (stops are sRGB); returns its Color output (``interp``: LINEAR, CONSTANT, EASE)."""
        props = {"color_ramp.interpolation": interp} if interp != "LINEAR" else None
        return self.add("ShaderNodeValToRGB", {"Fac": fac}, props=props, ramp=stops)["Color"]

    def fmap(self, fac: Out, stops: Sequence[tuple[float, float]], interp: str = "LINEAR") -> Out:
        """A piecewise-linear map of a scalar (a ramp with linear grey stops), e.g. a roughness map."""
        return self.ramp(fac, [(p, float(v)) for p, v in stops], interp)

    def mask(self, fac: Out, lo: float, hi: float) -> Out:
        """A soft 0 -> 1 step of ``fac`` between ``lo`` and ``hi`` (``lo > hi`` inverts it)."""
        if lo > hi:
            return self.fmap(fac, [(hi, 1.0), (lo, 0.0)])
        return self.fmap(fac, [(lo, 0.0), (hi, 1.0)])

    def cell_random(self, cells: NodeRef) -> Out:
        """A uniform random number per Voronoi cell (white noise of the cell's point)."""
        return self.add(
            "ShaderNodeTexWhiteNoise", {"Vector": cells["Position"]}, props={"noise_dimensions": "3D"}
        )["Value"]

    def math(self, op: str, a: Any, b: Any = None, c: Any = None, clamp: bool = False) -> Out:
        props: dict[str, Any] = {"operation": op}
        if clamp:
            props["use_clamp"] = True
        return self.add("ShaderNodeMath", {"0": a, "1": b, "2": c}, props=props)["Value"]

    def vmath(self, op: str, a: Any, b: Any = None, c: Any = None, scale: Any = None) -> Out:
        """Vector math; returns the Vector output (or Value for DOT_PRODUCT / LENGTH / DISTANCE)."""
        node = self.add("ShaderNodeVectorMath", {"0": a, "1": b, "2": c, "3": scale}, props={"operation": op})
        return node["Value"] if op in ("DOT_PRODUCT", "LENGTH", "DISTANCE") else node["Vector"]

    def mix(self, fac: Any, a: Any, b: Any, blend: str = "MIX", dtype: str = "RGBA") -> Out:
        """Mix node (RGBA colours as sRGB hex/tuples or :class:`Out`; FLOAT and VECTOR as given)."""
        if dtype == "RGBA":
            a = a if isinstance(a, Out) else _stop(a)
            b = b if isinstance(b, Out) else _stop(b)
        props: dict[str, Any] = {"data_type": dtype}
        if blend != "MIX":
            props["blend_type"] = blend
        if dtype == "RGBA":
            props["clamp_result"] = True
        return self.add("ShaderNodeMix", {"Factor": fac, "A": a, "B": b}, props=props)["Result"]

    def sep(self, vec: Out) -> NodeRef:
        return self.add("ShaderNodeSeparateXYZ", {"Vector": vec})

    def combine(self, x: Any = 0.0, y: Any = 0.0, z: Any = 0.0) -> Out:
        return self.add("ShaderNodeCombineXYZ", {"X": x, "Y": y, "Z": z})["Vector"]

    def hsv(self, color: Out, hue: Any = 0.5, sat: Any = 1.0, val: Any = 1.0) -> Out:
        return self.add(
            "ShaderNodeHueSaturation", {"Color": color, "Hue": hue, "Saturation": sat, "Value": val}
        )["Color"]

    def jitter(self, color: Out, hue: float = 0.0, val: float = 0.0, sat: float = 0.0) -> Out:
        """Shift hue/value/saturation per instance by up to +-amount/2 (``params.Random``), so two
        objects of one material differ a little, as two photos of one material would."""
        h = self.math("MULTIPLY_ADD", RANDOM_OUT, hue, 0.5 - hue / 2) if hue else 0.5
        # A second, decorrelated number from the same random: fract(17 r).
        r2 = self.math("FRACT", self.math("MULTIPLY", RANDOM_OUT, 17.0)) if (val or sat) else None
        v = self.math("MULTIPLY_ADD", r2, val, 1.0 - val / 2) if val else 1.0
        s = self.math("MULTIPLY_ADD", r2, sat, 1.0 - sat / 2) if sat else 1.0
        return self.hsv(color, h, s, v)

    # -- coordinates ---------------------------------------------------------------------------
    def stretch(self, sx: float, sy: float, sz: float, vec: Out | None = None) -> Out:
        """Coordinates scaled per axis (anisotropic patterns: grain, streaks, strata)."""
        return self.vmath("MULTIPLY", self._vec(vec), (sx, sy, sz))

    def warp(
        self,
        amount: float,
        scale: float = 2.0,
        vec: Out | None = None,
        detail: float = 2.0,
        dims: str | None = None,
    ) -> Out:
        """Coordinates displaced by a smooth noise field (irregular, hand-made looking patterns)."""
        vec = self._vec(vec)
        n = self.noise(vec, scale=scale, detail=detail, dims=dims)
        off = self.vmath("MULTIPLY_ADD", n["Color"], (amount, amount, amount), (-amount / 2,) * 3)
        return self.vmath("ADD", vec, off)

    def planar(self) -> Out:
        """2-D coordinates (u, v, 0) projected along the dominant axis of the object-space normal.

        Blender's brick texture and our grid patterns are 2-D; fed raw object coordinates they smear
        into stripes on faces parallel to z. Like a box projection without blending: the ground and tops
        use (x, y), side faces use (y or x, z), so rows stay horizontal on the sides. Built once per
        recipe and shared.
        """
        if self._planar is not None:
            return self._planar
        texco = self.add("ShaderNodeTexCoord")
        n = self.sep(self.vmath("ABSOLUTE", texco["Normal"]))
        top = self.math("GREATER_THAN", n["Z"], self.math("MAXIMUM", n["X"], n["Y"]))
        xdom = self.math("GREATER_THAN", n["X"], n["Y"])
        p = self.sep(COORDS)
        u_side = self.mix(xdom, p["X"], p["Y"], dtype="FLOAT")
        u = self.mix(top, u_side, p["X"], dtype="FLOAT")
        v = self.mix(top, p["Z"], p["Y"], dtype="FLOAT")
        self._planar = self.combine(u, v, 0.0)
        return self._planar

    def uv(self) -> tuple[Out, Out]:
        """The (u, v) components of :meth:`planar` as two scalar outputs."""
        s = self.sep(self.planar())
        return s["X"], s["Y"]

    # -- surface -------------------------------------------------------------------------------
    def bump(
        self,
        height: Out,
        strength: float = 0.5,
        distance: float = 0.1,
        invert: bool = False,
        normal: Out | None = None,
    ) -> Out:
        """A bump-mapped normal (chain bumps through ``normal``)."""
        props = {"invert": True} if invert else None
        return self.add(
            "ShaderNodeBump",
            {"Strength": strength, "Distance": distance, "Height": height, "Normal": normal},
            props=props,
        )["Normal"]

    def displace(self, height: Out, midlevel: float = 0.5) -> None:
        """Displace the surface by ``height`` (the renderer sets the strength from the material)."""
        d = self.add("ShaderNodeDisplacement", {"Height": height, "Midlevel": midlevel, "Scale": 1.0})
        self.link(d["Displacement"], "out.Displacement")

    def surface(self, **inputs: Any) -> None:
        """Set inputs of the Principled BSDF: ``base``, ``roughness``, ``metallic``, ``normal``, ``alpha``
        or any socket name with spaces replaced by underscores (``coat_weight``, ``emission_color``).
        Constants become Value / RGB nodes (the recipe format links into the BSDF)."""
        alias = {"base": "Base Color", "roughness": "Roughness", "metallic": "Metallic", "normal": "Normal"}
        alias["alpha"] = "Alpha"
        for key, v in inputs.items():
            if v is None:
                continue
            sock = alias.get(key, key.replace("_", " ").title().replace("Ior", "IOR"))
            if isinstance(v, Out):
                src = v
            elif isinstance(v, (str, tuple)):
                src = self.rgb(v)
            else:
                src = self.value(v)
            self.link(src, f"bsdf.{sock}")

    def material(self, name: str, *, family: str, group: str, description: str, **kw: Any) -> Material:
        """Freeze the graph into a :class:`Material` (``kw``: displacement, object_scale,
        background_scale, transparent, uses_color)."""
        return Material(
            name=name,
            family=family,
            group=group,
            nodes=dict(self.nodes),
            links=tuple(self.links),
            description=description,
            **kw,
        )
