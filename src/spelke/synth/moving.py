"""Moving ClevrTex and Moving CLEVR: ClevrTex scenes set in motion by rigid-body physics (thesis App. D.2).

Per clip: a ClevrTex (or CLEVR) scene of 3-10 objects; a motion scenario drawn uniformly from {one
object, two objects, all objects} moving; each moving object gets a random push in the ground plane,
keyframed between keyframes 0 and 3, and Blender's rigid-body simulation takes over from keyframe 4
(mass = scale, bounciness 0.1); keyframes 4 to 8 are rendered by default (``frames`` sets how many, so
long clips for point-trajectory learning work too). The background's displacement is reduced, as the
thesis says.

The thesis's camera stands still. ``camera_rotation`` (not in the thesis; MOVi-E, the thesis's other
benchmark, has a moving camera) turns the camera about its own centre at a constant angular velocity drawn
per clip: the whole image moves, but the static objects move exactly with the background (a turning
camera has no parallax), so "the objects that move" keeps its meaning and the ground-truth flow stays
exact (:func:`camera_poses`).

Output, the DAVIS-style tree of DESIGN.md that every spelke loader, flow tool and method reads::

    <out>/JPEGImages/<seq>/<t:05d>.png        image (t = 0 .. frames-1)
    <out>/Annotations/<seq>/<t:05d>.png       instance ids stable across the clip, 0 = background
    <out>/Depth/<seq>/<t:05d>.png             16-bit depth (spelke.synth.outputs)
    <out>/meta/<seq>.json                     scene metadata, motion, per-frame transforms (written last)
    <out>/AnnotationsMoving/<seq>/<t:05d>.png only the objects that move in the clip (motion segmentation)
    <out>/flows/gt/Flows_gap<k>/<seq>/<t:05d>.flo   exact flow from frame t to t+k, for every gap asked
    <out>/flows/gt/manifest.json
    <out>/ImageSets/train.txt, val.txt        finished clips; the first 10% of indices are validation
    <out>/manifest.json                       config, seed, versions

The flow for any other gap can be computed later from the transforms in ``meta/<seq>.json`` with
:func:`flow_between`.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spelke import __version__
from spelke.data.flow_io import write_flo
from spelke.data.io import read_json, read_label_map, write_image, write_json, write_label_map
from spelke.errors import ConfigError, DataLayoutError, SpelkeError
from spelke.synth.camera import Camera
from spelke.synth.flow import rigid_flow, vector_pass_to_flow
from spelke.synth.generate import (
    GenerateReport,
    ProgressFn,
    check_manifest,
    quiet_stdout,
    sha256,
    shard_indices,
    versions,
    write_shard_manifest,
)
from spelke.synth.scene import SceneConfig, sample_scene, scene_metadata

#: Registered video datasets and the image variant each one renders.
VIDEO_DATASETS = {"moving-clevrtex": "full", "moving-clevr": "clevr"}
SCENARIOS = ("one", "two", "all")


@dataclass
class VideoConfig:
    """What to generate (everything that changes the data; recorded in the manifest).

    Attributes:
        dataset: ``moving-clevrtex`` or ``moving-clevr``.
        num: number of clips over all shards.
        frames: rendered frames per clip (thesis: 5, keyframes 4 to 8).
        size: image size (H, W).
        samples: Cycles samples per pixel.
        denoise: denoise the images.
        seed: dataset seed.
        gaps: flow gaps written to the ``gt`` flow cache (GWM uses 1, -1, 2, -2).
        push_frames: keyframes over which the initial push is animated (thesis: 0 to 3).
        push_distance: (min, max) length of the push in scene units over ``push_frames`` (not in the
            thesis; see docs/fidelity.md).
        bounciness: restitution of every body (thesis: 0.1).
        friction: friction of every body (not in the thesis; Blender's default 0.5).
        ground_displacement: factor on the background's displacement ("slightly reduced" in the thesis).
        val_fraction: the first fraction of clip indices forms the validation split (thesis: 1000 of
            10 000 clips held out).
        num_objects: fix the object count (default uniform 3..10).
        camera_rotation: the camera's largest angular speed in degrees per frame about each of its own
            axes (tilt, pan, roll), drawn per clip uniformly in ``±camera_rotation``; 0 (the thesis): a
            static camera. Not in the thesis; see docs/fidelity.md.
        scene: the scene-sampling numbers.
    """

    dataset: str = "moving-clevrtex"
    num: int = 10
    frames: int = 5
    size: tuple[int, int] = (240, 320)
    samples: int = 32
    denoise: bool = False
    seed: int = 0
    gaps: tuple[int, ...] = (1, -1, 2, -2)
    push_frames: int = 3
    push_distance: tuple[float, float] = (0.5, 1.5)
    bounciness: float = 0.1
    friction: float = 0.5
    ground_displacement: float = 0.5
    val_fraction: float = 0.1
    num_objects: int | None = None
    camera_rotation: float = 0.0
    scene: SceneConfig = field(default_factory=SceneConfig)

    def __post_init__(self) -> None:
        if self.dataset not in VIDEO_DATASETS:
            raise ConfigError(f"unknown video dataset {self.dataset!r}; known: {', '.join(VIDEO_DATASETS)}")
        if self.frames < 2:
            raise ConfigError(f"--frames must be at least 2, got {self.frames}")
        if self.num < 1:
            raise ConfigError(f"--num must be at least 1, got {self.num}")
        bad = [g for g in self.gaps if g == 0 or abs(g) >= self.frames]
        if bad:
            raise ConfigError(
                f"flow gaps must be non-zero and shorter than the clip ({self.frames} frames): {bad}"
            )
        if not (0.0 <= float(self.camera_rotation) <= 10.0):
            raise ConfigError(
                f"--camera-rotation is the camera's largest turn in degrees per frame, from 0 (static) to 10; "
                f"got {self.camera_rotation}"
            )
        self.size = (int(self.size[0]), int(self.size[1]))
        self.gaps = tuple(int(g) for g in self.gaps)
        self.camera_rotation = float(self.camera_rotation)

    @property
    def variant(self) -> str:
        return VIDEO_DATASETS[self.dataset]

    @property
    def first_frame(self) -> int:
        """The first rendered keyframe (thesis: 4, right after the push)."""
        return self.push_frames + 1

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["size"] = list(self.size)
        d["gaps"] = list(self.gaps)
        if not self.camera_rotation:
            del d["camera_rotation"]  # trees written before the option keep their manifests valid
        return d


def sequence_name(index: int) -> str:
    return f"{index:06d}"


def sample_motion(
    num_objects: int, seed: int, index: int, attempt: int, config: VideoConfig
) -> tuple[str, dict[int, tuple[float, float]]]:
    """The motion scenario (uniform over one / two / all objects moving) and the push (dx, dy) of each
    moving object (uniform direction, length ``U(push_distance)``), from its own random stream."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index), int(attempt), 1]))
    scenario = SCENARIOS[int(rng.integers(3))]
    count = {"one": 1, "two": min(2, num_objects), "all": num_objects}[scenario]
    movers = sorted(int(i) for i in rng.choice(num_objects, size=count, replace=False))
    pushes = {}
    for i in movers:
        angle = rng.uniform(0, 2 * math.pi)
        dist = rng.uniform(*config.push_distance)
        pushes[i] = (float(dist * math.cos(angle)), float(dist * math.sin(angle)))
    return scenario, pushes


def sample_camera_motion(seed: int, index: int, attempt: int, config: VideoConfig) -> np.ndarray:
    """The camera's angular velocity (3,) in radians per frame about its own x (tilt), y (pan) and z
    (roll) axes, each uniform in ``±config.camera_rotation`` degrees, from its own random stream (so
    that a static camera leaves every other draw, and hence the data, unchanged)."""
    if not config.camera_rotation:
        return np.zeros(3)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index), int(attempt), 2]))
    return np.radians(rng.uniform(-config.camera_rotation, config.camera_rotation, size=3))


