"""``spelke generate``: render the ClevrTex family into the official layout, sharded and resumable.

Output (the official ClevrTex layout, so loaders of the official data read ours and vice versa)::

    <out>/clevrtex_<key>/manifest.json                       config, seed, versions
    <out>/clevrtex_<key>/manifests/shard-<i>-of-<n>.json     checksums of the samples a shard wrote
    <out>/clevrtex_<key>/<idx // 1000>/CLEVRTEX_<key>_<idx:06d>.png              image
    <out>/clevrtex_<key>/<idx // 1000>/CLEVRTEX_<key>_<idx:06d>_flat.png         instance ids, 0 = background
    <out>/clevrtex_<key>/<idx // 1000>/CLEVRTEX_<key>_<idx:06d>_depth_0001.png   (and _normal_, _albedo_,
    <out>/clevrtex_<key>/<idx // 1000>/CLEVRTEX_<key>_<idx:06d>.json             _shadow_) + metadata

Indices are contiguous from 0 whatever the sharding: shard ``i`` of ``n`` renders the ``i``-th contiguous
block, and each sample's random stream comes from ``(seed, index)``. A sample is finished when its JSON
exists (written last, after every image) and names files that exist; a re-run skips finished samples,
so an interrupted run resumes, and every file is written atomically (temp file + rename).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spelke import __version__
from spelke._sharding import shard_range
from spelke.data.io import read_json, write_image, write_json, write_label_map
from spelke.errors import ConfigError, SpelkeError
from spelke.synth.scene import SceneConfig, SceneSpec, sample_scene, scene_metadata
from spelke.synth.variants import get_variant

#: Extra pass files written beside each image, as (metadata field, file suffix). The ``_0001`` frame
#: suffix is the one Blender's compositor gives the official data's pass files.
PASS_FILES = (
    ("depth_filename", "_depth_0001.png"),
    ("normal_filename", "_normal_0001.png"),
    ("albedo_filename", "_albedo_0001.png"),
    ("shadow_filename", "_shadow_0001.png"),
)

#: Give up on a sample after this many resampled scenes (each one hid an object).
MAX_ATTEMPTS = 200


@dataclass
class GenerateConfig:
    """What to generate (everything that changes the data; recorded in the manifest).

    Attributes:
        variant: a registered variant name or key (``full``, ``camo``, ``outd``, ...).
        num: number of samples in the whole dataset (over all shards).
        size: image size (H, W) (official: 240 x 320).
        samples: Cycles samples per pixel.
        denoise: denoise the image with OpenImageDenoise.
        seed: dataset seed; the same seed gives the same scenes.
        shadow_samples: samples of the shadow-free render behind the shadow map (0: no shadow map).
        num_objects: fix the object count (default: the variant's uniform 3..10).
        scene: the scene-sampling numbers the thesis leaves open.
    """

    variant: str = "full"
    num: int = 10
    size: tuple[int, int] = (240, 320)
    samples: int = 32
    denoise: bool = False
    seed: int = 0
    shadow_samples: int = 8
    num_objects: int | None = None
    scene: SceneConfig = field(default_factory=SceneConfig)

    def __post_init__(self) -> None:
        get_variant(self.variant)  # unknown names list the valid ones
        if self.num < 1:
            raise ConfigError(f"--num must be at least 1, got {self.num}")
        self.size = (int(self.size[0]), int(self.size[1]))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["variant"] = get_variant(self.variant).name
        d["size"] = list(self.size)
        return d


@dataclass
class GenerateReport:
    """What a run did: counts, where, and seconds per stage (summed over samples rendered)."""

    root: Path
    rendered: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    resampled: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def add_time(self, stage: str, seconds: float) -> None:
        self.timings[stage] = self.timings.get(stage, 0.0) + seconds


# --------------------------------------------------------------------------------------------- shards
def shard_indices(num: int, shard: tuple[int, int]) -> range:
    """The contiguous block of ``range(num)`` that shard ``(i, n)`` renders (blocks cover it exactly)."""
    return shard_range(num, *shard)


# ---------------------------------------------------------------------------------------------- paths
def dataset_dir(out: Path, key: str) -> Path:
    return Path(out) / f"clevrtex_{key}"


def sample_stem(key: str, index: int) -> str:
    return f"CLEVRTEX_{key}_{index:06d}"


def sample_paths(out: Path, key: str, index: int) -> dict[str, Path]:
    """Every file of sample ``index``: keys ``image``, ``mask``, ``depth``, ``normal``, ``albedo``,
    ``shadow``, ``json``."""
    folder = dataset_dir(out, key) / str(index // 1000)
    stem = sample_stem(key, index)
    paths = {"image": folder / f"{stem}.png", "mask": folder / f"{stem}_flat.png"}
    for fieldname, suffix in PASS_FILES:
        paths[fieldname.removesuffix("_filename")] = folder / f"{stem}{suffix}"
    paths["json"] = folder / f"{stem}.json"
    return paths


def is_finished(paths: dict[str, Path]) -> bool:
    """A sample is finished when its JSON (written last) exists and every file it names exists."""
    if not paths["json"].is_file():
        return False
    try:
        meta = read_json(paths["json"])
    except Exception:
        return False
    folder = paths["json"].parent
    names = [meta.get(k) for k in ("image_filename", "mask_filename", *(f for f, _ in PASS_FILES))]
    return all(n is None or (folder / n).is_file() for n in names) and meta.get("image_filename") is not None


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def versions() -> dict[str, str]:
    """Versions that can change the pixels: spelke, Blender, numpy, Python, platform."""
    out = {"spelke": __version__, "numpy": np.__version__, "python": sys.version.split()[0]}
    out["platform"] = platform.platform()
    with contextlib.suppress(Exception):
        from spelke.synth.blender import blender_version

        out["blender"] = blender_version()
    return out


def check_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest`` at ``path``, or check that the one there has the same config (resuming with
    other settings would mix two datasets in one folder)."""
    manifest = json.loads(json.dumps(manifest))  # tuples -> lists, as they come back from disk
    if path.is_file():
        old = read_json(path)
        if old.get("config") != manifest["config"]:
            diff = sorted(
                k
                for k in set(old.get("config", {})) | set(manifest["config"])
                if old.get("config", {}).get(k) != manifest["config"].get(k)
            )
            raise ConfigError(
                f"{path.parent} was generated with other settings (differences: {', '.join(diff)}); "
                "resume with the same settings or choose a new --out"
            )
        return
    write_json(path, manifest)


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Silence Blender's per-render chatter on file descriptor 1 (C code prints there directly)."""
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # pytest capture or no real stdout
        yield
        return
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


ProgressFn = Callable[[int, int, str], None]


# ------------------------------------------------------------------------------------------ generator
def render_sample(
    renderer: Any, config: GenerateConfig, index: int, out: Path, report: GenerateReport
) -> None:
    """Render sample ``index`` (resampling while an object is hidden) and write all its files."""
    from spelke.synth.outputs import write_albedo, write_depth, write_normal, write_shadow

    var = get_variant(config.variant)
    paths = sample_paths(out, var.key, index)
    min_px = config.scene.min_visible_pixels(config.size)
    tmp_image = paths["image"].with_name(f".{paths['image'].stem}.render.png")
    paths["image"].parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(MAX_ATTEMPTS):
        t = time.perf_counter()
        spec = sample_scene(var, index, config.seed, attempt, config.scene, config.num_objects)
        renderer.reset()
        renderer.build(spec)
        report.add_time("scene_build", time.perf_counter() - t)
        # A one-sample index pass first: most rejected scenes cost a fraction of a full render.
        t = time.perf_counter()
        with quiet_stdout():
            quick = renderer.visible_pixels()
        report.add_time("visibility_check", time.perf_counter() - t)
        if not (quick[1 : len(spec.objects) + 1] >= min_px).all():
            report.resampled += 1
            continue
        with quiet_stdout():
            res = renderer.render(tmp_image, shadow=False)
        for k, v in res.timings.items():
            report.add_time(k, v)
        counts = np.bincount(res.instance.ravel(), minlength=len(spec.objects) + 1)
        if len(counts) > len(spec.objects) + 1 and counts[len(spec.objects) + 1 :].any():
            raise SpelkeError(f"sample {index}: the object-index pass holds ids no object has")
        if (counts[1 : len(spec.objects) + 1] >= min_px).all():
            break
        report.resampled += 1
    else:
        tmp_image.unlink(missing_ok=True)
        raise SpelkeError(
            f"sample {index}: after {MAX_ATTEMPTS} scenes some object was still hidden (fewer than {min_px} "
            "pixels); use a larger --size or lower SceneConfig.min_visible_fraction"
        )
    if config.shadow_samples > 0:
        with quiet_stdout():
            renderer.add_shadow(res)
        report.add_time("shadow_render", res.timings.get("shadow_render", 0.0))

    t = time.perf_counter()
    write_label_map(paths["mask"], res.instance)
    write_depth(paths["depth"], res.depth)
    write_normal(paths["normal"], res.normal)
    write_albedo(paths["albedo"], res.albedo)
    if res.shadow is not None:
        write_shadow(paths["shadow"], res.shadow)
    # Re-encoded without Blender's PNG text chunks (render times), so equal scenes give equal bytes.
    write_image(paths["image"], res.image)
    tmp_image.unlink(missing_ok=True)
    meta = _metadata(spec, config, paths, res.shadow is not None, counts)
    write_json(paths["json"], meta)  # last: its presence marks the sample finished
    report.add_time("write", time.perf_counter() - t)
    report.rendered.append(index)


def _metadata(spec: SceneSpec, config: GenerateConfig, paths, has_shadow: bool, counts) -> dict[str, Any]:
    meta = scene_metadata(spec, config.size, config.scene)
    meta["image_filename"] = paths["image"].name
    meta["mask_filename"] = paths["mask"].name
    for fieldname, _ in PASS_FILES:
        key = fieldname.removesuffix("_filename")
        meta[fieldname] = paths[key].name if (key != "shadow" or has_shadow) else None
    for o in meta["objects"]:
        o["visible_pixels"] = int(counts[o["index"]])
    meta["image_size"] = list(config.size)
    meta["generator"] = {"name": "spelke", "version": __version__}
    meta["checksums"] = {p.name: sha256(p) for k, p in paths.items() if k != "json" and p.is_file()}
    return meta


def generate_images(
    config: GenerateConfig,
    out: Path,
    shard: tuple[int, int] = (0, 1),
    *,
    device: str = "cpu",
    threads: int = 0,
    progress: ProgressFn | None = None,
) -> GenerateReport:
    """Render shard ``shard`` of a ClevrTex-family dataset into ``out`` (see the module docstring).

    Args:
        config: what to generate.
        out: output root (``clevrtex_<key>/`` is created inside).
        shard: ``(i, n)``: render the ``i``-th of ``n`` contiguous blocks of indices.
        device: ``cpu``, ``gpu`` or ``auto`` (rendering only; the pixels do not depend on it beyond
            Monte-Carlo noise).
        threads: CPU threads for Cycles (0: all).
        progress: ``progress(done, total, message)`` called after each sample.
    """
    from spelke.synth.blender import Renderer, RenderSettings

    t0 = time.perf_counter()
    var = get_variant(config.variant)
    root = dataset_dir(out, var.key)
    root.mkdir(parents=True, exist_ok=True)
    check_manifest(
        root / "manifest.json",
        {
            "dataset": "clevrtex",
            "variant": var.name,
            "key": var.key,
            "config": config.to_dict(),
            "versions": versions(),
        },
    )
    report = GenerateReport(root)
    todo = []
    for idx in shard_indices(config.num, shard):
        if is_finished(sample_paths(out, var.key, idx)):
            report.skipped.append(idx)
        else:
            todo.append(idx)
    renderer = Renderer(
        RenderSettings(
            size=config.size,
            samples=config.samples,
            denoise=config.denoise,
            device=device,
            shadow_samples=config.shadow_samples,
            threads=threads,
        )
    )
    try:
        for n, idx in enumerate(todo, 1):
            render_sample(renderer, config, idx, out, report)
            if progress is not None:
                progress(n, len(todo), f"{sample_stem(var.key, idx)}")
    finally:
        renderer.close()
    _write_shard_manifest(out, var.key, config, shard)
    report.seconds = time.perf_counter() - t0
    return report


def write_shard_manifest(
    folder: Path, shard: tuple[int, int], checksums: dict[str, dict[str, str]], **extra: Any
) -> None:
    """``<folder>/manifests/shard-<i>-of-<n>.json``: the checksums of the samples (or clips) a shard
    finished, recorded when they were written, plus the versions that made them."""
    i, n = shard
    write_json(
        Path(folder) / "manifests" / f"shard-{i}-of-{n}.json",
        {
            "shard": [i, n],
            **extra,
            "finished": len(checksums),
            "checksums": checksums,
            "versions": versions(),
        },
    )


def _write_shard_manifest(out: Path, key: str, config: GenerateConfig, shard: tuple[int, int]) -> None:
    entries = {}
    for idx in shard_indices(config.num, shard):
        p = sample_paths(out, key, idx)
        if p["json"].is_file():
            entries[p["json"].stem] = read_json(p["json"]).get("checksums", {})
    block = shard_indices(config.num, shard)
    write_shard_manifest(dataset_dir(out, key), shard, entries, indices=[block.start, block.stop])
