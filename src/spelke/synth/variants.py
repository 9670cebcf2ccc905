"""The ClevrTex family's variants: which shapes, sizes and materials each one samples (thesis Sec. 2.3).

Each variant is registered under its long name with the official on-disk key as an alias (the key names
the output folder ``clevrtex_<key>/`` and the files ``CLEVRTEX_<key>_<index>``):

============  =======  ===================================================================================
name          key      rule
============  =======  ===================================================================================
full          full     objects and background each get an independent material from the main catalogue
plainbg       pbg      textured objects on CLEVR's plain grey backdrop
varbg         vbg      CLEVR-like objects (rubber or metal in one of 8 colours) on a textured background
grassbg       grassbg  textured objects on the same grass material in every scene
camo          camo     one material for every object and the background
ood           outd     only the 25 OOD materials and the shapes cone, torus, icosahedron and teapot
clevr         clevr    CLEVR's plain materials, shapes and sizes (no official ClevrTex counterpart)
============  =======  ===================================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from spelke.registry import Registry

#: CLEVR's eight colours (sRGB 0-255), as in CLEVR's properties file and ClevrTex's VARBG.
CLEVR_COLORS: dict[str, tuple[int, int, int]] = {
    "gray": (87, 87, 87),
    "red": (173, 35, 35),
    "blue": (42, 75, 215),
    "green": (29, 105, 20),
    "brown": (129, 74, 25),
    "purple": (129, 38, 192),
    "cyan": (41, 208, 208),
    "yellow": (255, 238, 51),
}

#: The ClevrTex sizes (thesis Sec. 2.3: s in {.9, .6, .4}).
CLEVRTEX_SIZES: tuple[tuple[str, float], ...] = (("large", 0.9), ("medium", 0.6), ("small", 0.4))
#: OOD sizes (not in the thesis; the public generator's OOD configuration).
OOD_SIZES: tuple[tuple[str, float], ...] = (("large", 1.0), ("medium", 0.8), ("small", 0.6))
#: CLEVR's sizes (Johnson et al. 2017).
CLEVR_SIZES: tuple[tuple[str, float], ...] = (("large", 0.7), ("small", 0.35))

MAIN_SHAPES = ("cube", "sphere", "cylinder", "monkey")
OOD_SHAPES = ("cone", "torus", "icosahedron", "teapot")
CLEVR_SHAPES = ("cube", "sphere", "cylinder")

#: The GRASSBG background (the main-catalogue material every GRASSBG scene uses).
GRASS_MATERIAL = "grass-forest-floor"
#: The PLAINBG / CLEVR backdrop.
PLAIN_BACKDROP = "plain-backdrop"


@dataclass(frozen=True)
class Variant:
    """A variant's sampling rules.

    Attributes:
        name: registered (long) name.
        key: the official on-disk key.
        shapes: shapes sampled uniformly.
        sizes: ``(size name, scale)`` pairs sampled uniformly.
        object_group: material group for objects (``main``, ``ood`` or ``plain``).
        ground: ``"random"`` (a material of ``ground_group``), ``"same"`` (CAMO: the objects' material)
            or a fixed material name.
        ground_group: material group for a random ground.
        same_material: one material for every object (CAMO).
        colored_objects: objects are plain materials coloured with one of :data:`CLEVR_COLORS`.
        description: one line for ``--help`` and the docs.
    """

    name: str
    key: str
    shapes: tuple[str, ...]
    sizes: tuple[tuple[str, float], ...]
    object_group: str
    ground: str
    ground_group: str = "main"
    same_material: bool = False
    colored_objects: bool = False
    description: str = ""


VARIANTS: Registry[Variant] = Registry("variant")


def _add(v: Variant) -> None:
    aliases = (v.key,) if v.key != v.name else ()
    VARIANTS.add(v.name, v, aliases=aliases, summary=v.description, key=v.key)


_add(
    Variant(
        "full",
        "full",
        MAIN_SHAPES,
        CLEVRTEX_SIZES,
        "main",
        "random",
        description="CLEVRTEX: every object and the background get independent catalogue materials",
    )
)
_add(
    Variant(
        "plainbg",
        "pbg",
        MAIN_SHAPES,
        CLEVRTEX_SIZES,
        "main",
        PLAIN_BACKDROP,
        description="PLAINBG: textured objects on CLEVR's plain grey backdrop",
    )
)
_add(
    Variant(
        "varbg",
        "vbg",
        MAIN_SHAPES,
        CLEVRTEX_SIZES,
        "plain",
        "random",
        colored_objects=True,
        description="VARBG: CLEVR-like coloured rubber/metal objects on a textured background",
    )
)
_add(
    Variant(
        "grassbg",
        "grassbg",
        MAIN_SHAPES,
        CLEVRTEX_SIZES,
        "main",
        GRASS_MATERIAL,
        description="GRASSBG: textured objects on the same grass background in every scene",
    )
)
_add(
    Variant(
        "camo",
        "camo",
        MAIN_SHAPES,
        CLEVRTEX_SIZES,
        "main",
        "same",
        same_material=True,
        description="CAMO: one material for all objects and the background",
    )
)
_add(
    Variant(
        "ood",
        "outd",
        OOD_SHAPES,
        OOD_SIZES,
        "ood",
        "random",
        ground_group="ood",
        description="OOD: 25 unseen materials and the shapes cone, torus, icosahedron, teapot (test only)",
    )
)
_add(
    Variant(
        "clevr",
        "clevr",
        CLEVR_SHAPES,
        CLEVR_SIZES,
        "plain",
        PLAIN_BACKDROP,
        colored_objects=True,
        description="CLEVR: plain rubber/metal objects in 8 colours on the grey backdrop (spelke extension)",
    )
)


def get_variant(name: str) -> Variant:
    """The variant registered as ``name`` (long name or official key); unknown names list the valid ones."""
    return VARIANTS.get(name)


def list_variants() -> list[str]:
    """Registered variant names."""
    return VARIANTS.list()
