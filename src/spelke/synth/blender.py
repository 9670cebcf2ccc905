"""The Blender renderer: the only module of spelke that imports ``bpy`` (extra ``synth``).

It turns a :class:`~spelke.synth.scene.SceneSpec` into a Blender scene (meshes normalised to the
proportions of :data:`~spelke.synth.scene.SHAPE_HALF_HEIGHT`, procedural materials from
:mod:`spelke.synth.materials`, the jittered camera and three area lights) and renders it with Cycles on
the CPU (or a GPU when asked and present). One render gives the image and the data passes (object index,
depth, normal, diffuse colour, and for video the vector pass); Cycles 4.2 has no shadow pass, so the shadow
map comes from a second, cheap render with shadows switched off (docs/fidelity.md, 'Shadow map').

All arrays returned are numpy, top row first, float32 unless stated.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spelke.errors import ConfigError, SpelkeError, missing_dependency
from spelke.synth.materials import COLOR, RANDOM, Material, get_material
from spelke.synth.scene import SHAPE_HALF_HEIGHT, SceneObject, SceneSpec

_bpy: Any = None


def require_bpy() -> Any:
    """Import ``bpy`` (Blender as a Python module) or explain which extra installs it."""
    global _bpy
    if _bpy is None:
        try:
            import bpy
        except ImportError as e:
            raise missing_dependency("bpy", "synth", "rendering ClevrTex scenes with Blender") from e
        _bpy = bpy
    return _bpy


def blender_version() -> str:
    """The version of the installed Blender module (e.g. ``"4.2.23"``)."""
    return require_bpy().app.version_string.split(" ")[0]


@dataclass
class RenderSettings:
    """How to render (none of it changes what is in the scene).

    Attributes:
        size: image size (H, W); the official data is 240 x 320.
        samples: Cycles samples per pixel (the public ClevrTex generator used 512).
        denoise: run Cycles' OpenImageDenoise on the image (not on data passes).
        device: ``"cpu"``, ``"gpu"`` (first available CUDA/OptiX/HIP/Metal device) or ``"auto"``.
        max_bounces: total light bounces (diffuse and glossy are capped at 2 below it).
        transparent_bounces: bounces through transparent (alpha) surfaces, where materials cut holes.
        dicing_rate: adaptive subdivision edge length in pixels for the displaced background.
        object_subdivision: subdivision levels of displaced objects (fixed, not adaptive: adaptive dicing
            of small displaced objects cost seconds per scene on 2 cores for no visible gain).
        shadow_samples: samples of the second, shadow-free render (0: no shadow map).
        threads: CPU threads (0: all).
        view_transform: Blender colour management view transform for the image.
    """

    size: tuple[int, int] = (240, 320)
    samples: int = 32
    denoise: bool = False
    device: str = "cpu"
    max_bounces: int = 4
    transparent_bounces: int = 8
    dicing_rate: float = 1.0
    object_subdivision: int = 2
    shadow_samples: int = 8
    threads: int = 0
    view_transform: str = "Standard"

    def __post_init__(self) -> None:
        h, w = self.size
        if h < 8 or w < 8:
            raise ConfigError(f"render size must be at least 8x8, got {h}x{w}")
        if self.samples < 1:
            raise ConfigError(f"samples must be at least 1, got {self.samples}")
        if self.device not in ("cpu", "gpu", "auto"):
            raise ConfigError(f"device must be cpu, gpu or auto, got {self.device!r}")


@dataclass
class RenderResult:
    """What one render produces (H, W = the render size).

    Attributes:
        image: (H, W, 3) uint8 sRGB image.
        instance: (H, W) int64 object ids (0 = background, object ``i`` of the scene = ``i + 1``).
        depth: (H, W) float32 depth along the camera axis in scene units (inf where nothing is hit).
        normal: (H, W, 3) float32 world-space unit normals.
        albedo: (H, W, 3) float32 linear diffuse colour.
        shadow: (H, W) float32 fraction of direct light that reaches the point (1 = fully lit), or None.
        vector: (H, W, 4) float32 Cycles motion vectors (video only), else None.
        timings: seconds per stage.
    """

    image: np.ndarray
    instance: np.ndarray
    depth: np.ndarray
    normal: np.ndarray
    albedo: np.ndarray
    shadow: np.ndarray | None = None
    vector: np.ndarray | None = None
    timings: dict[str, float] = field(default_factory=dict)
    diffuse_direct: np.ndarray | None = None


# ------------------------------------------------------------------------------------------ materials
def _set_input(node: Any, key: str, value: Any, params: dict[str, Any]) -> None:
    if isinstance(value, str) and value in (RANDOM, COLOR):
        value = params[value]
    sock = _socket(node, key, outputs=False)
    if hasattr(sock, "default_value"):
        dv = sock.default_value
        if hasattr(dv, "__len__") and not isinstance(value, (tuple, list)):
            value = [value] * len(dv)
        elif hasattr(dv, "__len__") and len(value) != len(dv):
            value = (list(value) + [1.0] * len(dv))[: len(dv)]
        sock.default_value = value


def _socket(node: Any, name: str, outputs: bool) -> Any:
    socks = node.outputs if outputs else node.inputs
    if name.isdigit():
        return socks[int(name)]
    # Prefer an enabled socket of that name (several nodes have hidden twins, e.g. Mix's A/B per type).
    for s in socks:
        if s.name == name and s.enabled:
            return s
    return socks[name]


def build_material(
    material: Material,
    *,
    coord_scale: float,
    random: float,
    color: tuple[float, float, float] | None = None,
    displacement_scale: float = 1.0,
    name: str | None = None,
    holes: bool = True,
) -> Any:
    """Turn a :class:`~spelke.synth.materials.Material` recipe into a Blender material.

    Args:
        material: the recipe.
        coord_scale: multiplier of the object-space texture coordinates (object scale x material scale,
            or the background scale) so patterns keep their size in scene units.
        random: per-instance number in [0, 1): offsets the texture coordinates and feeds ``params.Random``.
        color: per-instance sRGB colour in [0, 1] for recipes that use ``params.Color`` (linearised here).
        holes: keep alpha cut-outs (False for the backdrop, which must stay solid).
        displacement_scale: multiplier of the recipe's displacement strength (the background uses less).
        name: Blender datablock name.
    """
    bpy = require_bpy()
    mat = bpy.data.materials.new(name or material.name)
    mat.use_nodes = True
    tree = mat.node_tree
    nodes, links = tree.nodes, tree.links
    nodes.clear()
    out = nodes.new("ShaderNodeOutputMaterial")
    bsdf = nodes.new("ShaderNodeBsdfPrincipled")
    links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    # Defaults every recipe may override: a mid-rough dielectric.
    bsdf.inputs["Roughness"].default_value = 0.6
    if material.name == "plain-metal":
        bsdf.inputs["Metallic"].default_value = 1.0
        bsdf.inputs["Roughness"].default_value = 0.25

    texcoord = nodes.new("ShaderNodeTexCoord")
    mapping = nodes.new("ShaderNodeMapping")
    mapping.inputs["Scale"].default_value = (coord_scale, coord_scale, coord_scale)
    rng = np.random.default_rng(int(random * 2**31))
    mapping.inputs["Location"].default_value = tuple(float(v) for v in rng.uniform(-50, 50, 3))
    links.new(texcoord.outputs["Object"], mapping.inputs["Vector"])

    rnd = nodes.new("ShaderNodeValue")
    rnd.outputs[0].default_value = float(random)
    col = nodes.new("ShaderNodeRGB")
    # Per-instance colours are sRGB (CLEVR's palette); shader colours are linear.
    srgb = np.asarray(color if color is not None else (0.5, 0.5, 0.5), dtype=np.float64)
    lin = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    rgb = tuple(float(c) for c in lin)
    col.outputs[0].default_value = (*rgb, 1.0)
    params = {RANDOM: float(random), COLOR: (*rgb, 1.0)}

    built: dict[str, Any] = {"bsdf": bsdf, "out": out, "coords": mapping, "params": None}
    for nid, spec in material.nodes.items():
        node = nodes.new(spec.kind)
        for k, v in spec.props.items():
            if k in ("value", "color") and spec.kind in ("ShaderNodeValue", "ShaderNodeRGB"):
                node.outputs[0].default_value = v
            else:
                # Dotted props reach nested attributes, e.g. "color_ramp.interpolation".
                target = node
                *path, attr = k.split(".")
                for part in path:
                    target = getattr(target, part)
                setattr(target, attr, v)
        if spec.ramp is not None:
            elems = node.color_ramp.elements
            while len(elems) > 1:
                elems.remove(elems[-1])
            elems[0].position, elems[0].color = spec.ramp[0][0], spec.ramp[0][1]
            for pos, c in spec.ramp[1:]:
                e = elems.new(pos)
                e.color = c
        for k, v in spec.inputs.items():
            _set_input(node, k, v, params)
        if spec.kind == "ShaderNodeDisplacement":
            node.inputs["Scale"].default_value = material.displacement * displacement_scale
        built[nid] = node

    for src, dst in material.links:
        if not holes and dst == "bsdf.Alpha":
            continue  # the backdrop stays solid: holes in it would show the empty world below
        s_node, s_sock = src.split(".", 1)
        d_node, d_sock = dst.split(".", 1)
        if s_node == "coords":
            out_sock = mapping.outputs["Vector"]
        elif s_node == "params":
            out_sock = rnd.outputs[0] if s_sock == "Random" else col.outputs[0]
        else:
            out_sock = _socket(built[s_node], s_sock, outputs=True)
        links.new(out_sock, _socket(built[d_node], d_sock, outputs=False))

    mat.displacement_method = "BOTH" if material.displacement != 0 else "BUMP"
    if material.transparent:
        mat.blend_method = "HASHED"  # EEVEE preview only; Cycles handles alpha natively
    return mat


# --------------------------------------------------------------------------------------------- meshes
def _normalise_mesh(obj: Any, half_height: float) -> None:
    """Scale the mesh so its footprint (xy) radius is 1 and centre it so its z-extent is
    [-half_height, half_height]; checks the shape table agrees with the mesh."""
    me = obj.data
    n = len(me.vertices)
    co = np.empty(n * 3, dtype=np.float64)
    me.vertices.foreach_get("co", co)
    co = co.reshape(n, 3)
    co[:, :2] -= (co[:, :2].max(0) + co[:, :2].min(0)) / 2
    co[:, 2] -= (co[:, 2].max() + co[:, 2].min()) / 2
    r = np.sqrt((co[:, :2] ** 2).sum(1)).max()
    co /= r
    got = co[:, 2].max()
    if abs(got - half_height) > 2e-3:
        raise SpelkeError(
            f"mesh '{obj.name}' has half-height {got:.4f} at footprint radius 1, but the shape table says "
            f"{half_height:.4f}; update spelke.synth.scene.SHAPE_HALF_HEIGHT"
        )
    me.vertices.foreach_set("co", co.reshape(-1).astype(np.float32))
    me.update()


def _make_shape(shape: str) -> Any:
    bpy = require_bpy()
    ops = bpy.ops.mesh
    if shape == "cube":
        ops.primitive_cube_add(size=2.0)
    elif shape == "sphere":
        ops.primitive_uv_sphere_add(segments=48, ring_count=24, radius=1.0)
    elif shape == "cylinder":
        ops.primitive_cylinder_add(vertices=48, radius=1.0, depth=2.0)
    elif shape == "monkey":
        ops.primitive_monkey_add(size=2.0)
        # Suzanne lies face-up in the ground plane by default in some versions; ours stands upright with
        # her face along -y, which the primitive already does in Blender >= 2.8.
    elif shape == "cone":
        ops.primitive_cone_add(vertices=48, radius1=1.0, radius2=0.0, depth=2.0)
    elif shape == "torus":
        ops.primitive_torus_add(major_radius=0.7, minor_radius=0.3, major_segments=48, minor_segments=16)
    elif shape == "icosahedron":
        ops.primitive_ico_sphere_add(subdivisions=1, radius=1.0)
    elif shape == "teapot":
        from spelke.synth.teapot import teapot_mesh

        verts, faces = teapot_mesh()
        me = bpy.data.meshes.new("teapot")
        me.from_pydata(verts.tolist(), [], faces.tolist())
        me.validate()
        obj = bpy.data.objects.new("teapot", me)
        bpy.context.scene.collection.objects.link(obj)
        bpy.context.view_layer.objects.active = obj
    else:
        raise ConfigError(f"unknown shape {shape!r}; known: {sorted(SHAPE_HALF_HEIGHT)}")
    obj = bpy.context.view_layer.objects.active
    _normalise_mesh(obj, SHAPE_HALF_HEIGHT[shape])
    if shape in ("sphere", "monkey", "cylinder", "cone", "torus", "teapot"):
        for p in obj.data.polygons:
            p.use_smooth = True
        if shape in ("cylinder", "cone"):
            # Keep the caps flat: smooth only faces whose normal is not vertical.
            for p in obj.data.polygons:
                p.use_smooth = abs(p.normal[2]) < 0.9
    if shape == "monkey":
        mod = obj.modifiers.new("smooth", "SUBSURF")
        mod.levels = mod.render_levels = 1
    return obj


def backdrop_mesh(
    camera_location: tuple[float, float, float] | np.ndarray,
    flat_behind: float = 8.0,
    radius: float = 20.0,
    extent: float = 100.0,
) -> tuple[np.ndarray, np.ndarray]:
    """A photographer's backdrop: the ground plane z = 0, flat up to ``flat_behind`` units behind the
    origin (seen from the camera) and then curving up along a quarter circle of ``radius``, so no
    horizon shows in square or tall images (thesis App. B: "a scene containing only a photo backdrop").

    Returns:
        ``(verts (N, 3), faces (M, 4))``.
    """
    cam = np.asarray(camera_location, dtype=np.float64)
    behind = -cam[:2] / np.linalg.norm(cam[:2])
    side = np.array([-behind[1], behind[0]])
    us = [-extent, -50.0, -20.0, -10.0, -4.0, 0.0, 4.0, flat_behind]
    prof = [(u, 0.0) for u in us]
    for th in np.linspace(0, np.pi / 2, 17)[1:]:
        prof.append((flat_behind + radius * np.sin(th), radius * (1 - np.cos(th))))
    prof.append((flat_behind + radius, extent))
    vs = [-extent, -50.0, -20.0, -10.0, -4.0, 0.0, 4.0, 10.0, 20.0, 50.0, extent]
    verts = np.array([[*(u * behind + v * side), z] for (u, z) in prof for v in vs])
    n = len(vs)
    faces = [
        [i * n + j, (i + 1) * n + j, (i + 1) * n + j + 1, i * n + j + 1]  # counter-clockwise from above
        for i in range(len(prof) - 1)
        for j in range(n - 1)
    ]
    return verts, np.asarray(faces, dtype=np.int64)


# ---------------------------------------------------------------------------------------------- scene
class Renderer:
    """Builds and renders scenes in the (process-wide) Blender session.

    Examples:
        >>> from spelke.synth.scene import sample_scene  # doctest: +SKIP
        >>> r = Renderer(RenderSettings(size=(48, 48), samples=4))  # doctest: +SKIP
        >>> r.reset(); r.build(sample_scene("full", 0))  # doctest: +SKIP
        >>> out = r.render(Path("scene.png"))  # a RenderResult: image and passes  # doctest: +SKIP
        >>> r.close()  # doctest: +SKIP
    """

    def __init__(self, settings: RenderSettings | None = None) -> None:
        self.settings = settings or RenderSettings()
        self.bpy = require_bpy()
        self._tmp = Path(tempfile.mkdtemp(prefix="spelke-render-"))
        self.objects: list[Any] = []
        self.ground: Any = None
        self.lights: dict[str, Any] = {}
        self.camera: Any = None

    # -- setup ----------------------------------------------------------------------------------
    def reset(self) -> None:
        """An empty scene with the render settings applied."""
        bpy = self.bpy
        bpy.ops.wm.read_factory_settings(use_empty=True)
        sc = bpy.context.scene
        s = self.settings
        sc.render.engine = "CYCLES"
        sc.cycles.feature_set = "EXPERIMENTAL"  # adaptive subdivision for displacement
        sc.cycles.samples = s.samples
        sc.cycles.use_adaptive_sampling = True
        sc.cycles.use_denoising = s.denoise
        if s.denoise:
            sc.cycles.denoiser = "OPENIMAGEDENOISE"
        sc.cycles.max_bounces = s.max_bounces
        sc.cycles.diffuse_bounces = min(2, s.max_bounces)
        sc.cycles.glossy_bounces = min(2, s.max_bounces)
        sc.cycles.transmission_bounces = min(2, s.max_bounces)
        sc.cycles.transparent_max_bounces = s.transparent_bounces
        sc.cycles.dicing_rate = s.dicing_rate
        sc.cycles.blur_glossy = 2.0  # as the public generator: fewer fireflies
        sc.cycles.seed = 0
        sc.render.resolution_y, sc.render.resolution_x = s.size
        sc.render.resolution_percentage = 100
        sc.render.film_transparent = False
        sc.render.use_persistent_data = True  # the shadow render reuses the synced scene
        sc.render.threads_mode = "FIXED" if s.threads else "AUTO"
        if s.threads:
            sc.render.threads = s.threads
        sc.view_settings.view_transform = s.view_transform
        sc.view_settings.look = "None"
        sc.render.image_settings.file_format = "PNG"
        sc.render.image_settings.color_mode = "RGB"
        sc.render.image_settings.color_depth = "8"
        # No render-time/date/host metadata in the PNGs: the same scene must give the same bytes
        # (the manifest's checksums compare runs).
        for attr in dir(sc.render):
            if attr.startswith("use_stamp") and attr != "use_stamp":
                setattr(sc.render, attr, False)
        self._configure_device(sc)
        world = bpy.data.worlds.new("world")
        world.use_nodes = True
        world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.05, 0.05, 0.05, 1.0)
        world.node_tree.nodes["Background"].inputs["Strength"].default_value = 1.0
        sc.world = world
        vl = sc.view_layers[0]
        vl.use_pass_z = True
        vl.use_pass_normal = True
        vl.use_pass_diffuse_color = True
        vl.use_pass_object_index = True
        vl.use_pass_diffuse_direct = True
        vl.pass_alpha_threshold = 0.5  # data passes see through cut-out holes
        self.objects, self.ground, self.lights = [], None, {}

    def _configure_device(self, sc: Any) -> None:
        s = self.settings
        if s.device == "cpu":
            sc.cycles.device = "CPU"
            return
        prefs = self.bpy.context.preferences.addons["cycles"].preferences
        for backend in ("OPTIX", "CUDA", "HIP", "METAL", "ONEAPI"):
            try:
                prefs.compute_device_type = backend
            except TypeError:
                continue
            prefs.get_devices()
            gpus = [d for d in prefs.devices if d.type != "CPU"]
            if gpus:
                for d in prefs.devices:
                    d.use = d.type != "CPU"
                sc.cycles.device = "GPU"
                return
        if s.device == "gpu":
            raise SpelkeError("device=gpu was asked for but Blender finds no GPU; use --device cpu or auto")
        sc.cycles.device = "CPU"

    def build(self, spec: SceneSpec, ground_displacement: float = 1.0) -> None:
        """Put the scene of ``spec`` into Blender (after :meth:`reset`)."""
        bpy = self.bpy
        sc = bpy.context.scene
        cam_data = bpy.data.cameras.new("camera")
        cam_data.lens = spec.lens
        cam_data.sensor_width = 36.0
        cam_data.sensor_fit = "AUTO"
        cam_data.clip_end = 1000.0
        cam = bpy.data.objects.new("camera", cam_data)
        sc.collection.objects.link(cam)
        cam.matrix_world = _matrix(spec.camera().matrix_world())
        sc.camera = cam
        self.camera = cam

        for name, loc in spec.lights.items():
            light = bpy.data.lights.new(name, "AREA")
            light.energy = spec.light_energy[name]
            light.size = 1.0
            obj = bpy.data.objects.new(name, light)
            sc.collection.objects.link(obj)
            obj.location = loc
            # Point the area light at the origin.
            d = -np.asarray(loc, dtype=np.float64)
            obj.rotation_euler = (
                math.atan2(math.hypot(d[0], d[1]), -d[2]),
                0.0,
                # -pi/2: after the x tilt the light's -Z points along +y, which must turn onto (dx, dy)
                # (+pi/2 aimed every light away from the scene, horizontally mirrored).
                math.atan2(d[1], d[0]) - math.pi / 2,
            )
            self.lights[name] = obj

        verts, faces = backdrop_mesh(spec.camera_location)
        me = bpy.data.meshes.new("ground")
        me.from_pydata(verts.tolist(), [], faces.tolist())
        me.validate()
        ground = bpy.data.objects.new("ground", me)
        sc.collection.objects.link(ground)
        bpy.context.view_layer.objects.active = ground
        ground.pass_index = 0
        gmat = get_material(spec.ground_material)
        ground.data.materials.append(
            build_material(
                gmat,
                coord_scale=gmat.background_scale,
                random=spec.ground_random,
                color=spec.ground_rgb,
                displacement_scale=ground_displacement,
                name="ground",
                holes=False,
            )
        )
        if gmat.displacement != 0:
            self._adaptive(ground)
        self.ground = ground

        self.objects = []
        for i, o in enumerate(spec.objects):
            self.objects.append(self._add_object(o, i + 1))

    def _adaptive(self, obj: Any) -> None:
        mod = obj.modifiers.new("dice", "SUBSURF")
        mod.subdivision_type = "SIMPLE"
        obj.cycles.use_adaptive_subdivision = True

    def _add_object(self, o: SceneObject, index: int) -> Any:
        obj = _make_shape(o.shape)
        obj.name = f"object{index:02d}-{o.shape}"
        obj.pass_index = index
        obj.location = o.location
        obj.rotation_euler = (0.0, 0.0, math.radians(o.rotation))
        obj.scale = (o.scale, o.scale, o.scale)
        mat = get_material(o.material)
        obj.data.materials.append(
            build_material(
                mat,
                coord_scale=o.scale * mat.object_scale,
                random=o.texture_random,
                color=o.rgb,
                name=f"{obj.name}-{o.material}",
            )
        )
        if mat.displacement != 0 and self.settings.object_subdivision > 0:
            mod = obj.modifiers.new("dice", "SUBSURF")
            mod.subdivision_type = "SIMPLE"
            mod.levels = mod.render_levels = self.settings.object_subdivision
        return obj

    # -- physics (Moving ClevrTex, thesis App. D.2) ---------------------------------------------
    def setup_physics(
        self,
        spec: SceneSpec,
        pushes: dict[int, tuple[float, float]],
        last_frame: int,
        push_frames: int = 3,
        bounciness: float = 0.1,
        friction: float = 0.5,
    ) -> None:
        """Rigid-body physics for the built scene: every object is an active body with mass = its scale
        and the given bounciness; object ``i`` in ``pushes`` is moved by ``pushes[i]`` (x, y) between
        keyframes 0 and ``push_frames`` (linear keyframes of an animated body) and handed to the
        simulation at ``push_frames + 1``, which keeps the momentum (thesis App. D.2)."""
        bpy = self.bpy
        sc = bpy.context.scene
        sc.frame_start, sc.frame_end = 0, last_frame
        bpy.ops.rigidbody.world_add()
        world = sc.rigidbody_world
        world.point_cache.frame_start = 0
        world.point_cache.frame_end = last_frame
        shapes = {"cube": "BOX", "sphere": "SPHERE", "cylinder": "CYLINDER", "cone": "CONE"}

        def make_body(obj: Any, kind: str) -> None:
            bpy.ops.object.select_all(action="DESELECT")
            obj.select_set(True)
            bpy.context.view_layer.objects.active = obj
            bpy.ops.rigidbody.object_add(type=kind)

        make_body(self.ground, "PASSIVE")
        self.ground.rigid_body.collision_shape = "MESH"  # the backdrop curves up: its box would not do
        self.ground.rigid_body.restitution = bounciness
        self.ground.rigid_body.friction = friction
        for i, (obj, o) in enumerate(zip(self.objects, spec.objects, strict=True)):
            make_body(obj, "ACTIVE")
            rb = obj.rigid_body
            rb.mass = o.scale  # thesis App. D.2: mass equals the scale, numerically
            rb.restitution = bounciness
            rb.friction = friction
            rb.collision_shape = shapes.get(o.shape, "CONVEX_HULL")
            rb.collision_margin = (
                0.0 if rb.collision_shape in ("BOX", "SPHERE", "CYLINDER", "CONE") else 0.001
            )
            if i in pushes:
                dx, dy = pushes[i]
                start = obj.location.copy()
                rb.kinematic = True
                obj.keyframe_insert("location", frame=0)
                obj.location = (start[0] + dx, start[1] + dy, start[2])
                obj.keyframe_insert("location", frame=push_frames)
                obj.keyframe_insert("rigid_body.kinematic", frame=push_frames)
                rb.kinematic = False
                obj.keyframe_insert("rigid_body.kinematic", frame=push_frames + 1)
                obj.location = start
                # Linear keyframes: a constant velocity that the simulation inherits at the hand-over.
                for fc in obj.animation_data.action.fcurves:
                    for kp in fc.keyframe_points:
                        kp.interpolation = "LINEAR" if fc.data_path == "location" else "CONSTANT"

    def animate_camera(self, poses: dict[int, np.ndarray]) -> None:
        """Keyframe the camera at each frame in ``poses`` (frame -> (4, 4) world-from-camera matrix).

        Rendering and the vector pass only look at whole frames, where the keys hold exactly; rotations
        are keyed as quaternions so no Euler decomposition can flip between frames."""
        cam = self.camera
        cam.rotation_mode = "QUATERNION"
        for frame, m in sorted(poses.items()):
            cam.matrix_world = _matrix(np.asarray(m, dtype=np.float64))
            cam.keyframe_insert("location", frame=frame)
            cam.keyframe_insert("rotation_quaternion", frame=frame)

    def simulate(self, last_frame: int) -> np.ndarray:
        """Step frames 0..last_frame in order; returns (last_frame + 1, K + 1, 4, 4) world-from-object
        matrices (row 0, the static background, is the identity)."""
        sc = self.bpy.context.scene
        out = np.tile(np.eye(4), (last_frame + 1, len(self.objects) + 1, 1, 1))
        for f in range(last_frame + 1):
            sc.frame_set(f)
            for i, obj in enumerate(self.objects, 1):
                out[f, i] = np.array(obj.matrix_world)
        return out

    def set_frame(self, frame: int) -> None:
        self.bpy.context.scene.frame_set(frame)

    # -- rendering ------------------------------------------------------------------------------
    def _compositor(self, passes: dict[str, str]) -> Path:
        """File Output node writing each render-layer output in ``passes`` (output name -> slot) as a
        32-bit EXR under a fresh folder; returns the folder."""
        sc = self.bpy.context.scene
        sc.use_nodes = True
        tree = sc.node_tree
        tree.nodes.clear()
        rl = tree.nodes.new("CompositorNodeRLayers")
        comp = tree.nodes.new("CompositorNodeComposite")
        tree.links.new(rl.outputs["Image"], comp.inputs["Image"])
        folder = Path(tempfile.mkdtemp(dir=self._tmp))
        fo = tree.nodes.new("CompositorNodeOutputFile")
        fo.base_path = str(folder)
        fo.format.file_format = "OPEN_EXR"
        fo.format.color_depth = "32"
        fo.format.exr_codec = "NONE"
        fo.format.color_mode = "RGBA"  # the vector pass has four channels
        fo.file_slots.clear()
        for out_name, slot in passes.items():
            fo.file_slots.new(slot)
            tree.links.new(rl.outputs[out_name], fo.inputs[slot])
            if out_name == "Vector":
                # The file node turns the 4-D vector into a colour with alpha 1: save the 4th component
                # (the y motion to the next frame) as a slot of its own.
                sep = tree.nodes.new("CompositorNodeSeparateColor")
                tree.links.new(rl.outputs[out_name], sep.inputs[0])
                fo.file_slots.new(f"{slot}_w")
                tree.links.new(sep.outputs["Alpha"], fo.inputs[f"{slot}_w"])
        return folder

    def _read_exr(self, folder: Path, slot: str, channels: int) -> np.ndarray:
        bpy = self.bpy
        files = sorted(folder.glob(f"{slot}[0-9]*.exr"))
        if not files:
            raise SpelkeError(f"Blender wrote no '{slot}' pass under {folder}")
        img = bpy.data.images.load(str(files[-1]))
        try:
            img.colorspace_settings.name = "Non-Color"
            w, h = img.size
            buf = np.empty(w * h * 4, dtype=np.float32)
            img.pixels.foreach_get(buf)
        finally:
            bpy.data.images.remove(img)
        arr = buf.reshape(h, w, 4)[::-1]  # Blender stores the bottom row first
        return np.ascontiguousarray(arr[..., :channels])

    def render(self, image_path: Path, *, vector: bool = False, shadow: bool = True) -> RenderResult:
        """Render the built scene: the image is written to ``image_path`` (PNG); passes are returned."""
        bpy = self.bpy
        sc = bpy.context.scene
        timings: dict[str, float] = {}
        vl = sc.view_layers[0]
        vl.use_pass_vector = vector
        sc.render.use_motion_blur = False
        passes = {
            "Depth": "depth",
            "Normal": "normal",
            "DiffCol": "albedo",
            "IndexOB": "index",
            "DiffDir": "diffdir",
        }
        if vector:
            passes["Vector"] = "vector"
        folder = self._compositor(passes)
        sc.render.filepath = str(image_path)
        t = time.perf_counter()
        bpy.ops.render.render(write_still=True)
        timings["render"] = time.perf_counter() - t

        t = time.perf_counter()
        img = _read_png_rgb(image_path)
        depth = self._read_exr(folder, "depth", 1)[..., 0]
        depth = np.where(depth > 1e9, np.inf, depth).astype(np.float32)
        normal = self._read_exr(folder, "normal", 3)
        albedo = self._read_exr(folder, "albedo", 3)
        index = self._read_exr(folder, "index", 1)[..., 0]
        instance = np.rint(index).astype(np.int64)
        diffdir = self._read_exr(folder, "diffdir", 3).sum(-1)
        vec = None
        if vector:
            vec = self._read_exr(folder, "vector", 4)
            vec[..., 3] = self._read_exr(folder, "vector_w", 1)[..., 0]
        timings["read_passes"] = time.perf_counter() - t
        _rm_tree(folder)

        result = RenderResult(img, instance, depth, normal, albedo, None, vec, timings)
        result.diffuse_direct = diffdir
        if shadow:
            self.add_shadow(result)
        return result

    def add_shadow(self, result: RenderResult) -> None:
        """Fill ``result.shadow`` from a second, shadow-free render (Cycles 4.2 has no shadow pass):
        lit fraction = direct diffuse light with shadows / without shadows (1 where no light arrives
        either way). See docs/fidelity.md, 'Shadow map'."""
        if self.settings.shadow_samples <= 0:
            return
        t = time.perf_counter()
        unshadowed = self._render_unshadowed()
        with np.errstate(divide="ignore", invalid="ignore"):
            lit = np.where(unshadowed > 1e-6, result.diffuse_direct / unshadowed, 1.0)
        result.shadow = np.clip(lit, 0.0, 1.0).astype(np.float32)
        result.timings["shadow_render"] = time.perf_counter() - t

    def visible_pixels(self) -> np.ndarray:
        """Pixels per object id from a one-sample, direct-light-only render of the object-index pass:
        a cheap test of the occlusion rule before the full render (the synced scene is reused)."""
        bpy = self.bpy
        sc = bpy.context.scene
        saved = (
            sc.cycles.samples,
            sc.cycles.use_denoising,
            sc.cycles.max_bounces,
            sc.cycles.use_adaptive_sampling,
        )
        sc.cycles.samples, sc.cycles.use_denoising, sc.cycles.max_bounces = 1, False, 0
        sc.cycles.use_adaptive_sampling = False
        folder = self._compositor({"IndexOB": "index"})
        sc.render.filepath = str(self._tmp / "visibility.png")
        try:
            bpy.ops.render.render(write_still=False)
            index = np.rint(self._read_exr(folder, "index", 1)[..., 0]).astype(np.int64)
        finally:
            (
                sc.cycles.samples,
                sc.cycles.use_denoising,
                sc.cycles.max_bounces,
                sc.cycles.use_adaptive_sampling,
            ) = saved
            _rm_tree(folder)
        return np.bincount(index.ravel(), minlength=len(self.objects) + 1)

    def _render_unshadowed(self) -> np.ndarray:
        """Direct diffuse light with every light's shadows off: the denominator of the shadow map."""
        bpy = self.bpy
        sc = bpy.context.scene
        saved = (sc.cycles.samples, sc.cycles.use_denoising, sc.cycles.max_bounces)
        sc.cycles.samples = self.settings.shadow_samples
        sc.cycles.use_denoising = False
        sc.cycles.max_bounces = 0  # direct light only
        for obj in self.lights.values():
            obj.data.use_shadow = False
        folder = self._compositor({"DiffDir": "diffdir"})
        sc.render.filepath = str(self._tmp / "unshadowed.png")
        try:
            bpy.ops.render.render(write_still=False)
            out = self._read_exr(folder, "diffdir", 3).sum(-1)
        finally:
            for obj in self.lights.values():
                obj.data.use_shadow = True
            sc.cycles.samples, sc.cycles.use_denoising, sc.cycles.max_bounces = saved
            _rm_tree(folder)
        return out

    def close(self) -> None:
        _rm_tree(self._tmp)


def _matrix(m: np.ndarray) -> Any:
    from mathutils import Matrix  # ships with bpy

    return Matrix([list(map(float, row)) for row in m])


def _read_png_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def _rm_tree(path: Path) -> None:
    if not path.exists():
        return
    for root, dirs, files in os.walk(path, topdown=False):
        for f in files:
            os.unlink(os.path.join(root, f))
        for d in dirs:
            os.rmdir(os.path.join(root, d))
    os.rmdir(path)
