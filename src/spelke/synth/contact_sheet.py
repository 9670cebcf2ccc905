"""Contact sheets of the material catalogue: every material rendered on a sphere, one labelled grid PNG.

``spelke generate --list-materials`` uses it to show what the catalogue looks like, and the docs keep the
sheets of each group (``docs/images/materials_<group>.png``). Each tile is a small Cycles render of one
material on a large sphere (scale 0.9, the biggest ClevrTex size, so texture scales match the dataset)
over CLEVR's grey backdrop; ``target="background"`` instead renders the material as the ground under the
dataset's base camera, to judge how it looks as a photo backdrop.

Rendering goes through :class:`spelke.synth.blender.Renderer` (this module never imports ``bpy``).

Examples:
    >>> render_contact_sheet("materials.png", group="plain", size=64, samples=8)  # doctest: +SKIP
    PosixPath('materials.png')
"""

from __future__ import annotations

import tempfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from spelke.errors import ConfigError
from spelke.synth.materials import get_material, list_materials
from spelke.synth.scene import SHAPE_HALF_HEIGHT, SceneConfig, SceneObject, SceneSpec
from spelke.synth.variants import CLEVR_COLORS, PLAIN_BACKDROP

#: Object scale of the tile's object (ClevrTex's "large").
TILE_SCALE = 0.9
#: Where the tile camera sits; the object is placed on its line of sight to the origin (see _tile_scene).
_TILE_CAMERA = (0.0, -4.75, 1.75)
_TILE_COLORS = ("red", "blue", "yellow", "green", "cyan", "purple", "brown")
_LABEL_BG = (24, 24, 24)
_LABEL_FG = (235, 235, 235)


def _tile_scene(material: str, target: str = "object", shape: str = "sphere") -> SceneSpec:
    """The one-object scene of a tile.

    ``object``: the material on one large ``shape`` over the plain backdrop, filling most of the frame.
    The renderer's camera always looks at the origin, so the object goes where that line of sight is at
    the object's centre height: it then sits in the middle of the tile.
    ``background``: the material on the ground, seen from the dataset's base camera, with a small grey
    rubber sphere for scale.
    """
    cfg = SceneConfig()
    if target == "object":
        if shape not in SHAPE_HALF_HEIGHT:
            raise ConfigError(f"unknown shape {shape!r}; known: {sorted(SHAPE_HALF_HEIGHT)}")
        cam = np.asarray(_TILE_CAMERA)
        z = SHAPE_HALF_HEIGHT[shape] * TILE_SCALE
        centre = cam * (z / cam[2])  # the point of the camera->origin ray at height z
        # Materials coloured per instance (CLEVR rubber/metal) show one of CLEVR's colours, as in VARBG.
        color = None
        if get_material(material).uses_color:
            color = _TILE_COLORS[zlib.crc32(material.encode()) % len(_TILE_COLORS)]
        rgb = tuple(c / 255 for c in CLEVR_COLORS[color]) if color else None
        loc = (float(centre[0]), float(centre[1]), float(z))
        objects = [SceneObject(shape, "large", TILE_SCALE, loc, 30.0, material, color, rgb)]  # type: ignore[arg-type]
        # Key, fill and back light around the object, at about the distances they have in a scene.
        lights = {
            "key": (float(centre[0] + 4.0), float(centre[1] - 4.0), 4.5),
            "fill": (float(centre[0] - 4.5), float(centre[1] - 2.5), 3.0),
            "back": (float(centre[0] - 1.0), float(centre[1] + 4.5), 5.0),
        }
        ground, camera = PLAIN_BACKDROP, tuple(float(c) for c in cam)
    elif target == "background":
        objects = [
            SceneObject(
                "sphere", "small", 0.4, (0.0, 0.0, 0.4), 0.0, "plain-rubber", "gray", (0.34, 0.34, 0.34)
            )
        ]
        lights = dict(cfg.light_base)
        ground, camera = material, cfg.camera_base
    else:
        raise ConfigError(f"contact sheet target must be 'object' or 'background', got {target!r}")
    return SceneSpec(
        index=0,
        seed=0,
        attempt=0,
        variant="contact-sheet",
        key="sheet",
        objects=objects,
        ground_material=ground,
        ground_rgb=(0.5, 0.5, 0.5),
        ground_random=0.37,
        camera_location=camera,  # type: ignore[arg-type]
        lights=lights,  # type: ignore[arg-type]
        light_energy=dict(cfg.light_energy),
        lens=cfg.lens,
    )


