"""The procedural material catalogue: Blender shader-node graphs described as plain Python data.

ClevrTex's photo materials (Poliigon) cannot be redistributed, so spelke builds its catalogue from
Blender's procedural texture nodes (noise, Voronoi, wave, brick, checker, magic, gradients, colour
ramps, bump, displacement, transparency). A material here is *data*: a small graph of named nodes and
links that :mod:`spelke.synth.blender` (the only module that imports ``bpy``) turns into a Blender
material. That keeps the catalogue testable without Blender and lets anyone read a recipe.

Graph conventions (what :func:`spelke.synth.blender` provides to every recipe):

- ``coords.Vector``: object-space coordinates, multiplied by the material's scale (object or background
  scale, see :class:`Material`) and offset by the per-instance random number, so every object shows a
  different part of the texture.
- ``params.Random`` (float in [0, 1)) and ``params.Color`` (RGBA, the per-instance colour; used by the
  plain CLEVR materials and the VARBG objects) as sources.
- ``bsdf.<input>``: the inputs of one Principled BSDF (``Base Color``, ``Roughness``, ``Metallic``,
  ``Normal``, ``Alpha``, ``Coat Weight``, ...), the material's surface.
- ``out.Displacement``: the material output's displacement socket (feed it a ``ShaderNodeDisplacement``).
  When ``Material.displacement > 0`` the renderer subdivides the mesh so the displacement moves vertices.

Node inputs may be given by socket name or by index (``"1"``) for nodes with duplicate socket names
(the Mix node); a value of :data:`RANDOM` or :data:`COLOR` is replaced by the per-instance parameter.

Examples:
    >>> m = get_material("plain-rubber")
    >>> m.group, m.uses_color
    ('plain', True)
    >>> len(list_materials(group="main")) >= 60
    True
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spelke.errors import ConfigError, NotRegisteredError

#: Placeholder input values replaced per instance by the renderer.
RANDOM = "$random"
COLOR = "$color"

#: Material groups: ``main`` (the 60-material catalogue of CLEVRTEX and its variants), ``ood`` (the 25
#: materials only the OOD variant uses), ``plain`` (CLEVR's rubber and metal, and the plain backgrounds).
GROUPS = ("main", "ood", "plain")


@dataclass(frozen=True)
class Node:
    """One shader node: its Blender type name, input values, attributes and colour-ramp stops.

    Attributes:
        kind: Blender node idname, e.g. ``"ShaderNodeTexNoise"``.
        inputs: socket name (or index as a string) -> default value (float, RGBA tuple, vector tuple,
            or :data:`RANDOM` / :data:`COLOR`).
        props: node attributes, e.g. ``{"feature": "DISTANCE_TO_EDGE"}``.
        ramp: colour-ramp stops ``((position, (r, g, b, a)), ...)`` for ``ShaderNodeValToRGB``.
    """

    kind: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    props: Mapping[str, Any] = field(default_factory=dict)
    ramp: tuple[tuple[float, tuple[float, float, float, float]], ...] | None = None


@dataclass(frozen=True)
class Material:
    """A named procedural material.

    Attributes:
        name: unique name (``kebab-case``), recorded in the metadata JSON.
        family: what it imitates (rock, brick, tile, fabric, metal, mesh, foliage, wood, ground, ...).
        group: ``main``, ``ood`` or ``plain``.
        nodes: node id -> :class:`Node`; ids ``coords``, ``params``, ``bsdf`` and ``out`` are reserved.
        links: ``("<node>.<output>", "<node>.<input>")`` pairs; outputs and inputs may be indices.
        displacement: displacement strength in scene units at object scale 1 (0: bump mapping only).
        object_scale: texture-coordinate scale on objects.
        background_scale: texture-coordinate scale on the ground (ClevrTex uses a larger pattern scale
            on the background; see docs/fidelity.md).
        uses_color: True when the per-instance colour changes the look (plain materials).
        transparent: True when the material cuts holes (alpha < 1 somewhere).
        description: one line for the contact sheet and the docs.
    """

    name: str
    family: str
    group: str
    nodes: Mapping[str, Node]
    links: tuple[tuple[str, str], ...]
    displacement: float = 0.0
    object_scale: float = 1.0
    background_scale: float = 0.5
    uses_color: bool = False
    transparent: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ConfigError(f"material {self.name!r}: group must be one of {GROUPS}, got {self.group!r}")
        reserved = {"coords", "params", "bsdf", "out"} & set(self.nodes)
        if reserved:
            raise ConfigError(f"material {self.name!r}: node ids {sorted(reserved)} are reserved")
        known = set(self.nodes) | {"coords", "params", "bsdf", "out"}
        for src, dst in self.links:
            for end in (src, dst):
                node = end.split(".", 1)[0]
                if "." not in end or node not in known:
                    raise ConfigError(
                        f"material {self.name!r}: link end {end!r} must be '<node>.<socket>' with a node "
                        f"among {sorted(known)}"
                    )


#: All materials by name, filled by :func:`register_material` (the catalogue module registers them).
_CATALOGUE: dict[str, Material] = {}


def register_material(material: Material) -> Material:
    """Add a material to the catalogue (names are unique)."""
    if material.name in _CATALOGUE:
        raise ConfigError(f"material {material.name!r} is registered twice")
    _CATALOGUE[material.name] = material
    return material


def _ensure_catalogue() -> None:
    import spelke.synth.catalogue  # noqa: F401  (registers the materials on import)


def get_material(name: str) -> Material:
    """The material called ``name``; an unknown name lists the close ones."""
    _ensure_catalogue()
    try:
        return _CATALOGUE[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(_CATALOGUE), n=5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise NotRegisteredError(
            f"unknown material {name!r}.{hint} `spelke generate --list-materials` shows the catalogue."
        ) from None


def list_materials(pattern: str = "*", group: str | None = None) -> list[str]:
    """Names of the registered materials matching a glob ``pattern`` (and ``group`` if given), sorted."""
    _ensure_catalogue()
    if group is not None and group not in GROUPS:
        raise ConfigError(f"material group must be one of {GROUPS}, got {group!r}")
    return sorted(
        n
        for n, m in _CATALOGUE.items()
        if fnmatch.fnmatchcase(n, pattern) and (group is None or m.group == group)
    )


def materials(group: str | None = None) -> list[Material]:
    """The registered :class:`Material` objects (of one ``group``), sorted by name."""
    return [_CATALOGUE[n] for n in list_materials(group=group)]