def _rotation(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues' formula: the (3, 3) rotation by ``|rotvec|`` radians about ``rotvec``."""
    theta = float(np.linalg.norm(rotvec))
    if theta < 1e-12:
        return np.eye(3)
    k = np.asarray(rotvec, dtype=np.float64) / theta
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + math.sin(theta) * kx + (1 - math.cos(theta)) * (kx @ kx)


def camera_poses(camera: Camera, omega: np.ndarray, frames: range | list[int]) -> dict[int, Camera]:
    """The camera at each rendered frame ``t`` (0 = the first rendered frame, which keeps the sampled
    pose; negative and later ``t`` allowed) turning about its own centre at the constant angular velocity
    ``omega`` (radians per frame in its own axes): ``R_t = R_0 exp(t [omega]_x)``."""
    return {
        int(t): Camera(
            rotation=camera.rotation @ _rotation(np.asarray(omega) * t),
            location=camera.location,
            lens=camera.lens,
            sensor=camera.sensor,
        )
        for t in frames
    }


def _paths(out: Path, seq: str, t: int) -> dict[str, Path]:
    return {
        "image": out / "JPEGImages" / seq / f"{t:05d}.png",
        "mask": out / "Annotations" / seq / f"{t:05d}.png",
        "depth": out / "Depth" / seq / f"{t:05d}.png",
    }


def flow_path(out: Path, gap: int, seq: str, t: int, backend: str = "gt") -> Path:
    """``flows/<backend>/Flows_gap<k>/<seq>/<t:05d>.flo``: the flow from frame ``t`` to ``t + gap``."""
    return Path(out) / "flows" / backend / f"Flows_gap{gap}" / seq / f"{t:05d}.flo"


def is_finished(out: Path, seq: str) -> bool:
    """A clip is finished when its ``meta/<seq>.json`` (written last) exists and its files are there."""
    meta_path = Path(out) / "meta" / f"{seq}.json"
    if not meta_path.is_file():
        return False
    try:
        meta = read_json(meta_path)
    except Exception:
        return False
    n = meta.get("num_frames", 0)
    gaps = meta.get("flow_gaps", [])
    for t in range(n):
        if not all(p.is_file() for p in _paths(Path(out), seq, t).values()):
            return False
        for g in gaps:
            if 0 <= t + g < n and not flow_path(Path(out), g, seq, t).is_file():
                return False
    return n > 0


def render_clip(renderer: Any, config: VideoConfig, index: int, out: Path, report: GenerateReport) -> None:
    """Simulate and render clip ``index``: frames, instance maps, depth, exact flow and metadata."""
    from spelke.synth.outputs import write_depth

    seq = sequence_name(index)
    first, frames = config.first_frame, config.frames
    last = first + frames - 1
    min_px = config.scene.min_visible_pixels(config.size)
    tmp_dir = out / "JPEGImages" / seq
    tmp_dir.mkdir(parents=True, exist_ok=True)
    for attempt in range(200):
        t0 = time.perf_counter()
        spec = sample_scene(config.variant, index, config.seed, attempt, config.scene, config.num_objects)
        scenario, pushes = sample_motion(len(spec.objects), config.seed, index, attempt, config)
        omega = sample_camera_motion(config.seed, index, attempt, config)
        # one frame either side of the rendered ones: Cycles' vector pass looks at both neighbours
        cams = camera_poses(spec.camera(), omega, range(-1, frames + 1))
        renderer.reset()
        renderer.build(spec, ground_displacement=config.ground_displacement)
        if omega.any():
            renderer.animate_camera({first + t: c.matrix_world() for t, c in cams.items()})
        renderer.setup_physics(
            spec, pushes, last, config.push_frames, bounciness=config.bounciness, friction=config.friction
        )
        with quiet_stdout():
            transforms = renderer.simulate(last)
        report.add_time("scene_build", time.perf_counter() - t0)
        # Every object must be visible in the first rendered frame (as for stills); later frames may
        # hide objects behind others, which is what video methods must cope with.
        results = []
        ok = True
        for f in range(first, last + 1):
            renderer.set_frame(f)
            with quiet_stdout():
                res = renderer.render(tmp_dir / f".{f:05d}.render.png", vector=True, shadow=False)
            for k, v in res.timings.items():
                report.add_time(k, v)
            results.append(res)
            if f == first:
                counts = np.bincount(res.instance.ravel(), minlength=len(spec.objects) + 1)
                if not (counts[1 : len(spec.objects) + 1] >= min_px).all():
                    ok = False
                    break
        if ok:
            break
        report.resampled += 1
        for f in range(first, last + 1):
            (tmp_dir / f".{f:05d}.render.png").unlink(missing_ok=True)
    else:
        raise SpelkeError(
            f"clip {index}: some object stayed hidden in 200 sampled scenes; use a larger --size"
        )

    t0 = time.perf_counter()
    vector_epe = []
    for t, res in enumerate(results):
        p = _paths(out, seq, t)
        write_label_map(p["mask"], res.instance)
        write_depth(p["depth"], res.depth)
        write_image(p["image"], res.image)  # without Blender's render-time text chunks
        (tmp_dir / f".{first + t:05d}.render.png").unlink(missing_ok=True)
        for g in config.gaps:
            if 0 <= t + g < frames:
                flow = rigid_flow(
                    res.depth,
                    res.instance,
                    transforms[first + t],
                    transforms[first + t + g],
                    cams[t],
                    cams[t + g],
                )
                write_flo(flow_path(out, g, seq, t), flow)
                if abs(g) == 1 and res.vector is not None:
                    vector_epe.append(_vector_check(flow, res, g))
    moving_per_frame = _moving(transforms[first : last + 1])
    meta = scene_metadata(spec, config.size, config.scene)
    meta.update(
        {
            "sequence": seq,
            "dataset": config.dataset,
            "num_frames": frames,
            "keyframes": list(range(first, last + 1)),
            "scenario": scenario,
            "pushed_objects": [i + 1 for i in sorted(pushes)],
            "pushes": {str(i + 1): list(v) for i, v in pushes.items()},
            "moving": moving_per_frame,
            "transforms": transforms[first : last + 1, 1:].round(7).tolist(),
            "flow_gaps": list(config.gaps),
            # the camera at every rendered frame when it turns (absent: static, meta["camera"] throughout)
            **(
                {
                    "camera_rotation_deg_per_frame": np.degrees(omega).round(6).tolist(),
                    "camera_frames": [cams[t].matrix_world().round(9).tolist() for t in range(frames)],
                }
                if omega.any()
                else {}
            ),
            "flow_check_vector_pass_epe": float(np.mean(vector_epe)) if vector_epe else None,
            "image_size": list(config.size),
            "generator": {"name": "spelke", "version": __version__},
            # hashed once, when written; the shard manifests collect them from here
            "checksums": {
                str(p.relative_to(out)): sha256(p)
                for t in range(frames)
                for p in _paths(out, seq, t).values()
            },
        }
    )
    write_json(out / "meta" / f"{seq}.json", meta)  # last: marks the clip finished
    report.add_time("write", time.perf_counter() - t0)
    report.rendered.append(index)


def _vector_check(flow: np.ndarray, res: Any, gap: int) -> float:
    """Mean end-point error between our flow and Cycles' vector pass on the interiors of the objects and
    the background (edges mix several surfaces in the filtered vector pass)."""
    import cv2

    fw, bw = vector_pass_to_flow(res.vector)
    ref = fw if gap == 1 else bw
    inst = res.instance.astype(np.float32)
    k = np.ones((3, 3), np.uint8)
    inner = cv2.erode(inst, k) == cv2.dilate(inst, k)  # the 3x3 neighbourhood holds one id
    if not inner.any():
        return 0.0
    return float(np.sqrt(((flow - ref) ** 2).sum(0))[inner].mean())


def _moving(transforms: np.ndarray, eps: float = 1e-4) -> list[list[int]]:
    """Per rendered frame, the ids of objects whose pose changes to the next frame (the last frame
    repeats the previous answer)."""
    out = []
    for t in range(len(transforms) - 1):
        d = np.abs(transforms[t + 1, 1:] - transforms[t, 1:]).reshape(transforms.shape[1] - 1, -1).max(1)
        out.append([int(i) + 1 for i in np.flatnonzero(d > eps)])
    out.append(out[-1] if out else [])
    return out


def clip_cameras(meta: dict[str, Any]) -> list[Camera]:
    """The camera at every frame of a generated clip, from its metadata (one pose throughout when the
    camera stands still)."""
    c = meta["camera"]
    n = int(meta["num_frames"])
    mats = meta.get("camera_frames") or [c["matrix_world"]] * n
    if len(mats) != n:
        raise DataLayoutError(f"meta 'camera_frames' has {len(mats)} poses for a clip of {n} frames")
    return [
        Camera(
            rotation=np.asarray(m, dtype=np.float64)[:3, :3],
            location=np.asarray(m, dtype=np.float64)[:3, 3],
            lens=c["lens_mm"],
            sensor=c["sensor_mm"],
        )
        for m in mats
    ]


def flow_between(root: Path, seq: str, t0: int, t1: int, *, camera: str = "moving") -> np.ndarray:
    """Exact flow (2, H, W) from frame ``t0`` to ``t1`` of a generated clip, for any gap, recomputed
    from the transforms in its metadata and the depth/instance maps of frame ``t0``.

    ``camera="fixed"`` holds the camera at its frame-``t0`` pose: the flow of the objects' own motion,
    without the camera's (the same as ``"moving"`` for a clip whose camera stands still)."""
    if camera not in ("moving", "fixed"):
        raise ConfigError(f"camera must be 'moving' or 'fixed'; got {camera!r}")
    from spelke.synth.outputs import read_depth

    root = Path(root)
    meta_path = root / "meta" / f"{seq}.json"
    if not meta_path.is_file():
        raise DataLayoutError(f"{meta_path} is missing: is {root} a Moving ClevrTex tree written by spelke?")
    meta = read_json(meta_path)
    n = meta["num_frames"]
    if not (0 <= t0 < n and 0 <= t1 < n):
        raise ConfigError(f"clip {seq} has frames 0..{n - 1}; asked for {t0} -> {t1}")
    mats = np.asarray(meta["transforms"], dtype=np.float64)
    eye = np.tile(np.eye(4), (n, 1, 1, 1))
    mats = np.concatenate([eye, mats], axis=1)
    cams = clip_cameras(meta)
    p = _paths(root, seq, t0)
    dst = cams[t0] if camera == "fixed" else cams[t1]
    return rigid_flow(read_depth(p["depth"]), read_label_map(p["mask"]), mats[t0], mats[t1], cams[t0], dst)


def write_splits(out: Path, num: int, val_fraction: float) -> dict[str, list[str]]:
    """ImageSets/train.txt and val.txt listing the finished clips (val: the first fraction of indices)."""
    from spelke.data.io import atomic_write

    n_val = round(num * val_fraction)
    splits: dict[str, list[str]] = {"train": [], "val": []}
    for i in range(num):
        seq = sequence_name(i)
        if is_finished(out, seq):
            splits["val" if i < n_val else "train"].append(seq)
    for name, seqs in splits.items():
        with atomic_write(out / "ImageSets" / f"{name}.txt", "w") as f:
            f.write("".join(s + "\n" for s in seqs))
    return splits


def generate_videos(
    config: VideoConfig,
    out: Path,
    shard: tuple[int, int] = (0, 1),
    *,
    device: str = "cpu",
    threads: int = 0,
    progress: ProgressFn | None = None,
) -> GenerateReport:
    """Render shard ``shard`` of a Moving ClevrTex / Moving CLEVR dataset into ``out`` (module docstring)."""
    from spelke.synth.blender import Renderer, RenderSettings

    t_start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    check_manifest(
        out / "manifest.json",
        {
            "dataset": config.dataset,
            "variant": config.variant,
            "config": config.to_dict(),
            "versions": versions(),
        },
    )
    flow_manifest = out / "flows" / "gt" / "manifest.json"
    if not flow_manifest.is_file():
        write_json(
            flow_manifest,
            {
                "backend": "gt",
                "version": "rigid-transforms-1",
                "options": {},
                "layout": "Flows_gap<k>/<seq>/<source frame>.flo",
                "description": "exact flow from rigid transforms, depth and the camera (spelke.synth.flow)",
                "resolution": list(config.size),
                "gaps": list(config.gaps),
                "spelke_version": __version__,
            },
        )
    report = GenerateReport(out)
    todo = []
    for idx in shard_indices(config.num, shard):
        (report.skipped if is_finished(out, sequence_name(idx)) else todo).append(idx)
    renderer = Renderer(
        RenderSettings(
            size=config.size,
            samples=config.samples,
            denoise=config.denoise,
            device=device,
            threads=threads,
            shadow_samples=0,
        )
    )
    try:
        for n, idx in enumerate(todo, 1):
            render_clip(renderer, config, idx, out, report)
            if progress is not None:
                progress(n, len(todo), f"clip {sequence_name(idx)}")
    finally:
        renderer.close()
    write_splits(out, config.num, config.val_fraction)
    _write_checksums(out, config, shard)
    if todo:  # motion-segmentation ground truth: only the objects that move (idempotent, atomic)
        from spelke.synth.moving_gt import write_moving_annotations

        write_moving_annotations(out)
    report.seconds = time.perf_counter() - t_start
    return report


def _write_checksums(out: Path, config: VideoConfig, shard: tuple[int, int]) -> None:
    entries = {}
    for idx in shard_indices(config.num, shard):
        seq = sequence_name(idx)
        if is_finished(out, seq):
            entries[seq] = read_json(out / "meta" / f"{seq}.json").get("checksums", {})
    write_shard_manifest(out, shard, entries)