def _label(name: str, width: int, font) -> list[str]:
    """Split a kebab-case name into at most two lines that fit ``width`` pixels."""
    if font.getlength(name) <= width - 4:
        return [name]
    parts = name.split("-")
    best = [name]
    for i in range(1, len(parts)):
        lines = ["-".join(parts[:i]) + "-", "-".join(parts[i:])]
        if max(font.getlength(s) for s in lines) <= width - 4:
            return lines
        best = lines if i == 1 else best
    return best


def render_contact_sheet(
    path: str | Path,
    group: str | None = None,
    size: int = 96,
    samples: int = 16,
    columns: int = 10,
    *,
    names: Sequence[str] | None = None,
    target: str = "object",
    shape: str = "sphere",
    progress: bool = False,
    device: str = "cpu",
) -> Path:
    """Render a labelled grid of materials and write it as one PNG.

    Args:
        path: output PNG (written atomically; parent folders are created).
        group: material group (``main``, ``ood``, ``plain``); None: all groups. Ignored if ``names``.
        size: tile size in pixels (square render).
        samples: Cycles samples per tile.
        columns: tiles per row.
        names: explicit material names, in this order.
        target: ``"object"`` (the material on a sphere over the grey backdrop) or ``"background"`` (the
            material as the ground under the dataset's camera).
        shape: the tile's object for ``target="object"`` (any shape of the scene table).
        progress: show a rich progress bar.
        device: Cycles device (``cpu``, ``gpu``, ``auto``).

    Returns:
        The path written.
    """
    from PIL import Image, ImageDraw, ImageFont

    from spelke.data.io import atomic_path
    from spelke.synth.blender import Renderer, RenderSettings

    todo = list(names) if names is not None else list_materials(group=group)
    if not todo:
        raise ConfigError(f"no materials to render (group={group!r})")
    for n in todo:
        get_material(n)  # unknown names fail before any rendering, with suggestions
    if columns < 1:
        raise ConfigError(f"columns must be at least 1, got {columns}")

    font = ImageFont.load_default(size=max(8, round(size / 10)))
    line_h = int(font.getbbox("Ag")[3]) + 2
    label_h = 2 * line_h + 3
    rows = (len(todo) + columns - 1) // columns
    ncols = min(columns, len(todo))
    sheet = Image.new("RGB", (ncols * size, rows * (size + label_h)), _LABEL_BG)
    draw = ImageDraw.Draw(sheet)

    renderer = Renderer(RenderSettings(size=(size, size), samples=samples, shadow_samples=0, device=device))
    items: Iterable[tuple[int, str]] = enumerate(todo)
    if progress:
        from rich.progress import track

        items = track(list(items), description=f"rendering {len(todo)} materials")
    try:
        with tempfile.TemporaryDirectory(prefix="spelke-sheet-") as tmp:
            for i, name in items:
                renderer.reset()
                renderer.build(_tile_scene(name, target, shape))
                result = renderer.render(Path(tmp) / "tile.png", shadow=False)
                r, c = divmod(i, columns)
                x0, y0 = c * size, r * (size + label_h)
                sheet.paste(Image.fromarray(result.image), (x0, y0))
                for k, line in enumerate(_label(name, size, font)):
                    w = font.getlength(line)
                    draw.text(
                        (x0 + (size - w) / 2, y0 + size + 1 + k * line_h), line, fill=_LABEL_FG, font=font
                    )
    finally:
        renderer.close()
    out = Path(path)
    with atomic_path(out) as tmp_path:
        sheet.save(tmp_path, format="PNG")
    return out
