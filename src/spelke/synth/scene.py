"""Scene sampling for the ClevrTex family, in plain Python (no Blender): thesis Sec. 2.3 and App. B.

A :class:`SceneSpec` holds everything the renderer needs and everything the metadata JSON records:
objects (shape, size, scale, position, rotation, material, colour), the background material, the jittered
camera and lights, and the per-instance texture offsets. Sampling is deterministic: the random stream
of sample ``index`` is seeded from ``(seed, index, attempt)``, so a dataset is the same whatever the
sharding, and a scene rejected after rendering (an object hidden) is resampled with ``attempt + 1``.

The rules (thesis App. B unless marked; every open number is a :class:`SceneConfig` field and is listed
in docs/fidelity.md):

- 3 to 10 objects, uniformly;
- shape and size uniformly from the variant's sets; position ``(x, y) ~ U(-3, 3)``; rotation
  ``U(0, 360)`` degrees about the vertical axis; objects rest on the ground;
- objects are added one by one; a new object that comes closer than ``min_dist`` to one already
  placed (distance between footprint circles) or breaks CLEVR's direction margin is re-drawn, up to
  ``max_tries`` times, after which the whole scene restarts;
- the camera (35 mm, no shift) and the three lights are jittered around base poses.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from spelke.errors import ConfigError
from spelke.synth.camera import Camera
from spelke.synth.materials import list_materials
from spelke.synth.variants import CLEVR_COLORS, Variant, get_variant

#: Half-height of each shape at scale 1, for meshes normalised to a footprint (xy) radius of 1: the
#: object's centre sits this high above the ground times its scale. The renderer builds every mesh to
#: these proportions (a test checks the built meshes against this table).
SHAPE_HALF_HEIGHT: dict[str, float] = {
    "cube": 1 / math.sqrt(2),  # a cube whose footprint circle has radius 1
    "sphere": 1.0,
    "cylinder": 1.0,  # radius 1, height 2 (CLEVR's cylinder)
    "monkey": 0.6762,  # Blender's Suzanne, upright (her face along -y before rotation)
    "cone": 1.0,  # base radius 1, height 2
    "torus": 0.3,  # major radius 0.7, minor 0.3, lying flat
    "icosahedron": 1.1180,  # Blender's icosphere (1 subdivision level = a plain icosahedron), vertex up
    "teapot": 0.4899,  # Newell's teapot (spelke.synth.teapot), handle to spout spanning the footprint
}


@dataclass
class SceneConfig:
    """Numbers the thesis leaves open (docs/fidelity.md, 'Scene sampling'). Defaults follow the public
    ClevrTex generator where it sets them.

    Attributes:
        min_objects: fewest objects (thesis: 3).
        max_objects: most objects (thesis: 10).
        xy_range: positions are ``U(-xy_range, xy_range)`` (thesis: 3).
        min_dist: least gap between footprint circles of two objects, scene units.
        margin: CLEVR's direction margin: two objects closer than this along the camera's left/right or
            front/behind axes make their spatial relation ambiguous, so the new one is re-drawn.
        max_tries: re-draws of one object before the whole scene restarts.
        camera_base: camera location before jitter (it looks at the origin).
        camera_jitter: each camera coordinate is jittered by ``U(-j, j)``.
        lens: focal length in mm (thesis: 35 mm).
        light_base: base locations of the key, fill and back lights.
        light_jitter: jitter of each light coordinate.
        light_energy: power of the key, fill and back area lights in watts.
        min_visible_fraction: an object needs at least this fraction of a 320x240 image's pixels visible
            (scaled to other sizes by :meth:`min_visible_pixels`), else the scene is resampled (public
            generator: 200 px at 320x240).
        relation_eps: CLEVR's threshold for spatial relationships.
    """

    min_objects: int = 3
    max_objects: int = 10
    xy_range: float = 3.0
    min_dist: float = 0.25
    margin: float = 0.4
    max_tries: int = 50
    camera_base: tuple[float, float, float] = (7.4, -6.9, 5.0)
    camera_jitter: float = 0.5
    lens: float = 35.0
    light_base: dict[str, tuple[float, float, float]] = field(
        default_factory=lambda: {"key": (6.4, -2.9, 4.0), "fill": (-4.7, -4.0, 3.0), "back": (-1.2, 2.7, 5.8)}
    )
    light_jitter: float = 1.0
    light_energy: dict[str, float] = field(
        default_factory=lambda: {"key": 300.0, "fill": 120.0, "back": 200.0}
    )
    min_visible_fraction: float = 200 / (320 * 240)
    relation_eps: float = 0.2

    def __post_init__(self) -> None:
        if not 1 <= self.min_objects <= self.max_objects:
            raise ConfigError(
                f"need 1 <= min_objects <= max_objects, got {self.min_objects} and {self.max_objects}"
            )

    def min_visible_pixels(self, size: tuple[int, int]) -> int:
        """The visibility threshold in pixels for an image of ``size`` (at least 1).

        The fraction is of a 320 x 240 image, scaled with the square of the longer side: the sensor
        spans the longer side, so an object covers ``(longer side / 320)^2`` times the pixels it covers
        in the official 320 x 240 render whatever the aspect ratio (200 px there, 32 px at 128 x 128).
        """
        longer = max(size)
        return max(1, round(self.min_visible_fraction * 320 * 240 * (longer / 320) ** 2))


@dataclass
class SceneObject:
    """One object of a scene (the fields of ClevrTex's metadata plus what the renderer needs)."""

    shape: str
    size: str
    scale: float
    location: tuple[float, float, float]
    rotation: float
    material: str
    color: str | None = None
    rgb: tuple[float, float, float] | None = None
    texture_random: float = 0.0


@dataclass
class SceneSpec:
    """A sampled scene: all that the renderer needs and the metadata records."""

    index: int
    seed: int
    attempt: int
    variant: str
    key: str
    objects: list[SceneObject]
    ground_material: str
    ground_rgb: tuple[float, float, float]
    ground_random: float
    camera_location: tuple[float, float, float]
    lights: dict[str, tuple[float, float, float]]
    light_energy: dict[str, float]
    lens: float

    def camera(self) -> Camera:
        return Camera.look_at(self.camera_location, (0.0, 0.0, 0.0), lens=self.lens)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Whole-placement restarts before giving up. Ten OOD objects (sizes up to 1.0) fit in about 1 of 750
#: placements with the margin rule, so the budget is large; a restart costs about 0.3 ms.
MAX_RESTARTS = 20000


class PlacementFailed(Exception):
    """Raised internally when an object cannot be placed within ``max_tries``."""


def rng_for(seed: int, index: int, attempt: int = 0) -> np.random.Generator:
    """The random stream of sample ``index`` (independent of sharding and of other samples)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index), int(attempt)]))


def directions(camera: Camera) -> dict[str, list[float]]:
    """CLEVR's six scene directions for a camera: behind/front along the view direction projected onto
    the ground, left/right along the camera's x axis projected onto the ground, above/below along z."""

    def ground(v: np.ndarray) -> np.ndarray:
        v = np.array([v[0], v[1], 0.0])
        return v / np.linalg.norm(v)

    behind = ground(-camera.rotation[:, 2])  # the camera looks along its -Z
    left = ground(-camera.rotation[:, 0])
    up = np.array([0.0, 0.0, 1.0])
    out = {"behind": behind, "front": -behind, "left": left, "right": -left, "above": up, "below": -up}
    return {k: [float(x) for x in v] for k, v in out.items()}


def relationships(coords: list[tuple[float, float, float]], dirs: dict[str, list[float]], eps: float = 0.2):
    """CLEVR's spatial relationships: for each direction (not above/below) and each object ``i``, the
    sorted indices ``j`` whose offset from ``i`` along the direction exceeds ``eps``."""
    pts = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
    out: dict[str, list[list[int]]] = {}
    for name, d in dirs.items():
        if name in ("above", "below"):
            continue
        proj = pts @ np.asarray(d)
        out[name] = [
            [j for j in range(len(pts)) if j != i and proj[j] - proj[i] > eps] for i in range(len(pts))
        ]
    return out


def _jitter(rng: np.random.Generator, base: tuple[float, float, float], amount: float) -> tuple[float, ...]:
    return tuple(float(b + rng.uniform(-amount, amount)) for b in base)


def sample_scene(
    variant: str | Variant,
    index: int,
    seed: int = 0,
    attempt: int = 0,
    config: SceneConfig | None = None,
    num_objects: int | None = None,
) -> SceneSpec:
    """Sample scene ``index`` of a variant (thesis App. B; see the module docstring for the rules).

    Args:
        variant: a registered variant name or key (``full``, ``camo``, ``outd``, ...) or a :class:`Variant`.
        index: sample index (contiguous from 0 in a dataset).
        seed: dataset seed.
        attempt: resampling attempt (the generator increments it when a rendered scene hides an object).
        config: the open numbers; default :class:`SceneConfig`.
        num_objects: force the object count (tests, demos); default uniform in [min, max].

    Examples:
        >>> s = sample_scene("camo", 0, seed=1)
        >>> len({o.material for o in s.objects} | {s.ground_material})
        1
    """
    cfg = config or SceneConfig()
    var = get_variant(variant) if isinstance(variant, str) else variant
    rng = rng_for(seed, index, attempt)
    n = (
        int(num_objects)
        if num_objects is not None
        else int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    )
    if n < 1:
        raise ConfigError(f"num_objects must be at least 1, got {n}")

    cam_loc = _jitter(rng, cfg.camera_base, cfg.camera_jitter)
    lights = {k: _jitter(rng, v, cfg.light_jitter) for k, v in cfg.light_base.items()}
    camera = Camera.look_at(cam_loc, (0.0, 0.0, 0.0), lens=cfg.lens)
    dirs = directions(camera)

    obj_pool = list_materials(group=var.object_group)
    if var.colored_objects:
        obj_pool = ["plain-rubber", "plain-metal"]
    if var.ground == "random":
        ground = str(rng.choice(list_materials(group=var.ground_group)))
    elif var.ground == "same":
        ground = str(rng.choice(obj_pool))
    else:
        ground = var.ground
    ground_rgb = tuple(float(x) for x in rng.uniform(0, 1, 3))
    ground_random = float(rng.uniform())

    # Objects one by one with collision re-draws; after max_tries the whole placement restarts.
    for _restart in range(MAX_RESTARTS):
        try:
            placed = _place_objects(rng, var, cfg, n, dirs)
            break
        except PlacementFailed:
            continue
    else:  # pragma: no cover - needs an impossible configuration
        raise ConfigError(
            f"could not place {n} objects in U(-{cfg.xy_range}, {cfg.xy_range})^2 with min_dist "
            f"{cfg.min_dist} after {MAX_RESTARTS} restarts; lower max_objects or min_dist"
        )

    objects = []
    for shape, (size_name, scale), (x, y), rot in placed:
        if var.same_material:
            material = ground
        else:
            material = str(rng.choice(obj_pool))
        color = rgb = None
        if var.colored_objects:
            color = str(rng.choice(list(CLEVR_COLORS)))
            rgb = tuple(c / 255 for c in CLEVR_COLORS[color])
        z = SHAPE_HALF_HEIGHT[shape] * scale
        objects.append(
            SceneObject(
                shape=shape,
                size=size_name,
                scale=scale,
                location=(x, y, z),
                rotation=rot,
                material=material,
                color=color,
                rgb=rgb,
                texture_random=float(rng.uniform()),
            )
        )
    return SceneSpec(
        index=int(index),
        seed=int(seed),
        attempt=int(attempt),
        variant=var.name,
        key=var.key,
        objects=objects,
        ground_material=ground,
        ground_rgb=ground_rgb,  # type: ignore[arg-type]
        ground_random=ground_random,
        camera_location=cam_loc,  # type: ignore[arg-type]
        lights=lights,  # type: ignore[arg-type]
        light_energy=dict(cfg.light_energy),
        lens=cfg.lens,
    )


def _place_objects(rng: np.random.Generator, var: Variant, cfg: SceneConfig, n: int, dirs):
    placed: list[tuple[str, tuple[str, float], tuple[float, float], float]] = []
    planar = [np.asarray(dirs[k][:2]) for k in ("behind", "front", "left", "right")]
    for _ in range(n):
        size = var.sizes[int(rng.integers(len(var.sizes)))]
        shape = var.shapes[int(rng.integers(len(var.shapes)))]
        r = size[1]
        for _try in range(cfg.max_tries):
            x, y = (float(v) for v in rng.uniform(-cfg.xy_range, cfg.xy_range, 2))
            if _fits(x, y, r, placed, planar, cfg):
                break
        else:
            raise PlacementFailed
        rot = float(rng.uniform(0.0, 360.0))
        placed.append((shape, size, (x, y), rot))
    return placed


def _fits(x, y, r, placed, planar, cfg: SceneConfig) -> bool:
    for _shape, (_s, other_r), (ox, oy), _rot in placed:
        dx, dy = x - ox, y - oy
        if math.hypot(dx, dy) - r - other_r < cfg.min_dist:
            return False
        if cfg.margin > 0:
            for d in planar:
                m = dx * d[0] + dy * d[1]
                if 0 < m < cfg.margin:
                    return False
    return True


def scene_metadata(
    spec: SceneSpec, size: tuple[int, int], config: SceneConfig | None = None
) -> dict[str, Any]:
    """The ClevrTex metadata fields (thesis App. B.2) for a scene rendered at ``size`` (H, W).

    Object ``i`` (0-based) has ``index = i + 1``, its id in the ``_flat.png`` instance map.
    """
    cfg = config or SceneConfig()
    cam = spec.camera()
    dirs = directions(cam)
    objs = []
    for i, o in enumerate(spec.objects):
        uv, depth = cam.project(np.asarray(o.location), size)
        objs.append(
            {
                "shape": o.shape,
                "rotation": o.rotation,
                "size": o.size,
                "scale": o.scale,
                "3d_coords": list(o.location),
                "pixel_coords": [float(uv[0]), float(uv[1]), float(depth)],
                "index": i + 1,
                "color": o.color,
                "material": o.material,
            }
        )
    return {
        "num_objects": len(spec.objects),
        "split": spec.key,
        "image_index": spec.index,
        "ground_material": spec.ground_material,
        "directions": dirs,
        "objects": objs,
        "relationships": relationships([o.location for o in spec.objects], dirs, cfg.relation_eps),
        "camera": {
            "location": list(spec.camera_location),
            "look_at": [0.0, 0.0, 0.0],
            "lens_mm": spec.lens,
            "sensor_mm": cam.sensor,
            "matrix_world": cam.matrix_world().tolist(),
        },
        "lights": {k: list(v) for k, v in spec.lights.items()},
        "seed": spec.seed,
        "attempt": spec.attempt,
    }
